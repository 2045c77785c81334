// The removal path of the install machine on a real journal and install root (no NATS): the
// chain of steps saved, what is left on disk, and the final report, for success and both hooks
// failing.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/log.js';
import type { Manifest } from '../../shared/package/mod.js';
import { Journal } from './journal.js';
import { readCurrent, switchCurrent } from './layout.js';
import { InstallMachine, type ProgressReport } from './machine.js';
import type { InstallStep } from './states.js';

let dir: string;
let journal: Journal;
let reports: ProgressReport[];
let steps: InstallStep[];
let machine: InstallMachine;
const root = () => join(dir, 'apps');

/** Put web@1.0.0 on disk and in the journal, as a committed install leaves it. */
function installWeb(hooks: { preremove?: string; postremove?: string }): void {
  const vdir = join(root(), 'web', '1.0.0');
  mkdirSync(join(vdir, 'hooks'), { recursive: true });
  writeFileSync(join(vdir, 'VERSION'), 'web 1.0.0\n');
  const manifestHooks: Record<string, string> = {};
  for (const [name, body] of Object.entries(hooks)) {
    writeFileSync(join(vdir, 'hooks', name), `#!/bin/sh\necho "$FERRY_HOOK $FERRY_VERSION" >> "$FERRY_ROOT/hooks.log"\n${body}\n`);
    chmodSync(join(vdir, 'hooks', name), 0o755);
    manifestHooks[name] = `hooks/${name}`;
  }
  switchCurrent(root(), 'web', '1.0.0');
  const manifest = { formatVersion: 1, name: 'web', version: '1.0.0', hooks: manifestHooks, hookTimeoutSeconds: 10, files: [], createdAt: new Date().toISOString() } as unknown as Manifest;
  journal.addVersion('web', '1.0.0', manifest);
  journal.setInstalled('web', '1.0.0', null, manifest);
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-remove-'));
  journal = new Journal(join(dir, 'journal.db'));
  reports = [];
  steps = [];
  machine = new InstallMachine({
    journal,
    installRoot: root(),
    downloadDir: join(dir, 'staging'),
    fetch: () => Promise.reject(new Error('no downloads here')),
    report: (r) => reports.push(r),
    log: silentLogger,
    keepVersions: 3,
    host: { os: process.platform, arch: process.arch },
    beforeStep: async (s) => void steps.push(s),
  });
});

afterEach(() => {
  journal.close();
  rmSync(dir, { recursive: true, force: true });
});

const hooksRun = () => (existsSync(join(root(), 'hooks.log')) ? readFileSync(join(root(), 'hooks.log'), 'utf8').trim().split('\n') : []);

describe('InstallMachine.remove', () => {
  it('runs preremove, unlinks current, runs postremove (its directory still there), then erases the package', async () => {
    installWeb({ preremove: 'exit 0', postremove: '[ -e "$FERRY_ROOT/web/current" ] && exit 9; [ -f VERSION ] || exit 8' });
    expect(await machine.remove('op-1', 'web')).toBe('done');
    expect(steps).toEqual(['preremove', 'deactivate', 'postremove', 'erase']);
    expect(hooksRun()).toEqual(['preremove 1.0.0', 'postremove 1.0.0']);
    expect(existsSync(join(root(), 'web'))).toBe(false);
    expect(journal.installedOne('web')).toBeUndefined();
    expect(journal.versions('web')).toEqual([]);
    expect(reports.at(-1)).toMatchObject({ operation: 'op-1', state: 'succeeded', package: 'web', version: '1.0.0', step: 'remove' });
    expect(journal.recentOperations(1)[0]).toMatchObject({ kind: 'remove', step: 'done' });
  });

  it('a failing preremove changes nothing and reports the hook output', async () => {
    installWeb({ preremove: 'echo "still serving traffic"; exit 2', postremove: 'exit 0' });
    expect(await machine.remove('op-2', 'web')).toBe('failed');
    expect(steps).toEqual(['preremove']);
    expect(readCurrent(root(), 'web')).toBe('1.0.0');
    expect(journal.installedOne('web')?.version).toBe('1.0.0');
    expect(reports.at(-1)).toMatchObject({ state: 'failed', step: 'remove', error: 'preremove hook failed (exit 2): still serving traffic' });
    expect(reports.at(-1)!.output).toContain('still serving traffic');
  });

  it('a failing postremove links the kept version back and reports rolled-back', async () => {
    installWeb({ preremove: 'exit 0', postremove: 'echo "cannot clean up"; exit 5' });
    expect(await machine.remove('op-3', 'web')).toBe('rolled-back');
    expect(steps).toEqual(['preremove', 'deactivate', 'postremove', 'restore']); // restore runs no hook
    expect(hooksRun()).toEqual(['preremove 1.0.0', 'postremove 1.0.0']);
    expect(readCurrent(root(), 'web')).toBe('1.0.0');
    expect(readFileSync(join(root(), 'web', 'current', 'VERSION'), 'utf8')).toBe('web 1.0.0\n');
    expect(journal.installedOne('web')?.version).toBe('1.0.0');
    expect(reports.at(-1)).toMatchObject({ state: 'rolled-back', step: 'remove', error: 'postremove hook failed (exit 5): cannot clean up' });
    expect(journal.recentOperations(1)[0]).toMatchObject({ kind: 'remove', step: 'rolled-back' });
  });

  it('refuses to remove a package another installed package depends on, and runs no hook', async () => {
    installWeb({ preremove: 'exit 0', postremove: 'exit 0' });
    const app = { formatVersion: 1, name: 'app', version: '2.0.0', depends: { web: '^1.0.0' }, files: [], createdAt: new Date().toISOString() } as unknown as Manifest;
    journal.setInstalled('app', '2.0.0', null, app);
    expect(await machine.remove('op-5', 'web')).toBe('failed');
    expect(steps).toEqual([]);
    expect(hooksRun()).toEqual([]);
    expect(readCurrent(root(), 'web')).toBe('1.0.0');
    expect(journal.installedOne('web')?.version).toBe('1.0.0');
    expect(reports.at(-1)).toMatchObject({ state: 'failed', error: expect.stringMatching(/web is needed by app@2\.0\.0 \(depends on web \^1\.0\.0\); remove those first/) });
    // Once the dependent is gone, the removal goes ahead.
    journal.removeInstalled('app');
    expect(await machine.remove('op-6', 'web')).toBe('done');
  });

  it('recovers a removal interrupted after deactivate by linking the version back', async () => {
    installWeb({ postremove: 'exit 0' });
    const op = journal.beginOperation({ operation: 'op-4', package: 'web', version: '1.0.0', fromVersion: '1.0.0', kind: 'remove', step: 'preremove' });
    journal.saveStep(op, 'postremove'); // as if the agent died during postremove
    rmSync(join(root(), 'web', 'current'));
    await machine.recover();
    expect(readCurrent(root(), 'web')).toBe('1.0.0');
    expect(reports.at(-1)).toMatchObject({ operation: 'op-4', state: 'rolled-back', step: 'remove' });
    expect(journal.unfinishedOperations()).toEqual([]);
  });
});
