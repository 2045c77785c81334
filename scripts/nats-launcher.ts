// Shared pieces for starting a throwaway nats-server (tests and benchmarks): find the binary,
// read the random port it chose from its ports file, and stop it.
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export function findNatsServerBinary(): string {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/local/bin', '/usr/bin'])) {
    const candidate = join(dir, 'nats-server');
    if (dir && existsSync(candidate)) return candidate;
  }
  throw new Error('nats-server not found: install it with `apt-get install -y nats-server`');
}

/** The port nats-server (started with `ports_file_dir: dir` and port -1) is listening on. */
export async function readPort(dir: string, child: ChildProcess, stderr: () => string = () => ''): Promise<number> {
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

/** SIGTERM, then SIGKILL after 3 s; resolves when it is gone. */
export async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}
