// Shared plumbing for the control-plane benchmarks: a real `ferry server` child process in a
// temporary data directory, the CLI, a simulated fleet in this process, and /proc sampling of
// the server's CPU time and peak memory.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findNatsServerBinary } from '../nats-launcher.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface BenchServer {
  home: string;
  process: ChildProcess;
  ferry(args: string[]): unknown;
  natsPid(): number | undefined;
  /** every nats-server the server uses (the embedded one, or the cluster's nodes) */
  natsPids(): number[];
  stop(): Promise<void>;
}

/**
 * A `ferry server` in a fresh data directory: with its embedded nats-server, or (clusterNodes)
 * against a NATS cluster on loopback written by `ferry nats config` (natsPids: every node).
 */
export async function startBenchServer(env: Record<string, string> = {}, opts: { clusterNodes?: number } = {}): Promise<BenchServer> {
  const home = mkdtempSync(join(tmpdir(), 'ferry-bench-'));
  const fullEnv = { ...process.env, FERRY_HOME: home, FERRY_LOG_LEVEL: 'warn', ...env };
  const cli = (args: string[]) => {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/ferry.js'), ...args, '--json'], { env: fullEnv, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    if (r.status !== 0) throw new Error(`ferry ${args.join(' ')} failed: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout) as unknown;
  };
  cli(['init']);
  const cluster = opts.clusterNodes ? await startBenchCluster(home, opts.clusterNodes, cli) : undefined;
  // FERRY_BENCH_SERVER_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles the server.
  const nodeArgs = (process.env.FERRY_BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, join(ROOT, 'bin/ferry.js'), 'server', ...(cluster ? ['--nats', cluster.urls.join(',')] : ['--listen', '127.0.0.1:0'])], { env: fullEnv, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((ok, fail) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) ok();
    });
    child.once('exit', (c) => fail(new Error(`server exited ${c}`)));
  });
  return {
    home,
    process: child,
    ferry: cli,
    natsPids: () => (cluster ? cluster.children.map((c) => c.pid!) : [embeddedNatsPid(home)].filter((p): p is number => p !== undefined)),
    natsPid: () => {
      const out = spawnSync('pgrep', ['-f', `${home}/nats/nats.conf`], { encoding: 'utf8' }).stdout.trim();
      return out ? Number(out.split('\n')[0]) : undefined;
    },
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      for (const c of cluster?.children ?? []) c.kill('SIGTERM');
      rmSync(home, { recursive: true, force: true });
    },
  };
}

function embeddedNatsPid(home: string): number | undefined {
  const out = spawnSync('pgrep', ['-f', `${home}/nats/nats.conf`], { encoding: 'utf8' }).stdout.trim();
  return out ? Number(out.split('\n')[0]) : undefined;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const srv = createServer();
    srv.once('error', () => ok(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => ok(true)));
  });
}

/** `ferry nats config` on free loopback ports, every node started; resolves once each answers its monitoring port. */
async function startBenchCluster(home: string, nodes: number, cli: (args: string[]) => unknown): Promise<{ urls: string[]; children: ChildProcess[] }> {
  let base = 0;
  for (let attempt = 0; attempt < 50 && !base; attempt++) {
    const b = 20_000 + Math.floor(Math.random() * 30_000);
    let free = true;
    for (let p = b; p < b + 3 * nodes && free; p++) free = await portFree(p);
    if (free) base = b;
  }
  if (!base) throw new Error('no free ports for the bench cluster');
  const out = join(home, 'cluster');
  const doc = cli(['nats', 'config', '--out', out, '--nodes', String(nodes), '--port', String(base), '--cluster-port', String(base + nodes), '--http-port', String(base + 2 * nodes)]) as { urls: string[]; files: string[] };
  const children = doc.files.map((f) => spawn(findNatsServerBinary(), ['-c', f], { stdio: 'ignore' }));
  for (let i = 0; i < nodes; i++) await waitUntil(() => fetch(`http://127.0.0.1:${base + 2 * nodes + i}/jsz`).then((r) => r.json() as Promise<{ meta_cluster?: { leader?: string } }>).then((j) => Boolean(j.meta_cluster?.leader), () => false), 30_000, `cluster node ${i + 1}`);
  return { urls: doc.urls, children };
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100; // USER_HZ is 100 on Linux
}

/** Resident set size and its peak (VmHWM) of a process, in MiB. */
export function memoryMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
