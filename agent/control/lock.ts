// One writer per journal: the process that runs install operations on a state directory (the
// daemon, or `ferry-agent rollback` when no daemon runs) holds <state-dir>/agent.lock, a file
// created with link(2) (atomic, fails if it exists) naming its pid and role. A lock whose process
// is gone (SIGKILL, power cut) is stale and taken over.
import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { FerryError } from '../../shared/errors.js';

export type LockRole = 'daemon' | 'local-rollback';

export interface LockHolder {
  pid: number;
  role: LockRole;
  since: string;
}

export function lockFile(stateDir: string): string {
  return join(stateDir, 'agent.lock');
}

export function readLock(stateDir: string): LockHolder | undefined {
  try {
    return JSON.parse(readFileSync(lockFile(stateDir), 'utf8')) as LockHolder;
  } catch {
    return undefined;
  }
}

/** The live process holding the lock, if any (a stale lock counts as none). */
export function lockHolder(stateDir: string): LockHolder | undefined {
  const h = readLock(stateDir);
  return h && h.pid !== process.pid && isAlive(h.pid) ? h : undefined;
}

export class StateLock {
  private constructor(
    private readonly file: string,
    private readonly token: string,
  ) {}

  /** Take the lock, or throw FERRY_AGENT_BUSY naming the live holder. */
  static acquire(stateDir: string, role: LockRole): StateLock {
    const file = lockFile(stateDir);
    const token = randomBytes(8).toString('hex');
    const body = JSON.stringify({ pid: process.pid, role, since: new Date().toISOString(), token });
    const tmp = `${file}.${token}`;
    writeFileSync(tmp, body, { mode: 0o600 });
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          linkSync(tmp, file);
          return new StateLock(file, token);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
        const holder = readLock(stateDir);
        if (holder && holder.pid !== process.pid && isAlive(holder.pid)) throw busy(stateDir, holder);
        rmSync(file, { force: true }); // stale (its process is gone), or our own from before
      }
      throw new FerryError('FERRY_AGENT_BUSY', `could not take ${file}: other processes keep taking it`);
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  /** Wait (polling) until the lock is free, up to timeoutMs; for a daemon starting beside a local rollback. */
  static async wait(stateDir: string, role: LockRole, timeoutMs: number, onWait: (holder: LockHolder) => void, signal?: AbortSignal): Promise<StateLock> {
    const deadline = Date.now() + timeoutMs;
    let told = false;
    for (;;) {
      try {
        return StateLock.acquire(stateDir, role);
      } catch (err) {
        const holder = lockHolder(stateDir);
        if (!(err instanceof FerryError) || err.code !== 'FERRY_AGENT_BUSY' || Date.now() > deadline) throw err;
        if (holder && !told) onWait(holder);
        told = true;
        await sleep(200, undefined, { signal }); // rejects once the caller stops waiting
      }
    }
  }

  release(): void {
    try {
      const held = JSON.parse(readFileSync(this.file, 'utf8')) as { token?: string };
      if (held.token === this.token) rmSync(this.file, { force: true });
    } catch {
      // already gone
    }
  }
}

function busy(stateDir: string, h: LockHolder): FerryError {
  const who = h.role === 'daemon' ? `the agent daemon (pid ${h.pid})` : `a local \`ferry-agent rollback\` (pid ${h.pid})`;
  return new FerryError('FERRY_AGENT_BUSY', `${who} is working on ${stateDir} since ${h.since}`, { hint: 'wait for it to finish, then try again' });
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
