// After `kill -9` of `ferry server`, its embedded nats-server lives on (re-parented to init) on the
// port and the store. These tests SIGKILL a real `ferry server` child (only it, not its process
// group) and start it again on the same data directory (issue 19, "The server"):
// - the stale nats-server is stopped and the new one comes up on the SAME port, with or without
//   --listen, so agents reconnect; exactly one nats-server runs on the store afterwards;
// - a second server on a data directory whose server lives is refused (FERRY_NATS_STORE_LOCKED)
//   and the running one is untouched;
// - a port held by a foreign process is refused (FERRY_NATS_PORT_TAKEN), never silently moved.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { natsServersUsing } from '../../server/nats/store-lock.js';
import { cleanupFleet, createToken, FAST_ENV, initServer, isOnlineSince, joinAgent, listAgents, pollAgents, REPO_ROOT, runFerry, startAgent, tempDir, waitFor } from '../helpers/fleet.js';

interface RawServer {
  home: string;
  child: ChildProcess;
  port: number;
  logs(): string;
  /** SIGTERM and wait (a clean stop) */
  stop(): Promise<void>;
}

// The fleet helper's daemons take their whole process group down when the leader dies, which is
// exactly what hides this defect; these servers are started here, each in a process group of its
// own, and only cleaned up (group and any nats-server on their stores) after the tests.
const started: RawServer[] = [];
const homes = new Set<string>();
afterAll(async () => {
  for (const s of started) {
    try {
      process.kill(-s.child.pid!, 'SIGKILL');
    } catch {
      // group gone
    }
  }
  for (const home of homes) for (const pid of natsServersUsing(conf(home))) process.kill(pid, 'SIGKILL');
  await cleanupFleet();
}, 120_000);

/**
 * Listens on `port` as "another process" would. The server just stopped may not have let go of it
 * yet on a busy machine (its nats-server exits after it), so the listen is tried again while the
 * port is in use, for at most 30 s; any other error fails the test at once.
 */
async function holdPort(port: number): Promise<Server> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const server = createServer();
    const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      server.once('error', resolve);
      server.listen(port, '127.0.0.1', () => resolve(undefined));
    });
    if (!error) return server;
    if (error.code !== 'EADDRINUSE' || Date.now() > deadline) throw error;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function launchServer(home: string, listen = '127.0.0.1:0'): Promise<RawServer> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'ferry.js'), 'server', '--listen', listen], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...FAST_ENV, FERRY_HOME: home },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ferry server not ready within 120s:\n${output}`)), 120_000);
    const onData = (d: Buffer) => {
      output += d.toString('utf8');
      const m = /ferry server ready — NATS nats:\/\/[^:\s]+:(\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => (output += d.toString('utf8')));
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`ferry server exited (${code ?? sig}) before it was ready:\n${output}`));
    });
  });
  homes.add(home);
  const server: RawServer = {
    home,
    child,
    port,
    logs: () => output,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
  started.push(server);
  return server;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};
const ppidOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
};
/** The one nats-server running this home's nats.conf (found in /proc, not from Ferry's own files). */
const natsPid = (home: string) => {
  const pids = natsServersUsing(conf(home));
  if (pids.length !== 1) throw new Error(`expected one nats-server on ${home}, found ${pids.length}: ${pids.join(', ')}`);
  return pids[0]!;
};
const conf = (home: string) => join(home, 'nats', 'nats.conf');

/** SIGKILL the `ferry server` process alone (as the OOM killer would); its nats-server stays. */
async function killServerOnly(server: RawServer): Promise<void> {
  const exited = new Promise((r) => server.child.once('exit', r));
  process.kill(server.child.pid!, 'SIGKILL');
  await exited;
}

describe('ferry server after SIGKILL (real processes, real nats-server)', () => {
  it('comes back on the same port: the stale nats-server is stopped, agents reconnect, one nats-server per store', async () => {
    const home = tempDir('ferry-home-');
    await runFerry(home, ['init']);
    const first = await launchServer(home); // --listen 127.0.0.1:0: a random port, kept for later starts
    const agent = await joinAgent(home, 'crash-1', { token: await createToken(home) });
    const staleNats = natsPid(home);
    expect(natsServersUsing(conf(home))).toEqual([staleNats]);

    // (No agent runs at the kill: an orphaned nats-server that logs a line dies of SIGPIPE on its
    // closed stdout, which would hide the defect; a quiet one lives on, as operators saw.)
    await killServerOnly(first);
    // The defect's precondition: the nats-server outlived its server, orphaned, on the port.
    expect(alive(staleNats)).toBe(true);
    expect(ppidOf(staleNats)).not.toBe(first.child.pid);

    const second = await launchServer(home); // same --listen 127.0.0.1:0 as before
    expect(second.port).toBe(first.port);
    expect(alive(staleNats)).toBe(false);
    const fresh = natsPid(home); // exactly one
    expect(fresh).not.toBe(staleNats);
    expect(readFileSync(join(home, 'nats', 'nats.pid'), 'utf8').trim()).toBe(String(fresh));
    expect(second.logs()).toMatch(/stopping the nats-server left running by a ferry server that died/);
    // The agent was never told anything: it finds the server at the address it joined with.
    const since = Date.now();
    const running = await startAgent(agent);
    await waitFor(async () => isOnlineSince(await pollAgents(home), agent.id, since), 30_000, { message: 'agent back online on the same URL' });

    // Again, with an explicit --listen on that port (it used to fail: "address already in use").
    await running.stop();
    await killServerOnly(second);
    expect(alive(fresh)).toBe(true);
    const third = await launchServer(home, `127.0.0.1:${first.port}`);
    expect(third.port).toBe(first.port);
    expect(alive(fresh)).toBe(false);
    expect(natsServersUsing(conf(home))).toEqual([natsPid(home)]);

    // A clean stop releases the lock and the pid file.
    await third.stop();
    expect(existsSync(join(home, 'nats', 'store.lock'))).toBe(false);
    expect(existsSync(join(home, 'nats', 'nats.pid'))).toBe(false);
    expect(natsServersUsing(conf(home))).toEqual([]);
  }, 120_000);

  it('refuses a second server on a data directory whose server runs, and leaves that one alone', async () => {
    const running = await initServer();
    const home = running.home;
    homes.add(home);
    const nats = natsPid(home);
    const second = await runFerry(home, ['server', '--listen', '127.0.0.1:0'], { allowFail: true, timeoutMs: 30_000 });
    expect(second.code).toBe(4);
    const line = second.stderr.trim().split('\n').at(-1)!;
    expect(line).toMatch(new RegExp(`^FERRY_NATS_STORE_LOCKED: the NATS store in \\S+ is in use by ferry server pid ${running.child.pid}; its nats-server is pid ${nats} on nats://127\\.0\\.0\\.1:${running.port}`));
    expect(alive(nats)).toBe(true);
    expect(natsServersUsing(conf(home))).toEqual([nats]);
    expect((await runFerry(home, ['agents', 'list', '--json'])).json<unknown[]>()).toEqual([]); // still serving
    await running.stop();
  }, 120_000);

  it('never moves to another port by itself: a port held by another process is FERRY_NATS_PORT_TAKEN', async () => {
    const server = await initServer();
    const home = server.home;
    homes.add(home);
    const port = server.port;
    await server.stop();
    const squatter = await holdPort(port);
    try {
      const refused = await runFerry(home, ['server', '--listen', '127.0.0.1:0'], { allowFail: true, timeoutMs: 30_000 });
      expect(refused.code).toBe(4);
      expect(refused.stderr.trim().split('\n').at(-1)).toMatch(new RegExp(`^FERRY_NATS_PORT_TAKEN: NATS port 127\\.0\\.0\\.1:${port} is in use by another process \\(the port agents were given at join\\)`));
      expect(refused.stdout).not.toContain('ferry server ready'); // never became ready on another port
      expect(existsSync(join(home, 'nats', 'store.lock'))).toBe(false);
      expect(natsServersUsing(conf(home))).toEqual([]);
    } finally {
      await new Promise((r) => squatter.close(r));
    }
  }, 120_000);
});
