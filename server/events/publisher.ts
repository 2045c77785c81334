// Drains the event outbox into the FERRY_EVENTS JetStream stream, in sequence order, in
// pipelined batches of acknowledged publishes. The event id is the JetStream message id, so an event
// published again after a crash (acked, but not yet marked in SQLite) is dropped as a duplicate.
// Runs beside the engine, never in its way: when NATS is slow or down, events wait in SQLite.
import { withStoreRetry } from '../nats/replicas.js';
import { jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { EVENTS_STREAM, EVENTS_SUBJECT_ALL, eventSubject } from '../../shared/protocol/events.js';
import { encodeMessage } from '../../shared/protocol/codec.js';
import { toEvent, type EventOutbox } from './outbox.js';

const DAY_NS = 24 * 3600 * 1e9;

export interface EventStreamLimits {
  maxAgeMs: number;
  maxBytes: number;
}

/** Retention of the event stream (and of undelivered webhook events in the outbox). */
export function eventStreamLimits(env: NodeJS.ProcessEnv = process.env): EventStreamLimits {
  return {
    maxAgeMs: Number(env.FERRY_EVENTS_MAX_AGE_MS ?? 30 * 24 * 3600 * 1000),
    maxBytes: Number(env.FERRY_EVENTS_MAX_BYTES ?? 1024 * 1024 * 1024),
  };
}

export async function ensureEventStream(nc: NatsConnection, limits: EventStreamLimits, replicas = 1): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const config = {
    name: EVENTS_STREAM,
    description: 'Ferry domain events (see docs/events.md)',
    subjects: [EVENTS_SUBJECT_ALL],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    max_age: Math.round(limits.maxAgeMs * 1e6),
    max_bytes: limits.maxBytes,
    max_msg_size: 256 * 1024,
    // Long enough to cover a restart between an acked publish and its mark in SQLite.
    duplicate_window: Math.min(Math.round(limits.maxAgeMs * 1e6), DAY_NS / 24),
    num_replicas: replicas,
  };
  try {
    await jsm.streams.info(EVENTS_STREAM);
    await jsm.streams.update(EVENTS_STREAM, config);
  } catch {
    await withStoreRetry(() => jsm.streams.add(config));
  }
}

export class EventPublisher {
  private js?: JetStreamClient;
  private draining?: Promise<void>;
  private again = false;
  private stopped = false;
  private retryTimer?: NodeJS.Timeout;
  private pruneTimer?: NodeJS.Timeout;
  private unsubscribe?: () => void;
  private failures = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly outbox: EventOutbox,
    private readonly log: Logger,
    private readonly limits: EventStreamLimits = eventStreamLimits(),
  ) {}

  async start(replicas = 1): Promise<void> {
    await ensureEventStream(this.nc, this.limits, replicas);
    this.js = jetstream(this.nc, { timeout: 5000 });
    this.unsubscribe = this.outbox.onRecord(() => void this.drain());
    this.pruneTimer = setInterval(() => this.prune(), 60_000);
    this.pruneTimer.unref();
    void this.drain();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    clearTimeout(this.retryTimer);
    clearInterval(this.pruneTimer);
    await this.draining;
  }

  /** Publish everything not yet published; concurrent calls coalesce into one more pass. */
  drain(): Promise<void> {
    if (this.draining) {
      this.again = true;
      return this.draining;
    }
    this.draining = (async () => {
      do {
        this.again = false;
        await this.publishPending();
      } while (this.again && !this.stopped);
    })().finally(() => (this.draining = undefined));
    return this.draining;
  }

  private async publishPending(): Promise<void> {
    const js = this.js;
    if (!js) return;
    for (;;) {
      if (this.stopped) return;
      const rows = this.outbox.unpublished(256);
      if (rows.length === 0) return;
      // The batch goes out pipelined: one connection keeps the order, and the acks are awaited
      // together. Published rows are marked in one transaction, up to the first failure.
      const results = await Promise.all(rows.map((row) => js.publish(eventSubject(row.type), encodeMessage(toEvent(row)), { msgID: row.id }).then(() => undefined, (err: unknown) => err ?? new Error('publish failed'))));
      const failedAt = results.findIndex((r) => r !== undefined);
      const done = failedAt < 0 ? rows : rows.slice(0, failedAt);
      if (done.length) this.outbox.transaction(() => done.forEach((row) => this.outbox.markPublished(row.seq)));
      if (failedAt >= 0) {
        // Try again later, from this event: order is kept, nothing is skipped (later events of
        // the batch that did reach the stream are dropped as duplicates by their message id).
        this.failures++;
        const delay = Math.min(30_000, 500 * 2 ** Math.min(this.failures, 6));
        if (this.failures === 1 || this.failures % 20 === 0) this.log.warn({ err: String(results[failedAt]), seq: rows[failedAt]!.seq, retryInMs: delay }, 'cannot publish events to JetStream yet; they wait in the outbox');
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => void this.drain(), delay);
        return;
      }
      this.failures = 0;
      if (this.stopped) return;
    }
  }

  private prune(): void {
    try {
      const n = this.outbox.prune(this.limits.maxAgeMs);
      if (n) this.log.debug({ events: n }, 'pruned delivered events from the outbox');
    } catch (err) {
      this.log.warn({ err }, 'outbox prune failed');
    }
  }
}
