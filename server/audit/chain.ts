// The audit log's hash chain: each record's hash covers its content and the hash of the record
// before it (kept in audit_chain beside the append-only audit table). Editing, inserting or
// deleting a row in the SQLite file breaks the chain at that row, which `ferry audit verify`
// reports. (Someone who can write the file and recompute every later hash is caught only by
// comparing the head hash with a copy kept elsewhere: `audit verify --json` prints it.)
import { createHash } from 'node:crypto';
import type { Db } from '../db/open.js';

export const GENESIS = '0'.repeat(64);

export interface AuditRow {
  id: number;
  ts: number;
  actor: string;
  action: string;
  target: string | null;
  args: string;
  result: string;
  error: string | null;
}

export function recordHash(prev: string, r: AuditRow): string {
  return createHash('sha256').update(JSON.stringify([prev, r.id, r.ts, r.actor, r.action, r.target, r.args, r.result, r.error])).digest('hex');
}

/** The hash of the newest chained record (GENESIS for an empty log). */
export function chainHead(db: Db): string {
  return (db.prepare('SELECT hash FROM audit_chain ORDER BY id DESC LIMIT 1').get() as { hash: string } | undefined)?.hash ?? GENESIS;
}

/** The meta key recorded when the chain starts (its value: when, and how many older rows were chained). */
export const CHAIN_STARTED_KEY = 'audit.chain.started';

export interface ChainStart {
  /** rows of an older data directory chained now, at the start that created the chain (0 afterwards) */
  chainedNow: number;
  /** rows missing from the chain (inserted in the file since): reported by verify, never chained */
  unchained: number;
}

/**
 * Run at every server start. Only the first start with the chain (no start marker yet) chains the
 * rows already in the log, as a migration, and records the marker in the same transaction.
 * After that nothing is chained here: a row written into the file while the server was stopped,
 * or a chain emptied, stays outside the chain and `ferry audit verify` reports it as inserted.
 */
export function startChain(db: Db): ChainStart {
  return db.transaction((): ChainStart => {
    if (db.prepare('SELECT 1 FROM meta WHERE key = ?').get(CHAIN_STARTED_KEY)) {
      const { n } = db.prepare('SELECT count(*) AS n FROM audit WHERE id NOT IN (SELECT id FROM audit_chain)').get() as { n: number };
      return { chainedNow: 0, unchained: n };
    }
    const rows = db.prepare('SELECT * FROM audit WHERE id > (SELECT coalesce(max(id), 0) FROM audit_chain) ORDER BY id').all() as AuditRow[];
    let prev = chainHead(db);
    const insert = db.prepare('INSERT INTO audit_chain (id, prev, hash) VALUES (?, ?, ?)');
    for (const r of rows) {
      const hash = recordHash(prev, r);
      insert.run(r.id, prev, hash);
      prev = hash;
    }
    db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run(CHAIN_STARTED_KEY, JSON.stringify({ at: new Date().toISOString(), chained: rows.length, lastId: rows.at(-1)?.id ?? null }));
    return { chainedNow: rows.length, unchained: 0 };
  })();
}

export type ChainBreak = NonNullable<ChainReport['firstBreak']>;

export type { ChainReport } from '../../shared/protocol/replies.js';
import type { ChainReport } from '../../shared/protocol/replies.js';

/** Walk the log from the first record; stop at the first break. */
export function verifyChain(db: Db): ChainReport {
  const audit = db.prepare('SELECT * FROM audit ORDER BY id').iterate() as IterableIterator<AuditRow>;
  const chain = (db.prepare('SELECT id, prev, hash FROM audit_chain ORDER BY id').all() as { id: number; prev: string; hash: string }[]);
  let i = 0;
  let prev = GENESIS;
  let records = 0;
  const broken = (b: ChainBreak): ChainReport => ({ ok: false, records, head: prev, firstBreak: b });
  for (const row of audit) {
    const link = chain[i];
    if (!link || link.id > row.id) {
      if (typeof audit.return === 'function') audit.return();
      return broken({ id: row.id, kind: 'inserted', detail: `record ${row.id} is not in the hash chain` });
    }
    if (link.id < row.id) {
      if (typeof audit.return === 'function') audit.return();
      return broken({ id: link.id, kind: 'deleted', detail: `record ${link.id} is in the hash chain but missing from the log` });
    }
    if (link.prev !== prev) {
      if (typeof audit.return === 'function') audit.return();
      return broken({ id: row.id, kind: 'deleted', detail: `the chain before record ${row.id} does not link (a record before it was removed or the chain rewritten)` });
    }
    if (recordHash(prev, row) !== link.hash) {
      if (typeof audit.return === 'function') audit.return();
      return broken({ id: row.id, kind: 'changed', detail: `record ${row.id} does not match its hash (changed after it was written)` });
    }
    prev = link.hash;
    records++;
    i++;
  }
  if (i < chain.length) return broken({ id: chain[i]!.id, kind: 'deleted', detail: `record ${chain[i]!.id} is in the hash chain but missing from the log` });
  return { ok: true, records, head: prev, firstBreak: null };
}
