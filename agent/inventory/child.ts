// Collects the host's inventory in a short-lived child process — the agent's own
// `ferry-agent inventory --json` — so the daemon never loads systeminformation (0.7 MB of code
// that would stay in its heap for good, for a probe that runs every few minutes). The child runs
// with the same Node runtime and flags as the daemon. If it cannot run or answers nonsense, the
// inventory is collected in this process instead (correct, only heavier).
import { spawn } from 'node:child_process';
import type { Logger } from 'pino';
import { inventorySchema, type InventoryDoc } from '../../shared/protocol/messages.js';
import { PROBE_TIMEOUT_MS } from './collect.js';

export interface ChildInventoryOptions {
  /** the agent's entry script (process.argv[1] of the daemon) */
  script: string;
  log: Logger;
  /** the child is killed after this long (default: four probe timeouts) */
  timeoutMs?: number;
  /** the agent is stopping: the child is killed, and nothing is collected in its place */
  signal?: AbortSignal;
}

export async function collectInventoryInChild(o: ChildInventoryOptions): Promise<InventoryDoc> {
  try {
    return await runChild(o);
  } catch (err) {
    o.signal?.throwIfAborted();
    o.log.warn({ reason: err instanceof Error ? err.message : String(err) }, 'inventory child failed; collecting in the agent process');
    const { collectInventory } = await import('./collect.js');
    return collectInventory();
  }
}

function runChild(o: ChildInventoryOptions): Promise<InventoryDoc> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, o.script, 'inventory', '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // its result is on stdout; nothing of it belongs in the daemon's log
      env: { ...process.env, FERRY_LOG_LEVEL: 'silent' },
      ...(o.signal ? { signal: o.signal, killSignal: 'SIGKILL' as const } : {}),
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 4 * PROBE_TIMEOUT_MS);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`ferry-agent inventory exited ${code ?? signal}: ${err.trim().split('\n').pop() ?? ''}`));
      try {
        resolve(inventorySchema.parse(JSON.parse(out)));
      } catch (e) {
        reject(new Error(`ferry-agent inventory printed no valid inventory: ${e instanceof Error ? e.message.slice(0, 200) : String(e)}`));
      }
    });
  });
}
