// Ferry ships Ferry, end to end: a real server and a real agent started through its supervisor
// (`ferry-agent supervise`, as the systemd unit runs it). Two agent packages are built from the
// compiled dist/ with the packaging code: 1.0.0 works; 1.1.0 passes its install health check but its
// `run` never connects. Rolling out 1.0.0 restarts the agent into it; rolling out 1.1.0 ends with
// the supervisor returning to 1.0.0 by itself and the rollout host failed, the journal agreeing.
// Last, 1.0.0 kept on the host is modified and 1.1.0 shipped again: the supervisor does not run the
// modified 1.0.0 but the packaged agent, and the host never ends on 1.1.0.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stageBundle } from '../../packaging/bundle.js';
import { buildAgentFerryPackage } from '../../packaging/ferry-package.js';
import { FAST_ENV, REPO_ROOT, cleanupFleet, initServer, isOnlineSince, joinAgent, listAgents, pollAgents, runAgentCli, runFerry, tempDir, waitFor, type JoinedAgent, type ServerHandle } from '../helpers/fleet.js';
import { agentStatus, readCurrent, startRollout, waitRolloutEnd } from '../helpers/faults.js';

// How long the supervisor gives a new version to confirm: a real agent starting beside a busy
// suite must make it. The broken 1.1.0 never does, and each test that ships it waits this long:
// from then on the supervisor runs with BROKEN_TIMEOUT_MS.
const TIMEOUT_MS = 15_000;
const BROKEN_TIMEOUT_MS = 4000;
let server: ServerHandle;
let agent: JoinedAgent;
let supervisor: ChildProcess;
let supervisorLog = '';
let good: string;
let broken: string;

/** The agent the supervisor runs now: the script in its command line (from runtime.json's pid). */
function runningAgentScript(): string | undefined {
  const file = join(agent.stateDir, 'runtime.json');
  if (!existsSync(file)) return undefined;
  try {
    const { pid } = JSON.parse(readFileSync(file, 'utf8')) as { pid: number };
    // node [the agent's V8 flags] <script> run …
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return args[args.indexOf('run') - 1];
  } catch {
    return undefined;
  }
}

async function buildAgentPackages(): Promise<void> {
  const out = tempDir('ferry-selfupdate-pkgs-');
  const goodBundle = stageBundle('agent', join(out, 'good'), '1.0.0', REPO_ROOT);
  good = await buildAgentFerryPackage(goodBundle, out);
  const bad = { ...goodBundle, dir: join(out, 'broken'), version: '1.1.0' };
  cpSync(goodBundle.dir, bad.dir, { recursive: true });
  const pkgJson = join(bad.dir, 'package.json');
  writeFileSync(pkgJson, readFileSync(pkgJson, 'utf8').replace('"version": "1.0.0"', '"version": "1.1.0"'));
  // Loads fine (the install's health check runs --help) but never connects when it runs.
  writeFileSync(
    join(bad.dir, 'bin', 'ferry-agent.js'),
    "#!/usr/bin/env node\nif (process.argv.includes('run')) { setInterval(() => undefined, 1000); } else { const { main } = await import('../dist/agent/cli/main.js'); await main(process.argv); }\n",
  );
  broken = await buildAgentFerryPackage(bad, out);
}

async function rollOut(file: string, version: string): Promise<{ state: string; hosts: { agent: string; state: string; error?: string }[] }> {
  await runFerry(server.home, ['dml', 'add', file, '--json']);
  await runFerry(server.home, ['release', 'create', `agent-${version}`, '--package', `ferry-agent@${version}`, '--json']);
  const id = await startRollout(server.home, `agent-${version}`, `id=${agent.id}`, ['--strategy', 'phased', '--waves', '100%']);
  return waitRolloutEnd(server.home, id, 60_000);
}

/** `ferry-agent supervise` (as the systemd unit runs it), until its agent is online again. */
async function startSupervisor(timeoutMs: number): Promise<void> {
  const since = Date.now();
  supervisor = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'ferry-agent.js'), 'supervise', '--state-dir', agent.stateDir], {
    env: { ...process.env, ...FAST_ENV, FERRY_HOSTNAME: agent.hostname, FERRY_SELF_UPDATE_TIMEOUT_MS: String(timeoutMs) },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  supervisor.stdout!.on('data', (d: Buffer) => (supervisorLog += d.toString()));
  supervisor.stderr!.on('data', (d: Buffer) => (supervisorLog += d.toString()));
  // (Its agent process runs, and the server heard from it since: not the last heartbeat of the one before.)
  await waitFor(async () => runningAgentScript() !== undefined && isOnlineSince(await pollAgents(server.home), agent.id, since), 30_000, { message: () => `agent did not come online:\n${supervisorLog}` });
}

async function stopSupervisor(): Promise<void> {
  if (supervisor?.pid && supervisor.exitCode === null) {
    const exited = new Promise((r) => supervisor.once('exit', r));
    supervisor.kill('SIGTERM');
    const t = setTimeout(() => process.kill(-supervisor.pid!, 'SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  }
  if (supervisor?.pid) {
    try {
      process.kill(-supervisor.pid, 'SIGKILL'); // anything left in its group (a hung agent)
    } catch {
      // none
    }
  }
}

beforeAll(async () => {
  [server] = await Promise.all([initServer(), buildAgentPackages()]);
  agent = await joinAgent(server.home, 'self-update-1');
  await startSupervisor(TIMEOUT_MS);
}, 120_000);

afterAll(async () => {
  await stopSupervisor();
  await cleanupFleet();
}, 120_000);

describe('agent self-update through a rollout', () => {
  it('starts the packaged agent when Ferry has installed none', () => {
    expect(runningAgentScript()).toBe(join(REPO_ROOT, 'bin', 'ferry-agent.js'));
  });

  it('installs ferry-agent 1.0.0, restarts into it and confirms', async () => {
    const done = await rollOut(good, '1.0.0');
    expect(done.state, supervisorLog).toBe('completed');
    expect(done.hosts.map((h) => h.state)).toEqual(['succeeded']);
    expect(readCurrent(agent.installRoot, 'ferry-agent')).toBe('1.0.0');
    const script = join(agent.installRoot, 'ferry-agent', '1.0.0', 'bin', 'ferry-agent.js');
    await waitFor(() => runningAgentScript() === script, 10_000, { message: () => `agent runs ${runningAgentScript()}, not ${script}` });
    // The server has the held report; the agent ends its probation right after the acknowledgement.
    await waitFor(() => !existsSync(join(agent.stateDir, 'self-update.json')), 10_000, { message: 'probation not cleared' });
    expect((await agentStatus(agent.stateDir)).installed['ferry-agent']).toBe('1.0.0');
    expect((await listAgents(server.home)).find((a) => a.id === agent.id)?.installed['ferry-agent']).toBe('1.0.0');
  });

  it('returns to 1.0.0 by itself when 1.1.0 never reports back, and the rollout fails', async () => {
    // No agent confirms from here on: the timeout need not leave a busy machine room to.
    await stopSupervisor();
    await startSupervisor(BROKEN_TIMEOUT_MS);
    const kept = join(agent.installRoot, 'ferry-agent', '1.0.0', 'bin', 'ferry-agent.js');
    await waitFor(() => runningAgentScript() === kept, 10_000, { message: () => `agent runs ${runningAgentScript()}, not ${kept}` });
    const done = await rollOut(broken, '1.1.0');
    expect(['halted', 'rolled-back']).toContain(done.state);
    const host = done.hosts[0]!;
    expect(['failed', 'rolled-back']).toContain(host.state);
    expect(host.error).toMatch(new RegExp(`ferry-agent 1\\.1\\.0 did not report back healthy within ${BROKEN_TIMEOUT_MS / 1000}s; returned to 1\\.0\\.0`));

    expect(readCurrent(agent.installRoot, 'ferry-agent')).toBe('1.0.0');
    await waitFor(() => runningAgentScript() === join(agent.installRoot, 'ferry-agent', '1.0.0', 'bin', 'ferry-agent.js'), 10_000, { message: () => `agent runs ${runningAgentScript()}` });
    await waitFor(() => !existsSync(join(agent.stateDir, 'self-update.json')), 10_000, { message: 'rolled-back probation not cleared' });
    const status = await agentStatus(agent.stateDir);
    expect(status.installed['ferry-agent']).toBe('1.0.0');
    expect(status.operations[0]).toMatchObject({ kind: 'rollback', package: 'ferry-agent', version: '1.0.0', from: '1.1.0' });
    await waitFor(async () => (await pollAgents(server.home)).find((a) => a.id === agent.id)?.installed['ferry-agent'] === '1.0.0', 10_000);
    expect(supervisor.exitCode).toBeNull();
  });

  it('with the kept 1.0.0 modified, a 1.1.0 that never reports back ends on the packaged agent, never on either', async () => {
    // Modified after install (what `ferry-agent verify` reports): running it would leave a mark.
    const mark = join(agent.stateDir, 'tampered-1.0.0-ran');
    const script = join(agent.installRoot, 'ferry-agent', '1.0.0', 'bin', 'ferry-agent.js');
    const [shebang, ...rest] = readFileSync(script, 'utf8').split('\n');
    writeFileSync(script, [shebang, `(await import('node:fs')).writeFileSync(${JSON.stringify(mark)}, '');`, ...rest].join('\n'));
    const verify = await runAgentCli(agent.stateDir, ['verify', '--json'], { allowFail: true });
    expect(verify.json<{ drift: { package: string; version: string; modified: string[] }[] }>().drift).toEqual([expect.objectContaining({ package: 'ferry-agent', version: '1.0.0', modified: ['bin/ferry-agent.js'] })]);

    await runFerry(server.home, ['release', 'create', 'agent-1.1.0-again', '--package', 'ferry-agent@1.1.0', '--json']);
    const id = await startRollout(server.home, 'agent-1.1.0-again', `id=${agent.id}`, ['--strategy', 'phased', '--waves', '100%']);
    const done = await waitRolloutEnd(server.home, id, 60_000);
    const host = done.hosts[0]!;
    expect(['failed', 'rolled-back']).toContain(host.state);
    expect(host.error, supervisorLog).toContain('ferry-agent 1.1.0 did not report back healthy');

    // The supervisor ran the packaged agent, not the modified 1.0.0; that agent finished the return.
    await waitFor(() => runningAgentScript() === join(REPO_ROOT, 'bin', 'ferry-agent.js'), 10_000, { message: () => `agent runs ${runningAgentScript()}` });
    await waitFor(() => !existsSync(join(agent.stateDir, 'self-update.json')), 10_000, { message: 'rolled-back probation not cleared' });
    expect(supervisorLog).toContain('not returning to ferry-agent 1.0.0: ferry-agent 1.0.0 kept on this host does not match its manifest (modified bin/ferry-agent.js); running the packaged agent');
    expect(existsSync(mark)).toBe(false);
    // Never on 1.1.0: either 1.0.0 fetched again from the DML (verified), or no agent package at all.
    const current = readCurrent(agent.installRoot, 'ferry-agent');
    expect(current).not.toBe('1.1.0');
    const status = await agentStatus(agent.stateDir);
    expect(status.installed['ferry-agent']).toBe(current);
    if (current) expect((await runAgentCli(agent.stateDir, ['verify'], { allowFail: true })).code).toBe(0);
    expect(supervisor.exitCode).toBeNull();
  });
});
