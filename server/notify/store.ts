// Webhooks in SQLite: where to POST, which events, the signing secret, and a delivery cursor
// (the outbox sequence of the last event handled) so delivery resumes in order after a
// receiver outage or a server restart.
import { statementCache, type Prepare } from '../../shared/sqlite.js';
import type { Db } from '../db/open.js';

export interface Webhook {
  id: string;
  url: string;
  /** event-type patterns (exact types or globs, see shared/protocol/events.ts) */
  events: string[];
  /** only events of this release (its communication plan), or every event */
  release: string | null;
  secret: string;
  cursor: number;
  createdAt: number;
  delivered: number;
  /** failed attempts, in total */
  failures: number;
  /** consecutive failed attempts on the event at the cursor (drives the backoff) */
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  lastAttemptAt: number | null;
  lastDeliveredAt: number | null;
}

interface WebhookRow {
  id: string;
  url: string;
  events: string;
  release: string | null;
  secret: string;
  cursor: number;
  created_at: number;
  delivered: number;
  failures: number;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  last_attempt_at: number | null;
  last_delivered_at: number | null;
}

export class WebhookStore {
  private readonly sql: Prepare;

  constructor(private readonly db: Db) {
    this.sql = statementCache(db);
  }

  add(h: Pick<Webhook, 'id' | 'url' | 'events' | 'release' | 'secret' | 'cursor'>): Webhook {
    this.sql('INSERT INTO webhooks (id, url, events, release, secret, cursor, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(h.id, h.url, JSON.stringify(h.events), h.release, h.secret, h.cursor, Date.now());
    return this.get(h.id)!;
  }

  get(id: string): Webhook | undefined {
    const row = this.sql('SELECT * FROM webhooks WHERE id = ?').get(id) as WebhookRow | undefined;
    return row && toWebhook(row);
  }

  list(): Webhook[] {
    return (this.sql('SELECT * FROM webhooks ORDER BY created_at, id').all() as WebhookRow[]).map(toWebhook);
  }

  remove(id: string): boolean {
    return this.sql('DELETE FROM webhooks WHERE id = ?').run(id).changes > 0;
  }

  /** Events up to `seq` were not for this webhook: skip them. */
  skipTo(id: string, seq: number): void {
    this.sql('UPDATE webhooks SET cursor = max(cursor, ?) WHERE id = ?').run(seq, id);
  }

  delivered(id: string, seq: number, status: number): void {
    const now = Date.now();
    this.sql('UPDATE webhooks SET cursor = max(cursor, ?), delivered = delivered + 1, attempts = 0, last_status = ?, last_error = NULL, last_attempt_at = ?, last_delivered_at = ? WHERE id = ?').run(seq, status, now, now, id);
  }

  failed(id: string, status: number | null, error: string): void {
    this.sql('UPDATE webhooks SET failures = failures + 1, attempts = attempts + 1, last_status = ?, last_error = ?, last_attempt_at = ? WHERE id = ?').run(status, error.slice(0, 500), Date.now(), id);
  }

  /** Events after the cursor this webhook still has to deliver. */
  pending(h: Webhook): number {
    // Patterns are [a-z0-9.*-] only (validated), so `*` is the only GLOB metacharacter in them.
    const globs = h.events.map(() => 'type GLOB ?').join(' OR ');
    const row = this.db.prepare(`SELECT count(*) AS n FROM event_outbox WHERE seq > ? AND (${globs}) AND (? IS NULL OR release = ?)`).get(h.cursor, ...h.events, h.release, h.release) as { n: number };
    return row.n;
  }
}

function toWebhook(r: WebhookRow): Webhook {
  return {
    id: r.id,
    url: r.url,
    events: JSON.parse(r.events) as string[],
    release: r.release,
    secret: r.secret,
    cursor: r.cursor,
    createdAt: r.created_at,
    delivered: r.delivered,
    failures: r.failures,
    attempts: r.attempts,
    lastStatus: r.last_status,
    lastError: r.last_error,
    lastAttemptAt: r.last_attempt_at,
    lastDeliveredAt: r.last_delivered_at,
  };
}
