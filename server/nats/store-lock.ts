// One nats-server per JetStream store, and its life tied to the `ferry server` that started it.
//
// The embedded nats-server is a child process: when `ferry server` is SIGKILLed (or the host's
// OOM killer picks it) the child lives on, re-parented to init, still listening on the port
// agents were given and still writing the store. This module makes the next start deal with it:
//
// - `<natsDir>/store.lock` (created with O_EXCL) names the owning server process and, once it
//   runs, its nats-server (pid, /proc start time, URL). A second server on the same data
//   directory is refused with FERRY_NATS_STORE_LOCKED while the owner lives.
// - `<natsDir>/nats.pid` holds the nats-server's pid alone, for operators and scripts.
// - A lock whose owner is gone is stale: its nats-server, if still running, is stopped (SIGTERM,
//   then SIGKILL) before a new one starts. So is any other nats-server process whose command line
//   runs this directory's nats.conf (a lock lost or written by an older Ferry).
// - A process is "the same" only if its pid and its start time (from /proc) both match, so a
//   reused pid is never killed.
//
// Linux-only parts (/proc) degrade to "pid exists" checks elsewhere.
import { closeSync, existsSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync, writeSync, renameSync } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { FerryError } from '../../shared/errors.js';

const LOCK_FILE = 'store.lock';
const PID_FILE = 'nats.pid';
const STOP_WAIT_MS = 5_000;
const KILL_WAIT_MS = 2_000;

interface ProcessRef {
  pid: number;
  /** /proc/<pid>/stat start time (clock ticks since boot); null where /proc is missing */
  start: string | null;
}

interface LockRecord {
  version: 1;
  host: string;
  owner: ProcessRef;
  nats?: ProcessRef & { url?: string | undefined };
  since: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The start time of a live process, '' if it lives but /proc says nothing, undefined if gone. */
function startTimeOf(pid: number): string | null | undefined {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z') return undefined; // a zombie is gone for our purposes
    return fields[19] ?? null; // field 22 of stat(5): starttime
  } catch {
    return null;
  }
}

function refOf(pid: number): ProcessRef {
  return { pid, start: startTimeOf(pid) ?? null };
}

/** Whether `ref` is still the very process it was (same pid, same start time). */
function isAlive(ref: ProcessRef): boolean {
  const start = startTimeOf(ref.pid);
  if (start === undefined) return false;
  return ref.start === null || start === null || start === ref.start;
}

/** nats-server processes (other than `except`) whose command line runs this config file. */
export function natsServersUsing(configPath: string, except: ReadonlySet<number> = new Set()): number[] {
  const wanted = resolve(configPath);
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === process.pid || except.has(pid)) continue;
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      if (!argv[0] || !/nats-server$/.test(argv[0])) continue;
      const i = argv.findIndex((a) => a === '-c' || a === '--config');
      const conf = i >= 0 ? argv[i + 1] : undefined;
      if (!conf) continue;
      const abs = isAbsolute(conf) ? conf : resolve(readlinkSync(`/proc/${pid}/cwd`), conf);
      if (abs === wanted) found.push(pid);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/** SIGTERM, then SIGKILL; resolves once the process is gone. */
async function stopProcess(ref: ProcessRef, log: Logger | undefined, why: string): Promise<void> {
  if (!isAlive(ref)) return;
  log?.warn({ pid: ref.pid }, `stopping ${why}`);
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(ref.pid, sig);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  for (const [wait, next] of [[STOP_WAIT_MS, 'SIGKILL'], [KILL_WAIT_MS, undefined]] as const) {
    const deadline = Date.now() + wait;
    while (Date.now() < deadline) {
      if (!isAlive(ref)) return;
      await sleep(25);
    }
    if (next) {
      log?.warn({ pid: ref.pid }, `${why} did not stop within ${wait / 1000}s; killing it`);
      signal(next);
    }
  }
  if (isAlive(ref)) throw new FerryError('FERRY_NATS_FAILED', `cannot stop ${why} (pid ${ref.pid})`, { hint: `stop it by hand: kill -9 ${ref.pid}` });
}

/**
 * The lock on one nats data directory (config, ports file, JetStream store), held by this process
 * from before its nats-server starts until after it stopped.
 */
export class NatsStoreLock {
  private record: LockRecord;
  private released = false;

  private constructor(
    private readonly dir: string,
    record: LockRecord,
  ) {
    this.record = record;
  }

  get lockPath(): string {
    return join(this.dir, LOCK_FILE);
  }

  get pidPath(): string {
    return join(this.dir, PID_FILE);
  }

  /**
   * Take the lock on `dir`; a stale owner's nats-server (and any stray nats-server running this
   * directory's config) is stopped first. FERRY_NATS_STORE_LOCKED while another server owns it.
   */
  static async acquire(dir: string, configPath: string, log?: Logger): Promise<NatsStoreLock> {
    const path = join(dir, LOCK_FILE);
    const mine: LockRecord = { version: 1, host: hostname(), owner: refOf(process.pid), since: new Date().toISOString() };
    for (let attempt = 0; attempt < 5; attempt++) {
      let fd: number;
      try {
        fd = openSync(path, 'wx', 0o600);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        await clearStaleLock(path, log);
        continue;
      }
      try {
        writeSync(fd, JSON.stringify(mine, null, 2));
      } finally {
        closeSync(fd);
      }
      const lock = new NatsStoreLock(dir, mine);
      // Strays without a lock (an older Ferry, a lock file deleted by hand) are stopped too: never
      // two nats-servers on one store.
      for (const pid of natsServersUsing(configPath)) await stopProcess(refOf(pid), log, 'a stray nats-server of this data directory');
      rmSync(lock.pidPath, { force: true });
      return lock;
    }
    throw new FerryError('FERRY_NATS_STORE_LOCKED', `could not take the lock ${path}: other servers keep starting on this data directory`);
  }

  /** Record the running nats-server (after start and after every supervised restart). */
  recordNats(pid: number | undefined, url: string): void {
    if (this.released || pid === undefined) return;
    this.record = { ...this.record, nats: { ...refOf(pid), url } };
    const tmp = `${this.lockPath}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.record, null, 2), { mode: 0o600 });
    renameSync(tmp, this.lockPath);
    writeFileSync(this.pidPath, `${pid}\n`);
  }

  /** After the nats-server stopped. Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    rmSync(this.pidPath, { force: true });
    rmSync(this.lockPath, { force: true });
  }
}

/** Remove a lock whose owner is gone (stopping its nats-server); refuse one whose owner lives. */
async function clearStaleLock(path: string, log: Logger | undefined): Promise<void> {
  let record: LockRecord | undefined;
  try {
    record = JSON.parse(readFileSync(path, 'utf8')) as LockRecord;
  } catch {
    // Empty or torn: its writer died between create and write (it writes a few hundred bytes at once).
    record = undefined;
  }
  if (record && record.host !== hostname()) {
    throw new FerryError('FERRY_NATS_STORE_LOCKED', `the NATS store in ${join(path, '..')} is locked by a server on host ${record.host} (pid ${record.owner.pid})`, {
      hint: `stop that server; if it is gone for good, delete ${path}`,
    });
  }
  if (record && isAlive(record.owner) && record.owner.pid !== process.pid) {
    const nats = record.nats ? `; its nats-server is pid ${record.nats.pid}${record.nats.url ? ` on ${record.nats.url}` : ''}` : '';
    throw new FerryError('FERRY_NATS_STORE_LOCKED', `the NATS store in ${join(path, '..')} is in use by ferry server pid ${record.owner.pid}${nats}`, {
      hint: `one server per data directory: stop that one first (kill ${record.owner.pid}), or use another --data-dir`,
    });
  }
  if (record?.nats) await stopProcess(record.nats, log, `the nats-server left running by a ferry server that died (pid ${record.owner.pid})`);
  if (existsSync(path)) rmSync(path, { force: true });
}

/**
 * A start that failed because the port is taken, said as such: agents were given that address,
 * so the server never moves to another one by itself.
 */
export function portTakenError(err: unknown, host: string, port: number, pinned: boolean): FerryError | undefined {
  const text = err instanceof Error ? err.message : String(err);
  if (!/address already in use/i.test(text) || port === 0) return undefined;
  return new FerryError('FERRY_NATS_PORT_TAKEN', `NATS port ${host}:${port} is in use by another process${pinned ? ' (the port agents were given at join)' : ''}`, {
    hint: pinned
      ? `free it (see: ss -ltnp 'sport = :${port}'), or move on purpose with --listen ${host}:PORT and tell the agents the new address`
      : `free it (see: ss -ltnp 'sport = :${port}'), or give another --listen`,
    cause: err,
  });
}
