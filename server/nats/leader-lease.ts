// One ferry server per NATS: a lease in a replicated KV bucket, held while a server runs (against
// an external NATS or cluster, `ferry server --nats`, or its embedded one). Two servers writing the
// same streams, desired states and report consumer would each drive rollouts from their own SQLite
// and undo each other.
//
// - The bucket `ferry-leader` keeps one key, `leader`, with history 1 and a max age of the lease
//   (15 s): nats-server removes a value nobody renews, on its own clock, so a crashed holder's
//   lease ends without anyone comparing clocks.
// - A server starts by creating the key (an expected-last-sequence 0 write: only one of two
//   servers racing can win). If it exists, the starter watches it for one renewal interval: a
//   revision that moves means a live holder, and the start is refused (FERRY_SERVER_ACTIVE). A
//   holder on this very machine whose process is gone is released at once (a conditional delete).
// - The holder renews with `update(…, revision)` every lease/3. A renewal that meets another
//   revision means someone else holds the key: the server was deposed and must stop (`onLost`).
//   A lease that expired while nobody took it is simply created again.
// - A clean stop deletes the key (conditionally), so the next start does not wait.
//
// What this does not do (docs/scaling.md, "hot standby"): fence the writes themselves. A server cut
// off from NATS for longer than the lease learns of its deposition on its next renewal, at most
// lease/3 after NATS answers again; until then its writes are not refused.
import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { FerryError } from '../../shared/errors.js';
import { BUCKETS } from '../../shared/protocol/subjects.js';
import { scaleStream, withStoreRetry } from './replicas.js';

export const LEADER_BUCKET = BUCKETS.leader;
const KEY = 'leader';
const DEFAULT_LEASE_MS = 15_000;

/** Who holds the lease: enough for an operator to find the other server. */
export interface LeaseHolder {
  id: string;
  host: string;
  pid: number;
  dataDir: string;
  since: string;
}

export interface LeaseOptions {
  replicas: number;
  dataDir: string;
  log: Logger;
  /** the lease; renewals every third of it (default 15 s, FERRY_LEADER_LEASE_MS) */
  leaseMs?: number;
  /** this machine's name (tests give two leases different hosts) */
  host?: string;
  /** whether a process of this machine runs (default: signal 0) */
  isRunning?: (pid: number) => boolean;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isWrongSequence(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}

/** The holder a value names; undefined for a deleted (or expired) key. */
function holderOf(entry: KvEntry | null): LeaseHolder | undefined {
  if (!entry || entry.operation !== 'PUT') return undefined;
  try {
    return entry.json<LeaseHolder>();
  } catch {
    return { id: '', host: 'an unknown host', pid: 0, dataDir: 'unknown', since: entry.created.toISOString() };
  }
}

function describe(h: LeaseHolder): string {
  return `${h.host} pid ${h.pid} (data directory ${h.dataDir}, since ${h.since})`;
}

export function serverActiveError(h: LeaseHolder, leaseMs: number): FerryError {
  return new FerryError('FERRY_SERVER_ACTIVE', `another ferry server runs against this NATS: ${describe(h)}`, {
    hint: `one ferry server per NATS: stop the other one first (a crashed one's lease ends by itself within ${formatLease(leaseMs)})`,
  });
}

function formatLease(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

export class LeaderLease {
  private revision = 0;
  private timer: NodeJS.Timeout | undefined;
  private renewing: Promise<void> | undefined;
  private lostHandler: ((err: FerryError) => void) | undefined;

  private constructor(
    private readonly kv: KV,
    private readonly me: LeaseHolder,
    private readonly leaseMs: number,
    private readonly opts: LeaseOptions,
  ) {}

  /** Take the lease, or throw FERRY_SERVER_ACTIVE while another server holds it. */
  static async acquire(nc: NatsConnection, opts: LeaseOptions): Promise<LeaderLease> {
    const wantedMs = opts.leaseMs ?? (Number(process.env.FERRY_LEADER_LEASE_MS) || DEFAULT_LEASE_MS);
    const kvm = new Kvm(nc);
    // An existing bucket is opened as it is (its own lease counts), and scaled to the replicas of
    // the NATS it is on now (a one-node server that moved to a cluster).
    const kv = await withStoreRetry(() => kvm.create(LEADER_BUCKET, { history: 1, ttl: wantedMs, replicas: opts.replicas, description: 'Ferry: the one ferry server that runs against this NATS (a lease)' }));
    await scaleStream(nc, `KV_${LEADER_BUCKET}`, opts.replicas);
    const leaseMs = (await kv.status()).ttl || wantedMs;
    const me: LeaseHolder = { id: randomUUID(), host: opts.host ?? hostname(), pid: process.pid, dataDir: opts.dataDir, since: new Date().toISOString() };
    const lease = new LeaderLease(kv, me, leaseMs, opts);
    await lease.take();
    lease.timer = setInterval(() => {
      lease.renewing ??= lease.renew().finally(() => (lease.renewing = undefined));
    }, Math.max(50, Math.floor(leaseMs / 3)));
    return lease;
  }

  /** Called once if another server takes the lease from this one (this server must stop). */
  onLost(handler: (err: FerryError) => void): void {
    this.lostHandler = handler;
  }

  /** Stop renewing and give the lease up (a conditional delete: never someone else's). */
  async release(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.renewing;
    if (this.revision > 0) await this.kv.delete(KEY, { previousSeq: this.revision }).catch(() => undefined);
    this.revision = 0;
  }

  private async take(): Promise<void> {
    const renewMs = Math.floor(this.leaseMs / 3);
    let seen: { revision: number; at: number } | undefined;
    let waitingLogged = false;
    for (;;) {
      try {
        this.revision = await this.kv.create(KEY, JSON.stringify(this.me));
        this.opts.log.info({ leaseMs: this.leaseMs }, 'holding the server lease of this NATS');
        return;
      } catch (err) {
        if (!isWrongSequence(err)) throw err;
      }
      const entry = await this.kv.get(KEY);
      const holder = holderOf(entry);
      if (!entry || !holder) continue; // gone meanwhile: create again
      const isRunning = this.opts.isRunning ?? processRuns;
      if (holder.host === this.me.host && !isRunning(holder.pid)) {
        this.opts.log.info({ holder }, 'the server lease belongs to a process of this machine that is gone: released');
        await this.kv.delete(KEY, { previousSeq: entry.revision }).catch(() => undefined);
        continue;
      }
      // A live holder renews within a third of the lease; one that does not is let expire.
      if (seen && seen.revision !== entry.revision) throw serverActiveError(holder, this.leaseMs);
      if (!seen) seen = { revision: entry.revision, at: Date.now() };
      if (Date.now() - seen.at > renewMs + 1000 && !waitingLogged) {
        waitingLogged = true;
        this.opts.log.warn({ holder, leaseMs: this.leaseMs }, 'the server lease is not renewed: waiting for it to end');
      }
      if (Date.now() - seen.at > 2 * this.leaseMs) throw serverActiveError(holder, this.leaseMs);
      await sleep(Math.min(1000, Math.max(25, Math.floor(renewMs / 4))));
    }
  }

  private async renew(): Promise<void> {
    if (!this.timer) return;
    try {
      this.revision = await this.kv.update(KEY, JSON.stringify(this.me), this.revision);
      return;
    } catch (err) {
      if (!isWrongSequence(err)) {
        // NATS away or slow: keep trying; the next answer says whether the lease is still ours.
        this.opts.log.warn({ err: String(err) }, 'could not renew the server lease; trying again');
        return;
      }
    }
    const entry = await this.kv.get(KEY).catch(() => null);
    const holder = holderOf(entry);
    if (entry && holder?.id === this.me.id) {
      // Our own renewal landed but its answer was lost: carry on from the revision it made.
      this.revision = entry.revision;
      return;
    }
    if (holder) {
      clearInterval(this.timer);
      this.timer = undefined;
      this.revision = 0;
      this.opts.log.error({ holder }, 'another ferry server took the lease of this NATS: stopping');
      this.lostHandler?.(serverActiveError(holder, this.leaseMs));
      return;
    }
    // Expired while nobody took it (NATS was away longer than the lease): take it again.
    try {
      this.revision = await this.kv.create(KEY, JSON.stringify(this.me));
      this.opts.log.warn('the server lease had expired; holding it again');
    } catch (err) {
      this.opts.log.warn({ err: String(err) }, 'could not take the server lease again; trying again');
    }
  }
}
