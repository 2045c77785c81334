// Starts a real nats-server (JetStream on) on random ports in a temporary directory, for tests.
// Always cleaned up: call stop() (or use the returned object with vitest's afterAll).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findNatsServerBinary, killChild, readPort } from '../../scripts/nats-launcher.js';

export { findNatsServerBinary };

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
