// A throwaway nats-server for benchmarks (JetStream on, random port, temporary directory),
// modelled on test/helpers/nats.ts but independent of test/. stop() kills it and removes the
// directory; an exit hook does the same if the process ends without stop() (an exception
// escaping to the top, Ctrl-C, SIGTERM).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface BenchNats {
  url: string;
  port: number;
  dir: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export function findNatsServerBinary(): string {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/local/bin', '/usr/bin'])) {
    const candidate = join(dir, 'nats-server');
    if (dir && existsSync(candidate)) return candidate;
  }
  throw new Error('nats-server not found: install it with `apt-get install -y nats-server`');
}

const live = new Set<{ child: ChildProcess; dir: string }>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const s of live) {
      try {
        if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
      } catch {
        // already gone
      }
      rmSync(s.dir, { recursive: true, force: true });
    }
  });
  // Ctrl-C or kill: without a handler node exits without 'exit' hooks; keep the default
  // behaviour (exit) but run them. Runners that handle these signals themselves win.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    if (process.listenerCount(sig) === 0) process.once(sig, () => process.exit(sig === 'SIGINT' ? 130 : 143));
  }
}

/** Start nats-server with max_payload 1 MiB (like Ferry's embedded server) and the given file store cap. */
export async function startBenchNats(options: { maxFileStoreMiB: number }): Promise<BenchNats> {
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-nats-'));
  const binary = findNatsServerBinary();
  writeFileSync(
    join(dir, 'nats.conf'),
    [
      'listen: "127.0.0.1:-1"',
      'max_payload: 1048576',
      `jetstream { store_dir: "${join(dir, 'js')}", max_memory_store: 64MB, max_file_store: ${Math.ceil(options.maxFileStoreMiB)}MB }`,
      `ports_file_dir: "${dir}"`,
      '',
    ].join('\n'),
  );
  const child = spawn(binary, ['-c', join(dir, 'nats.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  const entry = { child, dir };
  live.add(entry);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const stop = async (): Promise<void> => {
    await killChild(child);
    rmSync(dir, { recursive: true, force: true });
    live.delete(entry);
  };
  try {
    const port = await readPort(dir, child, () => stderr);
    return { url: `nats://127.0.0.1:${port}`, port, dir, process: child, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function readPort(dir: string, child: ChildProcess, stderr: () => string): Promise<number> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nats-server exited early with ${child.exitCode}: ${stderr()}`);
    const file = readdirSync(dir).find((f) => f.endsWith('.ports') && f.includes(String(child.pid)));
    if (file) {
      try {
        const ports = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { nats: string[] };
        const url = ports.nats[0];
        if (url) return Number(new URL(url).port);
      } catch {
        // partially written; retry
      }
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('nats-server did not report its port within 10s');
}

async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}
