// The one rule for crash recovery, on a real journal: an operation saved at a step that had not
// finished is recovered (and so the daemon loads the install machine at start); finished ones are not.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { Journal } from './journal.js';
import { interruptedOperations, needsRecovery } from './recovery-needed.js';

let dir: string;
let journal: Journal;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-recovery-needed-'));
  journal = new Journal(join(dir, 'journal.db'));
});

afterEach(() => {
  journal.close();
  rmSync(dir, { recursive: true, force: true });
});

it('an empty journal needs no recovery', () => {
  expect(needsRecovery(journal)).toBe(false);
  expect(interruptedOperations(journal)).toEqual([]);
});

it('operations saved at an unfinished step need recovery, oldest first; finished ones do not', () => {
  const install = journal.beginOperation({ operation: 'r1', package: 'app', version: '2.0.0', fromVersion: '1.0.0', kind: 'install', step: 'download' });
  const revert = journal.beginOperation({ operation: 'r2', package: 'tool', version: '1.0.0', fromVersion: '2.0.0', kind: 'rollback', step: 'revert-switch' });
  expect(needsRecovery(journal)).toBe(true);
  expect(interruptedOperations(journal).map((op) => [op.id, op.step])).toEqual([
    [install, 'download'],
    [revert, 'revert-switch'],
  ]);
  journal.saveStep(install, 'done');
  expect(interruptedOperations(journal).map((op) => op.id)).toEqual([revert]);
  journal.saveStep(revert, 'rolled-back');
  expect(needsRecovery(journal)).toBe(false);
  const failed = journal.beginOperation({ operation: 'r3', package: 'svc', version: '1.0.0', fromVersion: null, kind: 'install', step: 'stage' });
  journal.saveStep(failed, 'failed');
  expect(needsRecovery(journal)).toBe(false);
});
