// A throwaway nats-server for benchmarks (JetStream on, random port, temporary directory),
// sharing its launcher pieces with test/helpers/nats.ts (scripts/nats-launcher.ts). stop() kills it and removes the
// directory; an exit hook does the same if the process ends without stop() (an exception
// escaping to the top, Ctrl-C, SIGTERM).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findNatsServerBinary, killChild, readPort } from '../nats-launcher.js';

export { findNatsServerBinary };

export interface BenchNats {
  url: string;
  port: number;
  dir: string;
  process: ChildProcess;
  stop(): Promise<void>;
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
