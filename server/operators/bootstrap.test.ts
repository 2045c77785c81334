import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatCreds } from '../../shared/nats/creds.js';
import { createNativeUser } from '../../shared/nats/nkey-auth.js';
import { openDatabase, type Db } from '../db/open.js';
import { BOOTSTRAP_ADMIN, ensureBootstrapAdmin } from './bootstrap.js';
import { OperatorRegistry } from './registry.js';
import { ensureOperatorSchema } from './schema.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-bootstrap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
let db: Db;
let registry: OperatorRegistry;
let creds: string;

/** A data directory's keys/admin.creds (a fresh NATS user; the JWT is not checked here). */
const writeAdminCreds = () => writeFileSync(creds, formatCreds({ jwt: 'eyJhbGciOiJlZDI1NTE5In0.e30.c2ln', seed: createNativeUser().seed }), { mode: 0o600 });

beforeEach(() => {
  db = openDatabase(join(dir, `server-${n}.db`));
  ensureOperatorSchema(db);
  registry = new OperatorRegistry(db);
  creds = join(dir, `admin-${n++}.creds`);
  writeAdminCreds();
});
afterEach(() => db.close());

describe('the bootstrap admin', () => {
  it('is registered at the first start and keeps its keys across starts', () => {
    ensureBootstrapAdmin(creds, registry); // the first start adds the signing key to the file
    const first = registry.get(BOOTSTRAP_ADMIN)!;
    expect(first).toMatchObject({ role: 'admin', createdBy: 'ferry-server', revokedAt: null });
    ensureBootstrapAdmin(creds, registry);
    expect(registry.get(BOOTSTRAP_ADMIN)).toEqual(first);
  });

  it('stays revoked across starts, also when its credentials file is rewritten', () => {
    ensureBootstrapAdmin(creds, registry);
    registry.revoke(BOOTSTRAP_ADMIN, 'ada');
    const revoked = registry.get(BOOTSTRAP_ADMIN)!;
    expect(revoked.revokedAt).not.toBeNull();

    ensureBootstrapAdmin(creds, registry); // a restart
    expect(registry.get(BOOTSTRAP_ADMIN)).toMatchObject({ revokedAt: revoked.revokedAt, revokedBy: 'ada' });

    writeAdminCreds(); // new keys in keys/admin.creds: the keys change, the revocation stays
    ensureBootstrapAdmin(creds, registry);
    const after = registry.get(BOOTSTRAP_ADMIN)!;
    expect(after.natsKey).not.toBe(revoked.natsKey);
    expect(after.signingKey).not.toBe(revoked.signingKey);
    expect(after).toMatchObject({ role: 'admin', revokedAt: revoked.revokedAt, revokedBy: 'ada' });
  });
});
