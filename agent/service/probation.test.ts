import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readProbation, writeProbation, type Probation } from './probation.js';

describe('the probation file', () => {
  it('keeps the held report whole: its hook output and the other packages it changed reach the server after the restart', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-probation-'));
    const p: Probation = {
      format: 1,
      state: 'pending',
      version: '2.0.0',
      previous: '1.0.0',
      operation: 'r-1',
      report: {
        operation: 'r-1',
        state: 'succeeded',
        package: 'ferry-agent',
        version: '2.0.0',
        previousVersion: '1.0.0',
        step: 'done',
        output: 'post-install: ok\nrestarting\n',
        changed: [{ package: 'helper', version: '1.1.0', previousVersion: '1.0.0', step: 'done' }],
      },
      since: new Date(0).toISOString(),
    };
    writeProbation(dir, p);
    expect(readProbation(dir)).toEqual(p);
  });
});
