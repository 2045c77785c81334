import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateSigningKeyPair } from '../../shared/crypto/sign.js';
import { createNativeUser } from '../../shared/nats/nkey-auth.js';
import { signRequest } from '../../shared/operators/request-signature.js';
import { catchFerryError } from '../../test/helpers/errors.js';
import { openDatabase, type Db } from '../db/open.js';
import { RequestAuthenticator } from './authenticate.js';
import { OperatorRegistry } from './registry.js';
import { ensureOperatorSchema } from './schema.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-auth-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
let db: Db;
let registry: OperatorRegistry;
let clock: number;
let auth: RequestAuthenticator;
const key = generateSigningKeyPair();
const vera = { operator: 'vera', secretKey: key.secretKey };
const body = new TextEncoder().encode('{}');

beforeEach(() => {
  db = openDatabase(join(dir, `server-${n++}.db`));
  ensureOperatorSchema(db);
  registry = new OperatorRegistry(db);
  registry.add({ name: 'vera', role: 'viewer', natsKey: createNativeUser().publicKey, signingKey: key.publicKey, createdBy: 'admin' });
  clock = Date.parse('2026-12-05T06:00:00Z');
  auth = new RequestAuthenticator(db, registry, () => clock);
});
afterEach(() => db.close());

describe('signed admin requests', () => {
  it('a valid signature names the caller and their role', () => {
    expect(auth.authenticate('dml.list', body, signRequest(vera, 'dml.list', body, clock))).toEqual({ name: 'vera', role: 'viewer' });
  });

  it.each([
    ['unsigned', () => undefined],
    ['malformed', () => 'v1 vera now nonce sig'],
    ['another verb', () => signRequest(vera, 'dml.show', body, clock)],
    ['another body', () => signRequest(vera, 'dml.list', new TextEncoder().encode('{"x":1}'), clock)],
    ['another key', () => signRequest({ operator: 'vera', secretKey: generateSigningKeyPair().secretKey }, 'dml.list', body, clock)],
    ['an unknown operator', () => signRequest({ operator: 'nobody', secretKey: key.secretKey }, 'dml.list', body, clock)],
    ['61 s old', () => signRequest(vera, 'dml.list', body, clock - 61_000)],
    ['61 s ahead', () => signRequest(vera, 'dml.list', body, clock + 61_000)],
  ])('refuses %s', (_what, header) => {
    expect(catchFerryError(() => auth.authenticate('dml.list', body, header()), 'FERRY_SIGNATURE_INVALID').code).toBe('FERRY_SIGNATURE_INVALID');
  });

  it('refuses a replay, also after a restart (nonces are stored)', () => {
    const header = signRequest(vera, 'dml.list', body, clock);
    auth.authenticate('dml.list', body, header);
    expect(catchFerryError(() => auth.authenticate('dml.list', body, header), 'FERRY_SIGNATURE_INVALID').message).toMatch(/replayed/);
    const restarted = new RequestAuthenticator(db, registry, () => clock + 30_000);
    expect(catchFerryError(() => restarted.authenticate('dml.list', body, header), 'FERRY_SIGNATURE_INVALID').message).toMatch(/replayed/);
  });

  it('refuses a verb outside the role, naming the role needed, and a revoked operator', () => {
    expect(catchFerryError(() => auth.authenticate('token.create', body, signRequest(vera, 'token.create', body, clock)), 'FERRY_FORBIDDEN').message).toBe(
      'token.create needs the role admin; operator vera is viewer',
    );
    registry.revoke('vera', 'admin');
    expect(catchFerryError(() => auth.authenticate('dml.list', body, signRequest(vera, 'dml.list', body, clock)), 'FERRY_FORBIDDEN').message).toMatch(/revoked/);
  });
});
