// Reverts (a package switched back to the version kept on disk) on a real journal, real .ferry
// packages and a real install root (no NATS): the steps they save, what a crash at each of them
// leaves after recovery, and that a kept version whose files were modified is never activated.
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/log.js';
import { buildPackage } from '../../shared/package/mod.js';
import type { DmlRecord } from '../../shared/protocol/messages.js';
import { Journal } from './journal.js';
import { readCurrent } from './layout.js';
import { InstallMachine, type ProgressReport } from './machine.js';
import type { InstallStep } from './states.js';

let dir: string;
let journal: Journal;
let reports: ProgressReport[];
let steps: InstallStep[];
/** package files by version, and whether the "DML" answers */
const built = new Map<string, string>();
let dmlUp: boolean;
const root = () => join(dir, 'apps');
const records = new Map<string, DmlRecord>();

function machine(beforeStep?: (step: InstallStep) => Promise<void>): InstallMachine {
  return new InstallMachine({
    journal,
    installRoot: root(),
    downloadDir: join(dir, 'staging'),
    fetch: async (record, dest) => {
      if (!dmlUp) throw new Error('DML unreachable');
      copyFileSync(built.get(record.version)!, dest);
    },
    report: (r) => reports.push(r),
    log: silentLogger,
    keepVersions: 3,
    host: { os: process.platform, arch: process.arch },
    beforeStep: async (s) => {
      steps.push(s);
      await beforeStep?.(s);
    },
  });
}

async function buildWeb(version: string): Promise<void> {
  const src = join(dir, `src-${version}`);
  mkdirSync(join(src, 'hooks'), { recursive: true });
  writeFileSync(join(src, 'ferry.json'), JSON.stringify({ name: 'web', version, hooks: { rollback: 'hooks/rollback' }, hookTimeoutSeconds: 10 }));
  writeFileSync(join(src, 'index.html'), `web ${version}\n`);
  writeFileSync(join(src, 'hooks', 'rollback'), '#!/bin/sh\necho "$FERRY_HOOK $FERRY_VERSION -> $FERRY_PREVIOUS_VERSION" >> "$FERRY_ROOT/hooks.log"\n');
  chmodSync(join(src, 'hooks', 'rollback'), 0o755);
  const r = await buildPackage(src, join(dir, `web-${version}.ferry`));
  built.set(version, r.file);
  records.set(version, { name: 'web', version, sha256: r.sha256, size: r.size, object: `web@${version}`, signedAt: new Date().toISOString() });
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-revert-'));
  journal = new Journal(join(dir, 'journal.db'));
  reports = [];
  steps = [];
  dmlUp = true;
  await buildWeb('1.0.0');
  await buildWeb('2.0.0');
  const m = machine();
  expect(await m.install({ operation: 'r-1', record: records.get('1.0.0')!, allowDowngrade: false })).toBe('done');
  expect(await m.install({ operation: 'r-2', record: records.get('2.0.0')!, allowDowngrade: false })).toBe('done');
  expect(readCurrent(root(), 'web')).toBe('2.0.0');
  reports = [];
  steps = [];
});

afterEach(() => {
  journal.close();
  rmSync(dir, { recursive: true, force: true });
});

const hooksRun = () => (existsSync(join(root(), 'hooks.log')) ? readFileSync(join(root(), 'hooks.log'), 'utf8').trim().split('\n') : []);
const REVERT = ['revert-verify', 'revert-switch', 'revert-hook', 'revert-commit'] as const;

describe('InstallMachine.revertPackage', () => {
  it('walks the revert steps: verify, switch, the leaving version’s rollback hook, commit', async () => {
    const r = await machine().revertPackage('local-1', 'web');
    expect(r.outcome).toBe('rolled-back');
    expect(steps).toEqual([...REVERT]);
    expect(readCurrent(root(), 'web')).toBe('1.0.0');
    expect(journal.installedOne('web')).toMatchObject({ version: '1.0.0', previousVersion: null });
    expect(hooksRun()).toEqual(['rollback 2.0.0 -> 1.0.0']);
    expect(r.report).toMatchObject({ operation: 'local-1', state: 'rolled-back', package: 'web', version: '1.0.0', previousVersion: '2.0.0', step: 'rollback' });
    expect(reports).toEqual([r.report]);
    expect(journal.recentOperations(1)[0]).toMatchObject({ kind: 'rollback', version: '1.0.0', fromVersion: '2.0.0', step: 'rolled-back' });
  });

  // The agent "dies" right after a step was saved: that machine never runs again (its beforeStep
  // never returns); a new one on the same journal recovers, as a restarted agent does.
  it.each(REVERT)('interrupted after saving %s → recovered onto the version it was going to, reported rolled-back', async (at) => {
    void machine((s) => (s === at ? new Promise<void>(() => undefined) : Promise.resolve())).revertPackage('soak-1', 'web', { reason: 'health check failed during soak' });
    await waitUntil(() => steps.includes(at));
    expect(journal.unfinishedOperations()[0]).toMatchObject({ kind: 'rollback', step: at });
    reports = [];
    const results = await machine().recover();
    expect(results.map((x) => x.outcome)).toEqual(['rolled-back']);
    expect(readCurrent(root(), 'web')).toBe('1.0.0');
    expect(journal.installedOne('web')?.version).toBe('1.0.0');
    expect(reports.at(-1)).toMatchObject({ operation: 'soak-1', state: 'rolled-back', version: '1.0.0', error: expect.stringContaining('health check failed during soak') });
    expect(journal.unfinishedOperations()).toEqual([]);
  });

  // What an agent before this change saved for a rollback: kind 'rollback' at step 'rollback',
  // version = the target. Its recovery used to switch to fromVersion — the version it was leaving.
  it('a rollback saved in the old form (step "rollback") is resumed towards its target, not reversed', async () => {
    const op = journal.beginOperation({ operation: 'local-old', package: 'web', version: '1.0.0', fromVersion: '2.0.0', kind: 'rollback', step: 'rollback' });
    expect(op).toBeGreaterThan(0);
    await machine().recover();
    expect(readCurrent(root(), 'web')).toBe('1.0.0');
    expect(journal.installedOne('web')?.version).toBe('1.0.0');
    expect(reports.at(-1)).toMatchObject({ state: 'rolled-back', version: '1.0.0' });
  });

  it('a kept version with a modified file is fetched again, verified, then activated', async () => {
    writeFileSync(join(root(), 'web', '1.0.0', 'index.html'), 'defaced\n');
    const r = await machine().revertPackage('local-2', 'web');
    expect(r.outcome).toBe('rolled-back');
    expect(steps).toEqual(['revert-verify', 'revert-fetch', 'revert-switch', 'revert-hook', 'revert-commit']);
    expect(readFileSync(join(root(), 'web', 'current', 'index.html'), 'utf8')).toBe('web 1.0.0\n');
  });

  it('a kept version with a modified file that cannot be fetched again is never activated', async () => {
    writeFileSync(join(root(), 'web', '1.0.0', 'index.html'), 'defaced\n');
    dmlUp = false;
    const r = await machine().revertPackage('local-3', 'web');
    expect(r.outcome).toBe('failed');
    expect(r.report.error).toMatch(/^FERRY_KEPT_VERSION_MODIFIED: web@1\.0\.0 kept on this host does not match its manifest \(modified index\.html\); fetching it again from the DML failed: .*DML unreachable.*; not activating it/);
    expect(readCurrent(root(), 'web')).toBe('2.0.0');
    expect(journal.installedOne('web')?.version).toBe('2.0.0');
    expect(hooksRun()).toEqual([]);
  });

  it('a reinstall of a kept version whose files were modified downloads it again', async () => {
    await machine().revertPackage('local-4', 'web'); // now on 1.0.0, 2.0.0 kept
    writeFileSync(join(root(), 'web', '2.0.0', 'index.html'), 'defaced\n');
    steps = [];
    expect(await machine().install({ operation: 'r-3', record: records.get('2.0.0')!, allowDowngrade: false })).toBe('done');
    expect(readFileSync(join(root(), 'web', 'current', 'index.html'), 'utf8')).toBe('web 2.0.0\n');
  });

  it('with no previous version kept it refuses, unless asked to unlink (soak, release undo)', async () => {
    await machine().revertPackage('local-5', 'web'); // on 1.0.0, no previous version now
    await expect(machine().revertPackage('local-6', 'web')).rejects.toThrow(/no previous version kept/);
    const r = await machine().revertPackage('soak-2', 'web', { reason: 'unhealthy', unlinkIfNoneKept: true });
    expect(r.outcome).toBe('rolled-back');
    expect(readCurrent(root(), 'web')).toBeUndefined();
    expect(journal.installedOne('web')).toBeUndefined();
  });
});

async function waitUntil(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
}
