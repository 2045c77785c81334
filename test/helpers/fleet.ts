// Runs the REAL `ferry` and `ferry-agent` CLIs (the compiled dist/, via bin/*.js) as child
// processes in temporary directories, for end-to-end tests.
//
// Everything started or created here is tracked; call cleanupFleet() in an afterAll (it kills
// every child that is still running — SIGTERM, then SIGKILL to its process group after a grace
// period — and deletes every temporary directory). Long-running children (server, agents) are
// started in their own process group so that killing them also kills what they started
// (the embedded nats-server, hooks). A process 'exit' handler SIGKILLs any survivor as a last
// resort, so a crashed test run does not leave processes behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdminClient } from '../../server/cli/client.js';
import { buildPackage as buildPackageFile } from '../../shared/package/build.js';
import type { ApiRequest, ApiVerb } from '../../shared/protocol/api.js';

/** The repository root, from this file's location (test/helpers/fleet.ts). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FERRY_BIN = join(REPO_ROOT, 'bin', 'ferry.js');
const AGENT_BIN = join(REPO_ROOT, 'bin', 'ferry-agent.js');
/** The agent CLI with a crash hook (test/helpers/crash-agent.mjs): SIGKILLs itself after saving FERRY_HARNESS_CRASH_AT. */
export const CRASH_AGENT_BIN = join(REPO_ROOT, 'test', 'helpers', 'crash-agent.mjs');
/** The agent CLI with a shifted maintenance-window clock (test/helpers/window-clock-agent.mjs): the offset in FERRY_HARNESS_WINDOW_CLOCK_FILE. */
export const WINDOW_CLOCK_AGENT_BIN = join(REPO_ROOT, 'test', 'helpers', 'window-clock-agent.mjs');
const DIST_MARKERS = [join(REPO_ROOT, 'dist', 'server', 'cli', 'main.js'), join(REPO_ROOT, 'dist', 'agent', 'cli', 'main.js')];

/** Fast timings for tests (agents and server read them from the environment). */
export const FAST_ENV: Readonly<Record<string, string>> = Object.freeze({
  FERRY_LOG_LEVEL: 'warn',
  // No /etc/ferry/*.json: a Ferry installed on the test machine must not change the tests' agents.
  FERRY_CONFIG: 'none',
  FERRY_HEARTBEAT_MS: '500',
  FERRY_DESIRED_POLL_MS: '2000',
  FERRY_OFFLINE_AFTER_MS: '3000',
});

function assertBuilt(): void {
  for (const f of DIST_MARKERS) {
    if (!existsSync(f)) {
      throw new Error(`${f} is missing: build the CLIs first with \`npm run build\` (in ${REPO_ROOT}); the fleet tests run the compiled dist/`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Tracking and cleanup

const liveChildren = new Set<ChildProcess>();
const groupLeaders = new WeakSet<ChildProcess>();
const tempDirs = new Set<string>();

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** SIGKILL goes to the whole process group of a daemon; other signals to the process only (a
 *  SIGTERMed `ferry server` stops its nats-server itself, as it would for an operator). */
function signal(child: ChildProcess, sig: NodeJS.Signals): void {
  if (!isRunning(child) || child.pid === undefined) return;
  try {
    if (sig === 'SIGKILL' && groupLeaders.has(child)) process.kill(-child.pid, sig);
    else child.kill(sig);
  } catch {
    // already gone
  }
}

/** Kill a child's whole process group too, even after the leader exited (leftover grandchildren). */
function signalGroup(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.pid === undefined || !groupLeaders.has(child)) return;
  try {
    process.kill(-child.pid, sig);
  } catch {
    // no such group: nothing left
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (!isRunning(child)) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

/** Send `sig`, then SIGKILL after graceMs if it is still running; resolves once it exited. */
async function terminate(child: ChildProcess, sig: NodeJS.Signals, graceMs: number): Promise<void> {
  if (isRunning(child)) {
    const done = exited(child);
    signal(child, sig);
    const timer = setTimeout(() => signal(child, 'SIGKILL'), graceMs);
    await done;
    clearTimeout(timer);
  }
  // Whatever the leader left behind in its group (e.g. nats-server after a SIGKILLed server).
  signalGroup(child, 'SIGKILL');
}

process.once('exit', () => {
  for (const c of liveChildren) {
    signal(c, 'SIGKILL');
    signalGroup(c, 'SIGKILL');
  }
});

/** A temporary directory removed by cleanupFleet(). */
export function tempDir(prefix = 'ferry-fleet-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

/** Kill every child still running (process groups included) and delete every temporary directory. */
export async function cleanupFleet(): Promise<void> {
  await closeApiClients();
  await Promise.all([...liveChildren].map((c) => terminate(c, 'SIGTERM', 5000)));
  liveChildren.clear();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

// ---------------------------------------------------------------------------------------------
// Running the CLIs

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (throws with the output if it is not) */
  json<T = any>(): T;
}

export interface RunOptions {
  env?: Record<string, string>;
  /** do not throw on a non-zero exit */
  allowFail?: boolean;
  /** kill the command after this long (default 60 s) */
  timeoutMs?: number;
  /** run this entry point instead of bin/ferry.js or bin/ferry-agent.js (e.g. CRASH_AGENT_BIN, or the ferry.js of an unpacked .deb) */
  entry?: string;
}

function run(bin: string, args: string[], env: Record<string, string>, opts: RunOptions): Promise<RunResult> {
  assertBuilt();
  const label = `${bin === FERRY_BIN ? 'ferry' : 'ferry-agent'} ${args.join(' ')}`;
  if (opts.entry) bin = opts.entry;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...FAST_ENV, ...env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    liveChildren.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timeoutMs = opts.timeoutMs ?? 60_000;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      liveChildren.delete(child);
      reject(new Error(`${label}: could not start: ${err.message}`));
    });
    child.once('close', (code, sig) => {
      clearTimeout(timer);
      liveChildren.delete(child);
      const result: RunResult = {
        code,
        signal: sig,
        stdout,
        stderr,
        json() {
          try {
            return JSON.parse(stdout);
          } catch {
            throw new Error(`${label}: stdout is not JSON:\n${stdout}\nstderr:\n${stderr}`);
          }
        },
      };
      if (timedOut) return reject(new Error(`${label}: timed out after ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
      if (code !== 0 && !opts.allowFail) return reject(new Error(`${label}: exited ${code ?? sig}\nstdout:\n${stdout}\nstderr:\n${stderr}`));
      resolvePromise(result);
    });
  });
}

/** `node bin/ferry.js ARGS` with FERRY_HOME=home (no shell). Throws on a non-zero exit unless allowFail. */
export function runFerry(home: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(FERRY_BIN, args, { FERRY_HOME: home }, opts);
}

/** `node bin/ferry-agent.js ARGS --state-dir stateDir` (no shell). */
export function runAgentCli(stateDir: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(AGENT_BIN, [...args, '--state-dir', stateDir], {}, opts);
}

// ---------------------------------------------------------------------------------------------
// Long-running processes

interface Daemon {
  child: ChildProcess;
  logs(): string;
  /** SIGTERM (SIGKILL after a grace period); resolves once it exited. */
  stop(): Promise<void>;
  /** SIGKILL, to the whole process group. */
  kill(): Promise<void>;
  exited(): boolean;
}

function spawnDaemon(bin: string, args: string[], env: Record<string, string>, onStdout?: (text: string) => void): Daemon {
  assertBuilt();
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...FAST_ENV, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: killing it takes nats-server / hooks along
  });
  groupLeaders.add(child);
  liveChildren.add(child);
  child.once('exit', () => {
    liveChildren.delete(child);
    // A leader that died leaves no orphans in its group (e.g. nats-server when the server is SIGKILLed).
    signalGroup(child, 'SIGKILL');
  });
  let output = '';
  const keep = (d: Buffer) => {
    output = (output + d.toString('utf8')).slice(-200_000);
  };
  child.stdout!.on('data', (d: Buffer) => {
    keep(d);
    onStdout?.(output);
  });
  child.stderr!.on('data', keep);
  return {
    child,
    logs: () => output,
    stop: () => terminate(child, 'SIGTERM', 10_000),
    kill: () => terminate(child, 'SIGKILL', 0),
    exited: () => !isRunning(child),
  };
}

export interface ServerHandle {
  home: string;
  /** nats://127.0.0.1:PORT */
  url: string;
  port: number;
  child: ChildProcess;
  logs(): string;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

export interface StartServerOptions {
  /** HOST:PORT for the embedded NATS (default 127.0.0.1:0, a random port) */
  listen?: string;
  /** more `ferry server` flags, e.g. ['--nats', 'URL,URL,URL'] */
  args?: string[];
  env?: Record<string, string>;
  timeoutMs?: number;
  /** run this entry point instead of bin/ferry.js (e.g. the ferry.js of an unpacked .deb) */
  entry?: string;
}

/** `ferry server` in the background; resolves once it printed its "ready" line. */
export async function startServer(home: string, opts: StartServerOptions = {}): Promise<ServerHandle> {
  // The ready line, or with --json the ready document.
  const ready = /ferry server ready — NATS (nats:\/\/\S+)|\{"ready":true,"nats":"([^"]+)"/;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  let settle: { resolve: (url: string) => void; reject: (err: Error) => void } | undefined;
  const urlPromise = new Promise<string>((resolve, reject) => (settle = { resolve, reject }));
  // --listen is the embedded NATS's: refused with --nats (a cluster's nodes listen where their configs say).
  const listen = opts.args?.includes('--nats') ? [] : ['--listen', opts.listen ?? '127.0.0.1:0'];
  const daemon = spawnDaemon(opts.entry ?? FERRY_BIN, ['server', ...listen, ...(opts.args ?? [])], { FERRY_HOME: home, ...opts.env }, (out) => {
    const m = ready.exec(out);
    if (m) settle?.resolve((m[1] ?? m[2])!);
  });
  const onExit = (code: number | null, sig: NodeJS.Signals | null) => settle?.reject(new Error(`ferry server exited (${code ?? sig}) before it was ready:\n${daemon.logs()}`));
  daemon.child.once('exit', onExit);
  const timer = setTimeout(() => settle?.reject(new Error(`ferry server not ready within ${timeoutMs} ms:\n${daemon.logs()}`)), timeoutMs);
  try {
    const url = await urlPromise;
    // Against a cluster the server prints every member's URL, separated by commas: the first one's port.
    return { home, url, port: Number(new URL(url.split(',')[0]!).port), child: daemon.child, logs: daemon.logs, stop: daemon.stop, kill: daemon.kill };
  } catch (err) {
    await daemon.kill();
    throw err;
  } finally {
    clearTimeout(timer);
    daemon.child.off('exit', onExit);
  }
}

/** A fresh FERRY_HOME: `ferry init` and `ferry server` started on a random port. */
export async function initServer(opts: StartServerOptions = {}): Promise<ServerHandle> {
  const home = tempDir('ferry-home-');
  await runFerry(home, ['init']);
  return startServer(home, opts);
}

/** A join token (`ferry token create --json`). */
export async function createToken(home: string, opts: { uses?: number; tags?: Record<string, string>; ttl?: string } = {}): Promise<string> {
  const args = ['token', 'create', '--uses', String(opts.uses ?? 1), '--json'];
  for (const [k, v] of Object.entries(opts.tags ?? {})) args.push('--tag', `${k}=${v}`);
  if (opts.ttl) args.push('--ttl', opts.ttl);
  const token = (await runFerry(home, args)).json<{ token: string }>().token;
  if (!token) throw new Error('token create returned no token');
  return token;
}

export interface JoinedAgent {
  home: string;
  hostname: string;
  id: string;
  stateDir: string;
  installRoot: string;
  tags: Record<string, string>;
}

/** `ferry-agent join` in a fresh state directory with FERRY_HOSTNAME=hostname. */
export async function joinAgent(home: string, hostname: string, opts: { tags?: Record<string, string>; token?: string } = {}): Promise<JoinedAgent> {
  const token = opts.token ?? (await createToken(home));
  const stateDir = tempDir(`ferry-agent-${hostname}-`);
  const args = ['join', '--token', token, '--json'];
  for (const [k, v] of Object.entries(opts.tags ?? {})) args.push('--tag', `${k}=${v}`);
  const doc = (await runAgentCli(stateDir, args, { env: { FERRY_HOSTNAME: hostname } })).json<{ agentId: string; installRoot: string; tags: Record<string, string> }>();
  return { home, hostname, id: doc.agentId, stateDir, installRoot: doc.installRoot, tags: doc.tags };
}

/** The agents.list reply, as the server builds it and the CLI prints it with --json. */
export type { AgentDoc } from '../../shared/protocol/replies.js';
import { agentsListReplySchema, type AgentDoc, type ApiReplyOf } from '../../shared/protocol/replies.js';

export async function listAgents(home: string): Promise<AgentDoc[]> {
  return agentsListReplySchema.parse((await runFerry(home, ['agents', 'list', '--json'])).json());
}

// ---------------------------------------------------------------------------------------------
// Polling through the admin API in this process. A `ferry` CLI costs ~0.6 s of CPU to start: a
// wait that spawns one every few hundred ms keeps a core busy and slows every test beside it.
// `--json` prints the API's reply as it is, so a poll here sees what the CLI would print; the
// assertions themselves still go through the CLI.

const apiClients = new Map<string, Promise<AdminClient>>();

/** One admin API request to the server of `home`, over a connection kept for the next poll. */
export async function apiRequest<V extends ApiVerb>(home: string, verb: V, body: ApiRequest<V>): Promise<ApiReplyOf<V>> {
  for (let attempt = 1; ; attempt++) {
    let client = apiClients.get(home);
    if (!client) {
      client = AdminClient.connect({ dataDir: home });
      apiClients.set(home, client);
    }
    try {
      return await (await client).request(verb, body, 10_000);
    } catch (err) {
      // The server may have moved (restarted on another port) or be down: connect afresh next time.
      apiClients.delete(home);
      void client.then((c) => c.close()).catch(() => undefined);
      if (attempt >= 2) throw err;
    }
  }
}

async function closeApiClients(): Promise<void> {
  const clients = [...apiClients.values()];
  apiClients.clear();
  await Promise.all(clients.map((c) => c.then((x) => x.close()).catch(() => undefined)));
}

/** `agents list --json`, for polls (see apiRequest). */
export function pollAgents(home: string): Promise<AgentDoc[]> {
  return apiRequest(home, 'agents.list', { target: 'all' });
}

export interface AgentHandle {
  agent: JoinedAgent;
  child: ChildProcess;
  logs(): string;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

/** `ferry-agent run` in the background; resolves once `agents list` shows it online (unless waitOnline: false). */
export async function startAgent(agent: JoinedAgent, opts: { waitOnline?: boolean; timeoutMs?: number; env?: Record<string, string>; entry?: string } = {}): Promise<AgentHandle> {
  return (await startAgents([agent], opts))[0]!;
}

/** Several `ferry-agent run` at once, then one `agents list` poll until all of them are online. */
export async function startAgents(list: JoinedAgent[], opts: { waitOnline?: boolean; timeoutMs?: number; env?: Record<string, string>; entry?: string } = {}): Promise<AgentHandle[]> {
  const startedAt = Date.now();
  const handles = list.map((agent) => {
    const daemon = spawnDaemon(opts.entry ?? AGENT_BIN, ['run', '--state-dir', agent.stateDir], { FERRY_HOSTNAME: agent.hostname, ...opts.env });
    return { agent, daemon, handle: { agent, child: daemon.child, logs: daemon.logs, stop: daemon.stop, kill: daemon.kill } as AgentHandle };
  });
  if (opts.waitOnline === false || list.length === 0) return handles.map((h) => h.handle);
  try {
    await waitFor(
      async () => {
        for (const { agent, daemon } of handles) {
          if (daemon.exited()) throw new FatalWait(`ferry-agent ${agent.hostname} exited (${daemon.child.exitCode ?? daemon.child.signalCode}):\n${daemon.logs()}`);
        }
        const listed = await pollAgents(list[0]!.home);
        return list.every((a) => isOnlineSince(listed, a.id, startedAt));
      },
      opts.timeoutMs ?? 60_000,
      { intervalMs: 400, message: () => `agents ${list.map((a) => a.hostname).join(', ')} did not all come online; their output:\n${handles.map((h) => `--- ${h.agent.hostname}\n${h.daemon.logs()}`).join('\n')}` },
    );
  } catch (err) {
    await Promise.all(handles.map((h) => h.daemon.kill()));
    throw err;
  }
  return handles.map((h) => h.handle);
}

/** Online, and seen by the server at or after `since` (not just a stale last-seen from before). */
export function isOnlineSince(agents: AgentDoc[], id: string, since: number): boolean {
  const a = agents.find((x) => x.id === id);
  // lastSeen is batched to the second on the server; allow for that.
  return !!a && a.online && a.lastSeen !== null && Date.parse(a.lastSeen) >= since - 1000;
}

// ---------------------------------------------------------------------------------------------
// Packages

export interface PackageSpec {
  name: string;
  version: string;
  description?: string;
  /** path (relative, POSIX) → content */
  files: Record<string, string | Buffer>;
  /** hook name → path of one of `files` */
  hooks?: Partial<Record<'preinstall' | 'postinstall' | 'healthcheck' | 'rollback' | 'preremove' | 'postremove', string>>;
  healthcheck?: { retries?: number; intervalSeconds?: number };
  hookTimeoutSeconds?: number;
  requires?: { os?: string[]; arch?: string[]; diskMB?: number };
  /** package name → semver range it needs installed first */
  depends?: Record<string, string>;
  /** paths of `files` to make executable (mode 0755); hook files are made executable too */
  executable?: string[];
}

/**
 * Writes a source directory with ferry.json and builds it as `ferry package build` does, in this
 * process: a CLI process per package cost ~0.5 s of CPU, and suites build dozens (the CLI's own
 * build is package-config-cli.test's). Returns the .ferry path.
 */
export async function buildPackage(spec: PackageSpec): Promise<string> {
  const work = tempDir(`ferry-pkg-${spec.name}-`);
  const src = join(work, 'src');
  mkdirSync(src);
  const executable = new Set([...(spec.executable ?? []), ...Object.values(spec.hooks ?? {})]);
  for (const [rel, content] of Object.entries(spec.files)) {
    const path = join(src, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
    chmodSync(path, executable.has(rel) ? 0o755 : 0o644);
  }
  const ferryJson = {
    name: spec.name,
    version: spec.version,
    ...(spec.description ? { description: spec.description } : {}),
    ...(spec.hooks ? { hooks: spec.hooks } : {}),
    ...(spec.healthcheck ? { healthcheck: spec.healthcheck } : {}),
    ...(spec.hookTimeoutSeconds ? { hookTimeoutSeconds: spec.hookTimeoutSeconds } : {}),
    ...(spec.requires ? { requires: spec.requires } : {}),
    ...(spec.depends ? { depends: spec.depends } : {}),
  };
  writeFileSync(join(src, 'ferry.json'), JSON.stringify(ferryJson, null, 2));
  const out = join(work, `${spec.name}-${spec.version}.ferry`);
  await buildPackageFile(src, out);
  if (!existsSync(out)) throw new Error(`the package build did not write ${out}`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Polling

export type Truthy<T> = Exclude<T, false | null | undefined | 0 | ''>;

/** Thrown from a waitFor callback to stop waiting at once. */
export class FatalWait extends Error {}

/**
 * How much longer than its stated bound every waitFor waits. A bound says what a quiet machine
 * needs; CI also runs the suite beside a CPU hog, four files at once on two cores. No test waits
 * for something that must not happen, so only a wait that fails anyway takes longer.
 */
const WAIT_SLACK = 3;

/**
 * Poll fn until it returns a truthy value (returned) or WAIT_SLACK × timeoutMs passes (throws,
 * with the last error fn threw, if any). Errors thrown by fn are retried, except FatalWait.
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  timeoutMs: number,
  opts: { intervalMs?: number; message?: string | (() => string) } = {},
): Promise<Truthy<T>> {
  timeoutMs *= WAIT_SLACK;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let lastValue: unknown;
  for (;;) {
    try {
      const v = await fn();
      lastValue = v;
      if (v) return v as Truthy<T>;
    } catch (err) {
      if (err instanceof FatalWait) throw err;
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const msg = typeof opts.message === 'function' ? opts.message() : (opts.message ?? 'condition not met');
      const detail = lastError ? `; last error: ${lastError instanceof Error ? lastError.message : String(lastError)}` : `; last value: ${JSON.stringify(lastValue)}`;
      throw new Error(`waitFor timed out after ${timeoutMs} ms: ${msg}${detail}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 250));
  }
}
