import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../db/open.js';
import { verifyChain } from './chain.js';
import { AuditLog } from './log.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-chain-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
let db: Db;

beforeEach(() => {
  db = openDatabase(join(dir, `server-${n++}.db`));
});
afterEach(() => db.close());

const fill = (audit: AuditLog, count: number) => {
  for (let i = 0; i < count; i++) audit.record({ actor: `p${i}`, action: 'release.create', target: `r${i}`, args: { name: `r${i}` } });
};
/** An intruder with the SQLite file: the append-only triggers are no obstacle. */
const intrude = (sql: string) => {
  db.exec('DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete; DROP TRIGGER IF EXISTS audit_chain_no_delete;');
  db.exec(sql);
};

describe('the audit hash chain', () => {
  it('an untouched log verifies, and the head changes with every record', () => {
    const audit = new AuditLog(db);
    expect(verifyChain(db)).toMatchObject({ ok: true, records: 0 });
    fill(audit, 3);
    const head = verifyChain(db).head;
    fill(audit, 1);
    expect(verifyChain(db)).toMatchObject({ ok: true, records: 4, firstBreak: null });
    expect(verifyChain(db).head).not.toBe(head);
  });

  it.each([
    ['changed', "UPDATE audit SET actor = 'mallory' WHERE id = 2", 2],
    ['changed', "UPDATE audit SET args = '{}' WHERE id = 3", 3],
    ['deleted', 'DELETE FROM audit WHERE id = 2', 2],
    ['deleted', 'DELETE FROM audit WHERE id = 2; DELETE FROM audit_chain WHERE id = 2', 3],
    ['deleted', 'DELETE FROM audit WHERE id = 4', 4],
    ['inserted', "INSERT INTO audit (id, ts, actor, action, target, args, result) VALUES (10, 1, 'x', 'y', NULL, '{}', 'ok')", 10],
  ] as const)('finds a record %s in the file (%s)', (kind, sql, id) => {
    fill(new AuditLog(db), 4);
    intrude(sql);
    const r = verifyChain(db);
    expect(r.ok).toBe(false);
    expect(r.firstBreak).toMatchObject({ kind, id });
  });

  it('chains the rows of a log written before the chain existed once, at the first start with the chain', () => {
    // an older data directory: audit rows, no audit_chain table and no start marker
    fill(new AuditLog(db), 2);
    intrude("DROP TABLE audit_chain; DELETE FROM meta WHERE key = 'audit.chain.started'");
    db.exec("INSERT INTO audit (ts, actor, action, target, args, result) VALUES (1, 'old', 'dml.add', NULL, '{}', 'ok')");
    const audit = new AuditLog(db); // what a server start does
    expect(audit.started).toEqual({ chainedNow: 3, unchained: 0 });
    fill(audit, 1);
    expect(verifyChain(db)).toMatchObject({ ok: true, records: 4 });
    expect(new AuditLog(db).started).toEqual({ chainedNow: 0, unchained: 0 }); // a later start chains nothing
  });

  it('a record inserted while the server is stopped is reported after the next start, not chained', () => {
    fill(new AuditLog(db), 3);
    intrude("INSERT INTO audit (ts, actor, action, target, args, result) VALUES (2, 'mallory', 'release.approve', 'web-1', '{}', 'ok')");
    const audit = new AuditLog(db); // the restart
    fill(audit, 1);
    const r = verifyChain(db);
    expect(r.ok).toBe(false);
    expect(r.firstBreak).toMatchObject({ kind: 'inserted', id: 4 });
    expect(r.firstBreak?.detail).toContain('record 4');
    expect(audit.started).toEqual({ chainedNow: 0, unchained: 1 }); // what the server logs as it starts
  });

  it('an emptied audit_chain is reported after the next start, not rebuilt', () => {
    fill(new AuditLog(db), 3);
    intrude('DELETE FROM audit_chain');
    const audit = new AuditLog(db); // the restart
    fill(audit, 1);
    const r = verifyChain(db);
    expect(r.ok).toBe(false);
    expect(r.firstBreak).toMatchObject({ kind: 'inserted', id: 1 });
    expect(audit.started).toEqual({ chainedNow: 0, unchained: 3 });
  });
});
