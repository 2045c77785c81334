// The supervisor with stand-in agents (small node scripts, real child processes): restart into a
// new version on SELF_UPDATE_EXIT_CODE, return to the previous version when the new one exits or
// overstays its probation — only if its files still match the manifest the journal kept —, and
// stay out of the way otherwise. Last, a return onto a modified kept version end to end: the
// supervisor, the agent's side (finishReturn over a real install machine and journal), restart.
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/log.js';
import { buildPackage } from '../../shared/package/mod.js';
import type { DmlRecord } from '../../shared/protocol/messages.js';
import { Journal } from '../install/journal.js';
import { InstallMachine, type ProgressReport } from '../install/machine.js';
import { readCurrent, switchCurrent } from '../install/layout.js';
import { readProbation, SELF_UPDATE_EXIT_CODE } from './probation.js';
import { SelfUpdate } from './self-update.js';
import { supervise } from './supervisor.js';

let dir: string;
let stateDir: string;
let installRoot: string;
let runLog: string;

/** A stand-in agent: logs "<name> <FERRY_AGENT_VERSION> <args>" to runLog, then runs `body`. */
function fakeAgent(path: string, name: string, body: string): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(
    path,
    `import { appendFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
appendFileSync(${JSON.stringify(runLog)}, ${JSON.stringify(name)} + ' ' + (process.env.FERRY_AGENT_VERSION || '-') + ' ' + process.env.FERRY_SUPERVISED + ' ' + process.argv.slice(2).join(' ') + '\\n');
const stateDir = ${JSON.stringify(stateDir)};
${body}
`,
  );
  return path;
}

function installedVersion(version: string, body: string): void {
  fakeAgent(join(installRoot, 'ferry-agent', version, 'bin', 'ferry-agent.js'), `v${version}`, body);
}

/** What an agent writes when it has activated `version` (previous: `previous`) and must restart. */
function activates(version: string, previous: string | null): string {
  return `if (!existsSync(stateDir + '/done')) {
  writeFileSync(stateDir + '/done', '');
  writeFileSync(stateDir + '/self-update.json', JSON.stringify({ format: 1, state: 'pending', version: ${JSON.stringify(version)}, previous: ${JSON.stringify(previous)}, operation: 'op-1', report: { operation: 'op-1', state: 'succeeded', package: 'ferry-agent', version: ${JSON.stringify(version)}, step: 'done' }, since: new Date().toISOString() }));
  process.exit(${SELF_UPDATE_EXIT_CODE});
}
process.exit(0);`;
}

/** What the agent's journal keeps for an installed version: its manifest (files with size, mode, hash). */
function keep(version: string): void {
  const vdir = join(installRoot, 'ferry-agent', version);
  const files: { path: string; size: number; mode: number; sha256: string }[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(vdir, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path);
      else {
        const st = statSync(join(vdir, path));
        files.push({ path, size: st.size, mode: st.mode & 0o777, sha256: createHash('sha256').update(readFileSync(join(vdir, path))).digest('hex') });
      }
    }
  };
  walk('');
  const journal = new Journal(join(stateDir, 'journal.db'));
  journal.addVersion('ferry-agent', version, { name: 'ferry-agent', version, files } as never);
  journal.close();
}

/** A stand-in agent version's script modified after it was installed: running it leaves a mark. */
function tamper(version: string): void {
  const script = join(installRoot, 'ferry-agent', version, 'bin', 'ferry-agent.js');
  const [imports, ...rest] = readFileSync(script, 'utf8').split('\n');
  writeFileSync(script, [imports, `writeFileSync(${JSON.stringify(join(dir, 'tampered-ran'))}, '');`, ...rest].join('\n'));
}

function runs(): string[] {
  return existsSync(runLog) ? readFileSync(runLog, 'utf8').trim().split('\n') : [];
}

/**
 * The supervisor over the stand-ins. The probation timeout is long unless a test is about it: a
 * stand-in node process can take seconds to start on a loaded machine, and only the test that
 * checks the timeout may depend on it firing.
 */
function run(packaged: string, timeoutMs = 60_000, log = silentLogger, killGraceMs = 500): Promise<number> {
  return supervise({ stateDir, installRoot, packaged: { node: process.execPath, script: packaged }, runArgs: ['--state-dir', stateDir], timeoutMs, log, killGraceMs });
}

/** A logger that keeps what the supervisor says (its own account of what it started and stopped). */
function recordingLogger(): { log: typeof silentLogger; lines: { msg: string; version?: string }[] } {
  const lines: { msg: string; version?: string }[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string; version?: string }) });
  return { log, lines };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-supervisor-'));
  stateDir = join(dir, 'state');
  installRoot = join(dir, 'apps');
  runLog = join(dir, 'runs.log');
  mkdirSync(stateDir);
  mkdirSync(installRoot);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('supervise', () => {
  it('runs the packaged agent and ends with its exit code when nothing is on probation', async () => {
    const packaged = fakeAgent(join(dir, 'packaged.js'), 'packaged', 'process.exit(3);');
    expect(await run(packaged)).toBe(3);
    expect(runs()).toEqual([`packaged - 1 run --state-dir ${stateDir}`]);
  });

  it('stops for good, without returning to a previous version, once the agent was decommissioned', async () => {
    installedVersion('1.0.0', 'process.exit(0);');
    // 2.0.0 is on probation and gets decommissioned before it confirms: it writes the marker and exits 0.
    installedVersion('2.0.0', `writeFileSync(stateDir + '/decommissioned.json', JSON.stringify({ at: new Date().toISOString() })); process.exit(0);`);
    switchCurrent(installRoot, 'ferry-agent', '2.0.0');
    writeFileSync(join(stateDir, 'self-update.json'), JSON.stringify({ format: 1, state: 'pending', version: '2.0.0', previous: '1.0.0', operation: 'op-1', report: { operation: 'op-1', state: 'succeeded', package: 'ferry-agent', version: '2.0.0', step: 'done' }, since: new Date().toISOString() }));
    expect(await run(join(dir, 'unused.js'))).toBe(0);
    expect(runs()).toEqual([`v2.0.0 2.0.0 1 run --state-dir ${stateDir}`]);
    expect(readCurrent(installRoot, 'ferry-agent')).toBe('2.0.0');
  });

  it('prefers the installed current version', async () => {
    const packaged = fakeAgent(join(dir, 'packaged.js'), 'packaged', 'process.exit(0);');
    installedVersion('1.0.0', 'process.exit(0);');
    switchCurrent(installRoot, 'ferry-agent', '1.0.0');
    expect(await run(packaged)).toBe(0);
    expect(runs()).toEqual([`v1.0.0 1.0.0 1 run --state-dir ${stateDir}`]);
  });

  it('restarts into a new version, which confirms by clearing its probation', async () => {
    installedVersion('1.0.0', `if (!existsSync(stateDir + '/done')) { const { symlinkSync, renameSync } = await import('node:fs'); symlinkSync('2.0.0', ${JSON.stringify(join(installRoot, 'ferry-agent', '.tmp'))}); renameSync(${JSON.stringify(join(installRoot, 'ferry-agent', '.tmp'))}, ${JSON.stringify(join(installRoot, 'ferry-agent', 'current'))}); }\n${activates('2.0.0', '1.0.0')}`);
    installedVersion('2.0.0', "rmSync(stateDir + '/self-update.json'); process.exit(0);");
    switchCurrent(installRoot, 'ferry-agent', '1.0.0');
    const packaged = fakeAgent(join(dir, 'packaged.js'), 'packaged', 'process.exit(9);');
    expect(await run(packaged)).toBe(0);
    expect(runs().map((l) => l.split(' ')[0])).toEqual(['v1.0.0', 'v2.0.0']);
    expect(readCurrent(installRoot, 'ferry-agent')).toBe('2.0.0');
    expect(readProbation(stateDir)).toBeUndefined();
  });

  it('returns to the packaged agent when the first installed version crashes on probation', async () => {
    // The packaged agent "installs" 2.0.0 (current → 2.0.0), which exits before confirming.
    installedVersion('2.0.0', 'process.exit(1);');
    const packaged = fakeAgent(
      join(dir, 'packaged.js'),
      'packaged',
      `const p = existsSync(stateDir + '/self-update.json') ? JSON.parse(readFileSync(stateDir + '/self-update.json', 'utf8')) : undefined;
if (p && p.state === 'rolled-back') { appendFileSync(${JSON.stringify(runLog)}, 'saw ' + p.reason + '\\n'); process.exit(0); }
const { symlinkSync } = await import('node:fs');
symlinkSync('2.0.0', ${JSON.stringify(join(installRoot, 'ferry-agent', 'current'))});
${activates('2.0.0', null)}`,
    );
    expect(await run(packaged)).toBe(0);
    const lines = runs();
    expect(lines.map((l) => l.split(' ')[0])).toEqual(['packaged', 'v2.0.0', 'packaged', 'saw']);
    expect(lines[3]).toBe('saw ferry-agent 2.0.0 exited (1) before reporting back healthy; returned to the packaged agent');
    expect(readCurrent(installRoot, 'ferry-agent')).toBeUndefined();
    expect(readProbation(stateDir)).toMatchObject({ state: 'rolled-back', version: '2.0.0', previous: null });
  });

  it('stops a new version that does not confirm in time and switches current back', async () => {
    installedVersion('1.0.0', `if (existsSync(stateDir + '/done')) process.exit(0);
const { symlinkSync, renameSync } = await import('node:fs');
symlinkSync('2.0.0', ${JSON.stringify(join(installRoot, 'ferry-agent', '.tmp'))});
renameSync(${JSON.stringify(join(installRoot, 'ferry-agent', '.tmp'))}, ${JSON.stringify(join(installRoot, 'ferry-agent', 'current'))});
${activates('2.0.0', '1.0.0')}`);
    installedVersion('2.0.0', 'setInterval(() => undefined, 1000);');
    keep('1.0.0');
    switchCurrent(installRoot, 'ferry-agent', '1.0.0');
    const packaged = fakeAgent(join(dir, 'packaged.js'), 'packaged', 'process.exit(9);');
    const { log, lines } = recordingLogger();
    // The stand-in 2.0.0 ends on SIGTERM, so the SIGKILL after the grace period is never needed;
    // a long grace keeps that timer from firing at all (it signals whichever child runs by then,
    // which under load was already the restarted 1.0.0: reported to the agent's owner).
    expect(await run(packaged, 800, log, 30_000)).toBe(0);
    // What the supervisor did, from its own log: it does not depend on how far 2.0.0 got before
    // it was stopped (on a loaded machine, node may not even have run its first line in 800 ms).
    expect(lines.filter((l) => l.msg === 'starting the agent').map((l) => l.version)).toEqual(['1.0.0', '2.0.0', '1.0.0']);
    expect(lines.map((l) => l.msg)).toContain('the new agent version did not report back healthy in time; stopping it');
    expect(runs().map((l) => l.split(' ')[0]).filter((v) => v !== 'v2.0.0')).toEqual(['v1.0.0', 'v1.0.0']);
    expect(readCurrent(installRoot, 'ferry-agent')).toBe('1.0.0');
    expect(readProbation(stateDir)).toMatchObject({ state: 'rolled-back', version: '2.0.0', previous: '1.0.0', reason: 'ferry-agent 2.0.0 did not report back healthy within 1s; returned to 1.0.0' });
  });

  it('does not return to a previous version whose files were modified: the packaged agent runs instead', async () => {
    installedVersion('1.0.0', 'process.exit(0);');
    keep('1.0.0');
    tamper('1.0.0'); // what `ferry-agent verify` would report as modified
    installedVersion('2.0.0', 'process.exit(1);');
    switchCurrent(installRoot, 'ferry-agent', '2.0.0');
    writeFileSync(join(stateDir, 'self-update.json'), JSON.stringify({ format: 1, state: 'pending', version: '2.0.0', previous: '1.0.0', operation: 'op-1', report: { operation: 'op-1', state: 'succeeded', package: 'ferry-agent', version: '2.0.0', step: 'done' }, since: new Date().toISOString() }));
    const packaged = fakeAgent(join(dir, 'packaged.js'), 'packaged', 'process.exit(0);');
    const { log, lines } = recordingLogger();
    expect(await run(packaged, 60_000, log)).toBe(0);
    expect(runs().map((l) => l.split(' ')[0])).toEqual(['v2.0.0', 'packaged']);
    expect(existsSync(join(dir, 'tampered-ran'))).toBe(false);
    expect(readCurrent(installRoot, 'ferry-agent')).toBeUndefined();
    expect(readProbation(stateDir)).toMatchObject({
      state: 'rolled-back',
      version: '2.0.0',
      previous: '1.0.0',
      reason: 'ferry-agent 2.0.0 exited (1) before reporting back healthy; not returned to 1.0.0 (ferry-agent 1.0.0 kept on this host does not match its manifest (modified bin/ferry-agent.js)); returned to the packaged agent',
    });
    expect(lines.map((l) => l.msg)).toContain('not returning to ferry-agent 1.0.0: ferry-agent 1.0.0 kept on this host does not match its manifest (modified bin/ferry-agent.js); running the packaged agent');
  });

  it('does not return to a previous version the journal has no manifest for', async () => {
    installedVersion('1.0.0', 'process.exit(0);');
    installedVersion('2.0.0', 'process.exit(1);');
    switchCurrent(installRoot, 'ferry-agent', '2.0.0');
    writeFileSync(join(stateDir, 'self-update.json'), JSON.stringify({ format: 1, state: 'pending', version: '2.0.0', previous: '1.0.0', operation: 'op-1', report: { operation: 'op-1', state: 'succeeded', package: 'ferry-agent', version: '2.0.0', step: 'done' }, since: new Date().toISOString() }));
    const packaged = fakeAgent(join(dir, 'packaged.js'), 'packaged', 'process.exit(0);');
    expect(await run(packaged)).toBe(0);
    expect(runs().map((l) => l.split(' ')[0])).toEqual(['v2.0.0', 'packaged']);
    expect(readProbation(stateDir)?.reason).toContain('not returned to 1.0.0 (ferry-agent 1.0.0 has no manifest in the journal to check it against)');
  });

  it('finishes a return it was stopped in the middle of: current already switched back, probation still pending', async () => {
    // What a supervisor SIGKILLed between switching `current` back and writing the probation leaves.
    installedVersion('1.0.0', 'process.exit(0);');
    keep('1.0.0');
    installedVersion('2.0.0', 'process.exit(0);');
    switchCurrent(installRoot, 'ferry-agent', '1.0.0');
    writeFileSync(join(stateDir, 'self-update.json'), JSON.stringify({ format: 1, state: 'pending', version: '2.0.0', previous: '1.0.0', operation: 'op-1', report: { operation: 'op-1', state: 'succeeded', package: 'ferry-agent', version: '2.0.0', step: 'done' }, since: new Date().toISOString() }));
    const packaged = fakeAgent(join(dir, 'packaged.js'), 'packaged', 'process.exit(9);');
    const { log, lines } = recordingLogger();
    expect(await run(packaged, 60_000, log)).toBe(0);
    // 1.0.0 is started once, not on probation in 2.0.0's place.
    expect(lines.filter((l) => l.msg === 'starting the agent').map((l) => l.version)).toEqual(['1.0.0']);
    expect(runs().map((l) => l.split(' ')[0])).toEqual(['v1.0.0']);
    expect(readCurrent(installRoot, 'ferry-agent')).toBe('1.0.0');
    expect(readProbation(stateDir)).toMatchObject({ state: 'rolled-back', version: '2.0.0', previous: '1.0.0', reason: 'ferry-agent 2.0.0 did not confirm before the supervisor stopped while returning from it; returned to 1.0.0' });
  });

  it('never starts the version that failed its probation again while the return is not finished', async () => {
    // A return left `current` on 2.0.0 (the agent could not complete it, or was killed in between).
    installedVersion('1.0.0', 'process.exit(0);');
    keep('1.0.0');
    installedVersion('2.0.0', 'process.exit(0);');
    switchCurrent(installRoot, 'ferry-agent', '2.0.0');
    const reason = 'ferry-agent 2.0.0 did not report back healthy within 60s; returned to 1.0.0';
    writeFileSync(join(stateDir, 'self-update.json'), JSON.stringify({ format: 1, state: 'rolled-back', version: '2.0.0', previous: '1.0.0', operation: 'op-1', report: { operation: 'op-1', state: 'succeeded', package: 'ferry-agent', version: '2.0.0', step: 'done' }, since: new Date().toISOString(), reason }));
    const packaged = fakeAgent(join(dir, 'packaged.js'), 'packaged', 'process.exit(9);');
    expect(await run(packaged)).toBe(0);
    expect(runs().map((l) => l.split(' ')[0])).toEqual(['v1.0.0']);
    expect(readCurrent(installRoot, 'ferry-agent')).toBe('1.0.0');
    expect(readProbation(stateDir)).toMatchObject({ state: 'rolled-back', version: '2.0.0', reason });
  });
});

describe('a self-update return onto a modified kept version (supervisor, then the agent, then a restart)', () => {
  /** A ferry-agent package whose bin/ferry-agent.js is a stand-in agent running `body`. */
  async function agentPackage(version: string, body: string): Promise<{ file: string; record: DmlRecord }> {
    const src = join(dir, `src-${version}`);
    fakeAgent(join(src, 'bin', 'ferry-agent.js'), `v${version}`, body);
    writeFileSync(join(src, 'ferry.json'), JSON.stringify({ name: 'ferry-agent', version }));
    const r = await buildPackage(src, join(dir, `ferry-agent-${version}.ferry`));
    return { file: r.file, record: { name: 'ferry-agent', version, sha256: r.sha256, size: r.size, object: `ferry-agent@${version}`, signedAt: new Date().toISOString() } };
  }

  it('runs neither the modified 1.0.0 nor, ever again, the 1.1.0 that never confirmed', async () => {
    const built = new Map<string, string>();
    let dmlUp = true;
    const reports: ProgressReport[] = [];
    const journal = new Journal(join(stateDir, 'journal.db'));
    const deps = {
      installRoot,
      downloadDir: join(stateDir, 'staging'),
      fetch: async (record, dest) => {
        if (!dmlUp) throw new Error('DML unreachable');
        cpSync(built.get(record.version)!, dest);
      },
      report: (r) => reports.push(r),
      log: silentLogger,
      keepVersions: 3,
      host: { os: process.platform, arch: process.arch },
    };
    const machine = new InstallMachine({ ...deps, journal });
    const v1 = await agentPackage('1.0.0', 'process.exit(0);');
    const v11 = await agentPackage('1.1.0', 'setInterval(() => undefined, 1000);'); // never confirms
    built.set('1.0.0', v1.file);
    built.set('1.1.0', v11.file);
    expect(await machine.install({ operation: 'r-1', record: v1.record, allowDowngrade: false })).toBe('done');
    expect(await machine.install({ operation: 'r-2', record: v11.record, allowDowngrade: false })).toBe('done');
    // What the agent that installed 1.1.0 leaves for the supervisor (SelfUpdate.begin).
    writeFileSync(join(stateDir, 'self-update.json'), JSON.stringify({ format: 1, state: 'pending', version: '1.1.0', previous: '1.0.0', operation: 'r-2', report: { operation: 'r-2', state: 'succeeded', package: 'ferry-agent', version: '1.1.0', step: 'done' }, since: new Date().toISOString() }));
    journal.close();
    tamper('1.0.0');
    dmlUp = false; // 1.0.0 cannot be fetched again either

    // The packaged stand-in exits once it has seen the return (the real one runs finishReturn, below).
    const packaged = fakeAgent(join(dir, 'packaged.js'), 'packaged', 'process.exit(0);');
    expect(await run(packaged, 800, silentLogger, 30_000)).toBe(0);
    expect(existsSync(join(dir, 'tampered-ran'))).toBe(false);
    expect(readCurrent(installRoot, 'ferry-agent')).toBeUndefined();
    expect(readProbation(stateDir)).toMatchObject({ state: 'rolled-back', version: '1.1.0', previous: '1.0.0' });

    // The agent's side at its start: the journal still names 1.1.0; its revert to 1.0.0 finds the
    // modification and cannot fetch 1.0.0 again. It must not end on 1.1.0.
    const journal2 = new Journal(join(stateDir, 'journal.db'));
    const machine2 = new InstallMachine({ ...deps, journal: journal2 });
    const self = new SelfUpdate({ stateDir, journal: journal2, log: silentLogger, supervised: true, installRoot });
    await self.finishReturn(async () => machine2);
    expect(reports.at(-1)).toMatchObject({ operation: 'r-2', state: 'failed', package: 'ferry-agent', step: 'rollback' });
    expect(reports.at(-1)?.error).toMatch(/FERRY_KEPT_VERSION_MODIFIED: ferry-agent@1\.0\.0 kept on this host does not match its manifest \(modified bin\/ferry-agent\.js\); fetching it again from the DML failed/);
    expect(readCurrent(installRoot, 'ferry-agent')).toBeUndefined();
    expect(journal2.installedOne('ferry-agent')).toBeUndefined();
    expect(readProbation(stateDir)).toBeUndefined();
    journal2.close();

    // The next start: the packaged agent, not 1.1.0 (nor the modified 1.0.0).
    rmSync(runLog, { force: true });
    const next = fakeAgent(join(dir, 'packaged-next.js'), 'packaged', 'process.exit(3);');
    expect(await run(next)).toBe(3);
    expect(runs().map((l) => l.split(' ')[0])).toEqual(['packaged']);
    expect(existsSync(join(dir, 'tampered-ran'))).toBe(false);
  });
});
