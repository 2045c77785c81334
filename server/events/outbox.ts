// The event outbox: every domain event is a row in SQLite, written in the same transaction as
// the state change it describes. A change that committed always has its event, and one that
// rolled back never does; the publisher and the webhook dispatcher then read the table in
// sequence order at their own pace, so a slow or absent NATS or receiver never blocks the
// rollout engine, and neither loses anything across a server restart.
import { randomUUID } from 'node:crypto';
import { EVENT_SCHEMA_VERSION, eventSubject, type FerryEvent } from '../../shared/protocol/events.js';
import { statementCache, type Prepare } from '../../shared/sqlite.js';
import type { Db } from '../db/open.js';

export interface OutboxRow {
  seq: number;
  id: string;
  type: string;
  release: string | null;
  ts: number;
  data: string;
  published_at: number | null;
}

export type EventListener = () => void;

export class EventOutbox {
  private readonly sql: Prepare;
  private readonly listeners = new Set<EventListener>();
  private wakeScheduled = false;

  constructor(readonly db: Db) {
    this.sql = statementCache(db);
  }

  /** Run fn in a transaction (nested calls become savepoints). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /**
   * Record an event. Call it inside the transaction that makes the change; `data.release`
   * (when present) scopes the event to that release's communication plan.
   */
  record(type: string, data: Record<string, unknown>): void {
    const release = typeof data.release === 'string' ? data.release : null;
    this.sql('INSERT INTO event_outbox (id, type, release, ts, data) VALUES (?, ?, ?, ?, ?)').run(randomUUID(), type, release, Date.now(), JSON.stringify(data));
    this.scheduleWake();
  }

  /** Called (once per burst, after the current synchronous work) when new events are recorded. */
  onRecord(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  lastSeq(): number {
    return (this.sql('SELECT coalesce(max(seq), 0) AS s FROM event_outbox').get() as { s: number }).s;
  }

  unpublished(limit: number): OutboxRow[] {
    return this.sql('SELECT * FROM event_outbox WHERE published_at IS NULL ORDER BY seq LIMIT ?').all(limit) as OutboxRow[];
  }

  markPublished(seq: number): void {
    this.sql('UPDATE event_outbox SET published_at = ? WHERE seq = ?').run(Date.now(), seq);
  }

  /** Events after `seq`, in order. */
  after(seq: number, limit: number): OutboxRow[] {
    return this.sql('SELECT * FROM event_outbox WHERE seq > ? ORDER BY seq LIMIT ?').all(seq, limit) as OutboxRow[];
  }

  /**
   * Forget events nobody needs any more: published, and behind every webhook's cursor; events
   * older than maxAgeMs go regardless (a webhook that has failed for that long loses them).
   */
  prune(maxAgeMs: number): number {
    const minCursor = (this.sql('SELECT min(cursor) AS c FROM webhooks').get() as { c: number | null }).c;
    const done = this.sql('DELETE FROM event_outbox WHERE published_at IS NOT NULL AND seq <= ?').run(minCursor ?? Number.MAX_SAFE_INTEGER).changes;
    const old = this.sql('DELETE FROM event_outbox WHERE ts < ?').run(Date.now() - maxAgeMs).changes;
    return done + old;
  }

  private scheduleWake(): void {
    if (this.wakeScheduled) return;
    this.wakeScheduled = true;
    // After the current transaction has committed (it is synchronous), never inside it.
    setImmediate(() => {
      this.wakeScheduled = false;
      for (const l of this.listeners) l();
    });
  }
}

/** The wire form of an outbox row: the envelope documented in docs/events.md. */
export function toEvent(row: OutboxRow): FerryEvent {
  return {
    version: EVENT_SCHEMA_VERSION,
    id: row.id,
    seq: row.seq,
    type: row.type,
    ts: new Date(row.ts).toISOString(),
    subject: eventSubject(row.type),
    data: JSON.parse(row.data) as Record<string, unknown>,
  } as FerryEvent;
}
