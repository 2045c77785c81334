// `ferry-agent rollback` on a host, with real agent processes and a real server: one writer on
// the journal (the CLI asks the running daemon over its local socket and works alone — holding
// the state directory's lock — only when no daemon runs), and no kept version activated unless
// its files match its manifest (a modified one is fetched again from the DML, or refused). The
// server records it as the operator's rollback, not as a failed install.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, FAST_ENV, cleanupFleet, initServer, joinAgent, runAgentCli, runFerry, startAgent, waitFor, type AgentHandle, type JoinedAgent, type PackageSpec, type ServerHandle } from '../helpers/fleet.js';
import { readLock } from '../../agent/control/lock.js';
import { agentStatus, cmdbHistory, createRelease, publishPackage, readCurrent, startRollout, unfinishedOperations, waitRolloutEnd } from '../helpers/faults.js';

const PKG = 'lr';
// Hooks wait while a marker file exists: the test holds an install or a rollback in the middle.
const wait = (marker: string) => `#!/bin/sh\nwhile [ -e "$FERRY_ROOT/${marker}" ]; do sleep 0.1; done\nexit 0\n`;
const spec = (version: string): PackageSpec => ({
  name: PKG,
  version,
  files: { 'index.html': `lr ${version}\n`, 'hooks/postinstall': wait('hold-install'), 'hooks/rollback': wait('hold-rollback') },
  hooks: { postinstall: 'hooks/postinstall', rollback: 'hooks/rollback' },
  hookTimeoutSeconds: 120,
});
const ENV = { FERRY_DESIRED_POLL_MS: '1000', FERRY_LOG_LEVEL: 'info' };

let server: ServerHandle;
let agent: JoinedAgent;
let daemon: AgentHandle | undefined;

const marker = (name: string) => join(agent.installRoot, name);
const sock = () => join(agent.stateDir, 'run', 'agent.sock');

async function startDaemon(): Promise<AgentHandle> {
  daemon = await startAgent(agent, { waitOnline: false, env: ENV });
  await waitFor(() => existsSync(sock()), 30_000, { message: () => `no control socket:\n${daemon!.logs()}` });
  return daemon;
}

async function rollOut(version: string): Promise<void> {
  const id = await startRollout(server.home, `lr-${version}`, `id=${agent.id}`, ['--include-offline']);
  const done = await waitRolloutEnd(server.home, id, 60_000);
  expect(done.state, JSON.stringify(done.hosts)).toBe('completed');
}

/** `ferry-agent rollback lr` in the background; resolves with its exit code and output. */
function rollbackInBackground(): { done: Promise<{ code: number | null; out: string }>; running: () => boolean } {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'ferry-agent.js'), 'rollback', PKG, '--json', '--state-dir', agent.stateDir], { env: { ...process.env, ...FAST_ENV }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  let exited = false;
  const done = new Promise<{ code: number | null; out: string }>((resolve) => child.once('exit', (code) => ((exited = true), resolve({ code, out }))));
  return { done, running: () => !exited };
}

beforeAll(async () => {
  server = await initServer();
  for (const v of ['1.0.0', '2.0.0', '3.0.0']) {
    await publishPackage(server.home, spec(v));
    await createRelease(server.home, `lr-${v}`, [`${PKG}@${v}`]);
  }
  agent = await joinAgent(server.home, 'local-rollback-1');
  await startDaemon();
  await rollOut('1.0.0');
  await rollOut('2.0.0');
}, 180_000);

afterAll(cleanupFleet, 60_000);

describe('ferry-agent rollback: one writer on the journal', () => {
  it('the control socket is private: its directory 0700, the socket 0600', () => {
    expect(statSync(join(agent.stateDir, 'run')).mode & 0o777).toBe(0o700);
    expect(statSync(sock()).mode & 0o777).toBe(0o600);
  });

  it('with the daemon mid-install, the rollback is done by the daemon after the install, not beside it', async () => {
    writeFileSync(marker('hold-install'), '');
    const id = await startRollout(server.home, 'lr-3.0.0', `id=${agent.id}`);
    await waitFor(() => unfinishedOperations(agent.stateDir).some((o) => o.step === 'postinstall' && o.version === '3.0.0'), 30_000, { message: 'the install of 3.0.0 did not reach postinstall' });
    const logAt = daemon!.logs().length;
    const cli = rollbackInBackground();
    // The daemon has the request, and holds it while its install runs: the CLI is still waiting.
    await waitFor(() => daemon!.logs().slice(logAt).includes('local request received'), 30_000, { message: () => `the daemon never got the request:\n${daemon!.logs().slice(logAt)}` });
    expect(cli.running()).toBe(true);
    expect((await agentStatus(agent.stateDir)).installed[PKG]).toBe('2.0.0');
    rmSync(marker('hold-install'));
    const r = await cli.done;
    expect(r.code, r.out).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ package: PKG, from: '3.0.0', to: '2.0.0', state: 'rolled-back' });
    expect((await waitRolloutEnd(server.home, id, 30_000)).hosts[0]!.state).toBe('succeeded');
    const status = await agentStatus(agent.stateDir);
    expect(readCurrent(agent.installRoot, PKG)).toBe('2.0.0');
    expect(status.installed[PKG]).toBe('2.0.0');
    // In the journal: the install committed, then the rollback ran — one after the other.
    expect(status.operations.slice(0, 2).map((o) => `${o.kind} ${o.version} ${o.step}`)).toEqual(['rollback 2.0.0 rolled-back', 'install 3.0.0 done']);
    // The agent's log says so at info, one line each (issue 15: installs and rollbacks are logged at info).
    const lines = daemon!.logs().slice(logAt).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(lines.find((l) => l.msg === `install of ${PKG}@3.0.0: succeeded`)?.level).toBe(30);
    expect(lines.find((l) => l.msg === `rollback of ${PKG}@2.0.0: rolled-back`)?.level).toBe(30);
  });

  it('the CMDB records each upgrade with the version it replaced, and the local rollback as a rollback that succeeded: the host is not failing', async () => {
    // The rollback just done (3.0.0 → 2.0.0) reached the server: its line is the newest change.
    const history = await waitFor(async () => {
      const h = await cmdbHistory(server.home, agent.id);
      return h.some((e) => e.operation?.startsWith('local-rollback-')) ? h : undefined;
    }, 30_000, { message: 'the local rollback never reached the CMDB' });
    const changes = history.filter((e) => e.package === PKG).map((e) => `${e.kind} ${e.version} from ${e.fromVersion ?? '-'} ${e.result}`);
    expect(changes.slice(0, 4)).toEqual(['rollback 2.0.0 from 3.0.0 succeeded', 'install 3.0.0 from 2.0.0 succeeded', 'install 2.0.0 from 1.0.0 succeeded', 'install 1.0.0 from - succeeded']);
    const fleet = (await runFerry(server.home, ['status', '--json'])).json<{ failing: { id: string }[] }>();
    expect(fleet.failing.map((f) => f.id)).not.toContain(agent.id);
  });

  it('a daemon that holds the state directory but does not answer: FERRY_AGENT_UNREACHABLE, nothing done', async () => {
    rmSync(sock()); // as if its socket were gone
    const r = await runAgentCli(agent.stateDir, ['rollback', PKG], { allowFail: true });
    expect(r.code).toBe(5);
    expect(r.stderr.trim()).toMatch(/^FERRY_AGENT_UNREACHABLE: the agent daemon \(pid \d+\) holds .* but does not answer on .*agent\.sock — hint: /);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    await daemon!.stop();
    await startDaemon();
  });

  it('no previous version kept: FERRY_NOT_FOUND from the daemon, as one line', async () => {
    const r = await runAgentCli(agent.stateDir, ['rollback', PKG], { allowFail: true });
    expect(r.code).toBe(3);
    expect(r.stderr.trim()).toBe('FERRY_NOT_FOUND: lr has no previous version kept on this host to roll back to — hint: roll out the version you want instead');
  });

  it('with no daemon the CLI works alone, holding the lock: a daemon starting meanwhile waits for it', async () => {
    await rollOut('3.0.0'); // 3.0.0, 2.0.0 kept
    await daemon!.stop();
    writeFileSync(marker('hold-rollback'), '');
    const cli = rollbackInBackground();
    await waitFor(() => unfinishedOperations(agent.stateDir).some((o) => o.step === 'revert-hook'), 30_000, { message: 'the local rollback did not reach its hook' });
    const waiting = async (): Promise<AgentHandle> => {
      const d = await startAgent(agent, { waitOnline: false, env: ENV });
      await waitFor(() => d.logs().includes('another ferry-agent process holds the state directory; waiting for it'), 30_000, { message: () => `the daemon did not wait:\n${d.logs()}` });
      return d;
    };
    // Stopped while it waits (systemd stopping a unit still starting): it exits cleanly, at once,
    // and leaves the lock to its holder.
    const early = await waiting();
    await early.stop();
    expect({ code: early.child.exitCode, signal: early.child.signalCode }, early.logs()).toEqual({ code: 0, signal: null });
    expect(readLock(agent.stateDir)).toMatchObject({ role: 'local-rollback' });
    expect(cli.running()).toBe(true);
    daemon = await waiting();
    expect(existsSync(sock())).toBe(false);
    rmSync(marker('hold-rollback'));
    const r = await cli.done;
    expect(r.code, r.out).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ from: '3.0.0', to: '2.0.0' });
    await waitFor(() => existsSync(sock()), 30_000, { message: () => `the daemon did not go on:\n${daemon!.logs()}` });
    expect(readCurrent(agent.installRoot, PKG)).toBe('2.0.0');
  });
});

describe('ferry-agent rollback: never onto modified files', () => {
  it('a kept version `ferry-agent verify` found modified is fetched again by the daemon, then activated', async () => {
    writeFileSync(join(agent.installRoot, PKG, '2.0.0', 'index.html'), 'defaced\n');
    const verify = await runAgentCli(agent.stateDir, ['verify', '--json'], { allowFail: true });
    expect(verify.code).toBe(1);
    expect(verify.json<{ drift: { version: string; modified: string[] }[] }>().drift).toEqual([expect.objectContaining({ version: '2.0.0', modified: ['index.html'] })]);
    await rollOut('3.0.0'); // 2.0.0 (modified) is now the kept previous version
    const r = await runAgentCli(agent.stateDir, ['rollback', PKG, '--json']);
    expect(r.json()).toMatchObject({ from: '3.0.0', to: '2.0.0' });
    expect(readFileSync(join(agent.installRoot, PKG, 'current', 'index.html'), 'utf8')).toBe('lr 2.0.0\n');
    expect((await runAgentCli(agent.stateDir, ['verify'], { allowFail: true })).code).toBe(0);
  });

  it('with no daemon to fetch it, a modified kept version is refused: FERRY_KEPT_VERSION_MODIFIED, current unchanged', async () => {
    await rollOut('3.0.0');
    await daemon!.stop();
    daemon = undefined;
    writeFileSync(join(agent.installRoot, PKG, '2.0.0', 'index.html'), 'defaced again\n');
    const r = await runAgentCli(agent.stateDir, ['rollback', PKG], { allowFail: true });
    expect(r.code).toBe(1);
    const line = r.stderr.trim();
    expect(line.split('\n')).toHaveLength(1);
    expect(line).toMatch(/^FERRY_KEPT_VERSION_MODIFIED: lr@2\.0\.0 kept on this host does not match its manifest \(modified index\.html\); fetching it again from the DML failed: .*; not activating it/);
    expect(readCurrent(agent.installRoot, PKG)).toBe('3.0.0');
    expect((await agentStatus(agent.stateDir)).installed[PKG]).toBe('3.0.0');
  });
});
