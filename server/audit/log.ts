// The audit log: every administrative action — who, when, what, on what, and how it ended.
// Append-only: the table has triggers that refuse UPDATE and DELETE, and this module only inserts.
// Each record is hash-chained to the one before (chain.ts), in the same transaction.
import type { Db } from '../db/open.js';
import { statementCache, type Prepare } from '../../shared/sqlite.js';
import { ensureOperatorSchema } from '../operators/schema.js';
import { chainHead, recordHash, startChain, type AuditRow, type ChainStart } from './chain.js';

export type { AuditEntry } from '../../shared/protocol/replies.js';
import type { AuditEntry } from '../../shared/protocol/replies.js';
import { shownWebhookUrl } from '../notify/service.js';

export interface AuditQuery {
  since?: number | undefined;
  actor?: string | undefined;
  /** an action name, or a prefix ending in `*` (e.g. `rollout.*`) */
  action?: string | undefined;
  limit: number;
}

/** Request fields never written to the log. */
const SECRET_KEY = /secret|token|password|seed/i;

export class AuditLog {
  private readonly sql: Prepare;
  /** what this start found: older rows chained once (the migration), or rows missing from the chain */
  readonly started: ChainStart;

  constructor(private readonly db: Db) {
    ensureOperatorSchema(db);
    this.started = startChain(db);
    this.sql = statementCache(db);
  }

  record(e: { actor: string; action: string; target: string | null; args: Record<string, unknown>; error?: { code: string; message: string } | undefined }): void {
    this.db.transaction(() => {
      const info = this.sql('INSERT INTO audit (ts, actor, action, target, args, result, error) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
        Date.now(),
        e.actor,
        e.action,
        e.target,
        JSON.stringify(redact(e.args)),
        e.error ? 'error' : 'ok',
        e.error ? `${e.error.code}: ${e.error.message}` : null,
      );
      const row = this.sql('SELECT * FROM audit WHERE id = ?').get(info.lastInsertRowid) as AuditRow;
      const prev = chainHead(this.db);
      this.sql('INSERT INTO audit_chain (id, prev, hash) VALUES (?, ?, ?)').run(row.id, prev, recordHash(prev, row));
    })();
  }

  /** Oldest first, the newest `limit` entries that match. */
  list(q: AuditQuery): AuditEntry[] {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (q.since !== undefined) {
      where.push('ts >= ?');
      params.push(q.since);
    }
    if (q.actor) {
      where.push('actor = ?');
      params.push(q.actor);
    }
    if (q.action) {
      if (q.action.endsWith('*')) {
        where.push("action LIKE ? ESCAPE '\\'");
        params.push(`${q.action.slice(0, -1).replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
      } else {
        where.push('action = ?');
        params.push(q.action);
      }
    }
    const rows = this.sql(`SELECT * FROM (SELECT * FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?) ORDER BY id`).all(...params, q.limit) as (AuditRow & { result: 'ok' | 'error' })[];
    return rows.map((r) => ({ id: r.id, at: new Date(r.ts).toISOString(), actor: r.actor, action: r.action, target: r.target, args: JSON.parse(r.args) as Record<string, unknown>, result: r.result, error: r.error }));
  }
}

/** What is kept of a request's arguments: no actor, no secrets; a URL without its user info and query (a webhook's token or password, readable by every viewer). */
function redact(args: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(args).filter(([k]) => k !== 'actor').map(([k, v]) => [k, SECRET_KEY.test(k) ? '[redacted]' : typeof v === 'string' && /^https?:\/\//i.test(v) ? shownWebhookUrl(v) : v]));
}
