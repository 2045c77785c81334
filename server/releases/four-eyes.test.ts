import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { signRequest } from '../../shared/operators/request-signature.js';
import { generateSigningKeyPair } from '../../shared/crypto/sign.js';
import { openDatabase, type Db } from '../db/open.js';
import type { DmlService } from '../dml/service.js';
import { ensureOperatorSchema } from '../operators/schema.js';
import { ApprovalSeal, useApprovalSeal } from './approval-seal.js';
import { approvalsOf } from './four-eyes.js';
import { ReleaseStore } from './store.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-four-eyes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
let db: Db;
let store: ReleaseStore;
const dml = { requireDeployable: () => ({ manifest: { depends: [] } }) } as unknown as DmlService;
const bobKey = generateSigningKeyPair();

beforeEach(() => {
  db = openDatabase(join(dir, `server-${n++}.db`));
  ensureOperatorSchema(db);
  store = new ReleaseStore(db, dml);
  for (const name of ['web-1', 'web-2']) db.prepare("INSERT INTO releases (name, packages, created_at) VALUES (?, '[]', 1)").run(name);
  db.prepare("INSERT INTO operators (name, role, nats_key, signing_key, created_at, created_by) VALUES ('bob', 'approver', 'UBOB', ?, 1, 'admin')").run(bobKey.publicKey);
  db.prepare("INSERT INTO operators (name, role, nats_key, signing_key, created_at, created_by) VALUES ('cora', 'approver', 'UCORA', ?, 1, 'admin')").run(generateSigningKeyPair().publicKey);
});
afterEach(() => db.close());

const approvals = (release: string) => approvalsOf(db, store.require(release));

describe('four eyes: only an approval whose signature verifies counts', () => {
  it('an approval with the approver’s signed request counts', () => {
    const body = JSON.stringify({ name: 'web-1', actor: 'bob' });
    store.approve('web-1', 'bob', undefined, { auth: signRequest({ operator: 'bob', secretKey: bobKey.secretKey }, 'release.approve', Buffer.from(body)), body });
    expect(approvals('web-1')).toEqual([expect.objectContaining({ by: 'bob', counts: true, signature: 'valid' })]);
  });

  it('a row written into the database without a signature does not count', () => {
    db.prepare("INSERT INTO release_approvals (release, actor, ts, comment, auth, body) VALUES ('web-1', 'bob', 5, NULL, NULL, NULL)").run();
    expect(approvals('web-1')).toEqual([expect.objectContaining({ by: 'bob', counts: false, signature: 'none', reason: expect.stringMatching(/no signature/) })]);
  });

  it('a console approval sealed by the server counts; changed, moved or sealed by another key it does not', () => {
    const file = join(dir, `approvals-${n}.json`);
    const seal = ApprovalSeal.open(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(ApprovalSeal.open(file).seal({ release: 'x', approver: 'y', comment: null, at: 1 })).toEqual(seal.seal({ release: 'x', approver: 'y', comment: null, at: 1 })); // the same key again
    useApprovalSeal(db, seal);
    const at = Date.now();
    store.approve('web-1', 'cora', 'CAB 12', seal.seal({ release: 'web-1', approver: 'cora', comment: 'CAB 12', at }), at);
    expect(approvals('web-1')).toEqual([expect.objectContaining({ by: 'cora', counts: true, signature: 'valid', via: 'console', comment: 'CAB 12' })]);

    // the same sealed record copied to another release, or to another approver
    db.exec("INSERT INTO release_approvals (release, actor, ts, comment, auth, body) SELECT 'web-2', actor, ts, comment, auth, body FROM release_approvals WHERE release = 'web-1'");
    db.exec("INSERT INTO release_approvals (release, actor, ts, comment, auth, body) SELECT 'web-2', 'bob', ts, comment, auth, body FROM release_approvals WHERE release = 'web-1'");
    expect(approvals('web-2').map((a) => [a.by, a.counts, a.signature]).sort()).toEqual([
      ['bob', false, 'invalid'],
      ['cora', false, 'invalid'],
    ]);
    // sealed with a key that is not this server's
    const other = ApprovalSeal.open(join(dir, `other-${n}.json`));
    db.exec("DELETE FROM release_approvals WHERE release = 'web-2'");
    store.approve('web-2', 'cora', undefined, other.seal({ release: 'web-2', approver: 'cora', comment: null, at: 7 }), 7);
    expect(approvals('web-2')).toEqual([expect.objectContaining({ by: 'cora', counts: false, signature: 'invalid' })]);
  });
});
