// A simulated fleet spread over several processes. One process holds about four descriptors an
// agent (its NATS socket, its journal's database, WAL and shared memory), so ~5,000 agents met a
// 20,000-descriptor limit (EMFILE); each child process has a limit of its own, and its own event
// loop, so 10,000 agents fit in a few processes.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SimOptions } from './fleet.js';

export interface ProcessFleet {
  dir: string;
  ids: string[];
  pids: number[];
  stop(): Promise<void>;
}

const CHILD = fileURLToPath(new URL('./fleet-child.js', import.meta.url));

/** `count` agents in `processes` child processes (agents numbered on across them). */
export async function startFleetProcesses(o: Omit<SimOptions, 'log' | 'firstIndex'> & { processes: number }): Promise<ProcessFleet> {
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'ferry-sim-'));
  const n = Math.max(1, Math.min(o.processes, o.count));
  const children: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.send({ type: 'stop' }, (err) => err && c.kill('SIGKILL'));
            setTimeout(() => c.kill('SIGKILL'), 30_000).unref();
          }),
      ),
    );
    if (!o.dir) rmSync(dir, { recursive: true, force: true });
  };
  const { processes: _, ...rest } = o;
  try {
    const parts = await Promise.all(
      Array.from({ length: n }, (_, p) => {
        const first = Math.floor((o.count * p) / n);
        const count = Math.floor((o.count * (p + 1)) / n) - first;
        const child = fork(CHILD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        children.push(child);
        return new Promise<string[]>((resolve, reject) => {
          child.once('exit', (code) => reject(new Error(`simulator process ${p + 1} exited (${String(code)})`)));
          child.on('message', (m: { type: string; ids?: string[]; error?: string }) => {
            if (m.type === 'started') resolve(m.ids ?? []);
            if (m.type === 'failed') reject(new Error(`simulator process ${p + 1}: ${m.error ?? 'failed'}`));
          });
          child.send({ type: 'start', options: { ...rest, dir: join(dir, `p${p + 1}`), count, firstIndex: first } });
        });
      }),
    );
    return { dir, ids: parts.flat(), pids: children.map((c) => c.pid!), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
