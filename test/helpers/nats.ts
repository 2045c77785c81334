// Starts a real nats-server (JetStream on) on random ports in a temporary directory, for tests.
// Always cleaned up: call stop() (or use the returned object with vitest's afterAll).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestNats {
  url: string;
  port: number;
  dir: string;
  process: ChildProcess;
  /** Stop the server (SIGTERM, then SIGKILL) and remove its directory unless keepDir. */
  stop(options?: { keepDir?: boolean }): Promise<void>;
  /** Kill and start again on the same port and store (JetStream data survives). */
  restart(): Promise<void>;
}

export function findNatsServerBinary(): string {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/local/bin', '/usr/bin'])) {
    const candidate = join(dir, 'nats-server');
    if (dir && existsSync(candidate)) return candidate;
  }
  throw new Error('nats-server not found: install it with `apt-get install -y nats-server`');
}

/** Start nats-server with the given extra config text (appended verbatim). */
export async function startTestNats(options: { config?: string; port?: number } = {}): Promise<TestNats> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-test-nats-'));
  const binary = findNatsServerBinary();
  let port = options.port ?? -1;
  const writeConfig = (p: number) =>
    writeFileSync(
      join(dir, 'nats.conf'),
      [
        `listen: "127.0.0.1:${p}"`,
        `jetstream { store_dir: "${join(dir, 'js')}", max_memory_store: 256MB, max_file_store: 4GB }`,
        `ports_file_dir: "${dir}"`,
        options.config ?? '',
      ].join('\n'),
    );
  writeConfig(port);

  let child = await launch(binary, dir);
  port = await readPort(dir, child);
  writeConfig(port);

  const server: TestNats = {
    url: `nats://127.0.0.1:${port}`,
    port,
    dir,
    process: child,
    async stop({ keepDir = false } = {}) {
      await killChild(server.process);
      if (!keepDir) rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await killChild(server.process);
      for (const f of readdirSync(dir)) if (f.endsWith('.ports')) rmSync(join(dir, f));
      child = await launch(binary, dir);
      await readPort(dir, child);
      server.process = child;
    },
  };
  return server;
}

async function launch(binary: string, dir: string): Promise<ChildProcess> {
  const child = spawn(binary, ['-c', join(dir, 'nats.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  child.once('exit', (code) => {
    if (code && code !== 0) process.stderr.write(`nats-server exited ${code}: ${stderr}\n`);
  });
  return child;
}

async function readPort(dir: string, child: ChildProcess): Promise<number> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nats-server exited early with ${child.exitCode}`);
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
