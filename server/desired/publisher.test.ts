import { describe, expect, it } from 'vitest';
import { nextGeneration } from './publisher.js';

describe('nextGeneration', () => {
  it('is above the last one, even within one millisecond', () => {
    const now = 1_800_000_000_000;
    expect(nextGeneration(undefined, now)).toBe(now);
    expect(nextGeneration(now, now)).toBe(now + 1);
    expect(nextGeneration(now + 5, now)).toBe(now + 6);
  });

  it('a server restored from an older backup still numbers above what agents applied since', () => {
    const backupTakenAt = 1_800_000_000_000;
    const lastInBackup = nextGeneration(undefined, backupTakenAt);
    // after the backup, the old server went on: an agent applied a later generation
    const appliedByAgent = nextGeneration(nextGeneration(lastInBackup, backupTakenAt + 60_000), backupTakenAt + 120_000);
    // the restored server (its last generation is the backup's) issues its first one later still
    expect(nextGeneration(lastInBackup, backupTakenAt + 3_600_000)).toBeGreaterThan(appliedByAgent);
    // generations of servers from before this rule (1, 2, 3 …) are left behind at once
    expect(nextGeneration(3, backupTakenAt)).toBeGreaterThan(3);
  });
});
