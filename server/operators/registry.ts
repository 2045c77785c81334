// The operator registry: each person's name, role and public keys (their NATS user and the key
// that signs their requests). Seeds never reach the server. Revoked operators stay listed.
import { FerryError } from '../../shared/errors.js';
import { isRole, type Role } from '../../shared/operators/roles.js';
import type { Db } from '../db/open.js';

export interface Operator {
  name: string;
  role: Role;
  natsKey: string;
  signingKey: string;
  createdAt: string;
  createdBy: string;
  revokedAt: string | null;
  revokedBy: string | null;
}

interface Row {
  name: string;
  role: string;
  nats_key: string;
  signing_key: string;
  created_at: number;
  created_by: string;
  revoked_at: number | null;
  revoked_by: string | null;
}

const toOperator = (r: Row): Operator => ({
  name: r.name,
  role: isRole(r.role) ? r.role : 'viewer',
  natsKey: r.nats_key,
  signingKey: r.signing_key,
  createdAt: new Date(r.created_at).toISOString(),
  createdBy: r.created_by,
  revokedAt: r.revoked_at ? new Date(r.revoked_at).toISOString() : null,
  revokedBy: r.revoked_by,
});

export class OperatorRegistry {
  constructor(private readonly db: Db) {}

  get(name: string): Operator | undefined {
    const row = this.db.prepare('SELECT * FROM operators WHERE name = ?').get(name) as Row | undefined;
    return row ? toOperator(row) : undefined;
  }

  list(): Operator[] {
    return (this.db.prepare('SELECT * FROM operators ORDER BY name').all() as Row[]).map(toOperator);
  }

  add(op: { name: string; role: Role; natsKey: string; signingKey: string; createdBy: string }): Operator {
    if (this.get(op.name)) throw new FerryError('FERRY_ALREADY_EXISTS', `operator ${op.name} already exists`, { hint: 'pick another name, or revoke the old one first (names are never reused)' });
    this.db.prepare('INSERT INTO operators (name, role, nats_key, signing_key, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)').run(op.name, op.role, op.natsKey, op.signingKey, Date.now(), op.createdBy);
    return this.get(op.name)!;
  }

  revoke(name: string, by: string): Operator {
    const op = this.get(name);
    if (!op) throw new FerryError('FERRY_NOT_FOUND', `no operator ${name}`, { hint: 'see: ferry operator list' });
    // as `token revoke` and `agents revoke` of a revoked one: a second revoke is told, not done again
    if (op.revokedAt) throw new FerryError('FERRY_CONFLICT', `operator ${name} is already revoked (at ${op.revokedAt} by ${op.revokedBy})`);
    this.db.prepare('UPDATE operators SET revoked_at = ?, revoked_by = ? WHERE name = ?').run(Date.now(), by, name);
    return this.get(name)!;
  }

  /**
   * Their NATS user was issued anew, at `issuedAt` (ms, the new JWT's iat): FERRY refuses their
   * older users, and OPERATORS those issued in any earlier second (server/nats/nats-auth.ts).
   */
  markRenewed(name: string, issuedAt: number): void {
    this.db.prepare('UPDATE operators SET renewed_at = ?, renewed_jwt_iat = ? WHERE name = ?').run(Date.now(), issuedAt, name);
  }

  /**
   * The bootstrap admin (keys/admin.creds of the data directory): registered at the first start,
   * afterwards only its keys replaced when the file was rewritten. It is the one operator whose
   * keys the server holds. A revocation stays: no start, and no new file, re-enables it.
   */
  upsertBootstrapAdmin(name: string, natsKey: string, signingKey: string): void {
    this.db
      .prepare(
        `INSERT INTO operators (name, role, nats_key, signing_key, created_at, created_by) VALUES (?, 'admin', ?, ?, ?, 'ferry-server')
         ON CONFLICT (name) DO UPDATE SET nats_key = excluded.nats_key, signing_key = excluded.signing_key`,
      )
      .run(name, natsKey, signingKey, Date.now());
  }
}
