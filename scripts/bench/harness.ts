// Shared plumbing for the control-plane benchmarks: a real `ferry server` child process in a
// temporary data directory, the CLI, a simulated fleet in this process, and /proc sampling of
// the server's CPU time and peak memory.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface BenchServer {
  home: string;
  process: ChildProcess;
  ferry(args: string[]): unknown;
  natsPid(): number | undefined;
  stop(): Promise<void>;
}

export async function startBenchServer(env: Record<string, string> = {}): Promise<BenchServer> {
  const home = mkdtempSync(join(tmpdir(), 'ferry-bench-'));
  const fullEnv = { ...process.env, FERRY_HOME: home, FERRY_LOG_LEVEL: 'warn', ...env };
  const cli = (args: string[]) => {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/ferry.js'), ...args, '--json'], { env: fullEnv, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    if (r.status !== 0) throw new Error(`ferry ${args.join(' ')} failed: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout) as unknown;
  };
  cli(['init']);
  // FERRY_BENCH_SERVER_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles the server.
  const nodeArgs = (process.env.FERRY_BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, join(ROOT, 'bin/ferry.js'), 'server', '--listen', '127.0.0.1:0'], { env: fullEnv, stdio: ['ignore', 'pipe', 'inherit'] });
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
      rmSync(home, { recursive: true, force: true });
    },
  };
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
