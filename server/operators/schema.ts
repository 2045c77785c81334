// Tables for people: the operator registry, the nonces of recent signed requests, the audit
// log's hash chain and who created each release. Created idempotently here (not as numbered
// migrations in db/schema.ts) so that an existing data directory gains them on its next start.
import type { Db } from '../db/open.js';

export function ensureOperatorSchema(db: Db): void {
  db.exec(`
  CREATE TABLE IF NOT EXISTS operators (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, nats_key TEXT NOT NULL UNIQUE, signing_key TEXT NOT NULL,
    created_at INTEGER NOT NULL, created_by TEXT NOT NULL, revoked_at INTEGER, revoked_by TEXT);
  CREATE TABLE IF NOT EXISTS api_nonces (nonce TEXT PRIMARY KEY, at INTEGER NOT NULL);
  CREATE INDEX IF NOT EXISTS api_nonces_at ON api_nonces (at);
  CREATE TABLE IF NOT EXISTS audit_chain (id INTEGER PRIMARY KEY, prev TEXT NOT NULL, hash TEXT NOT NULL);
  CREATE TRIGGER IF NOT EXISTS audit_chain_no_update BEFORE UPDATE ON audit_chain BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  CREATE TRIGGER IF NOT EXISTS audit_chain_no_delete BEFORE DELETE ON audit_chain BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  CREATE TABLE IF NOT EXISTS release_creators (release TEXT PRIMARY KEY, actor TEXT NOT NULL);
  `);
  // When each operator's NATS user was last renewed (ferry operator renew); a data directory from before has no column.
  if (!db.prepare("SELECT 1 FROM pragma_table_info('operators') WHERE name = 'renewed_at'").get()) db.exec('ALTER TABLE operators ADD COLUMN renewed_at INTEGER');
  // The renewed user's iat (ms): OPERATORS refuses the key's users from earlier seconds. Renewals
  // from before the column left their older users valid there, and still do.
  if (!db.prepare("SELECT 1 FROM pragma_table_info('operators') WHERE name = 'renewed_jwt_iat'").get()) db.exec('ALTER TABLE operators ADD COLUMN renewed_jwt_iat INTEGER');
}
