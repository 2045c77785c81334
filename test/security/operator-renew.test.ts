// `ferry operator renew`: an operator's NATS user issued anew with their role's current
// permissions, written into their own credentials file (same keys). Real server, real NATS, real
// CLI processes; the old credentials are made here the way older servers made them: a release
// manager's naming the shared upload bucket of before per-operator buckets (and no renew verb),
// an admin's as an unrestricted user of FERRY.
// Requires the compiled dist/ and nats-server on PATH.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeUser } from '@nats-io/jwt';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataPaths } from '../../server/config.js';
import { loadNatsKeys, type NatsKeys } from '../../server/nats/nats-keys.js';
import { connectNats, type NatsConnection } from '../../shared/nats/connect.js';
import { jwtIssuedAt, parseCreds, readCredsFile } from '../../shared/nats/creds.js';
import { nativePublicKey } from '../../shared/nats/nkey-auth.js';
import { parseOperatorKey } from '../../shared/operators/credentials.js';
import { AUTH_HEADER, signRequest } from '../../shared/operators/request-signature.js';
import { verbsOf } from '../../shared/operators/roles.js';
import { BUCKETS, subjects } from '../../shared/protocol/subjects.js';
import { buildPackage, cleanupFleet, initServer, runFerry, tempDir, waitFor, type ServerHandle } from '../helpers/fleet.js';

afterAll(cleanupFleet, 60_000);

let server: ServerHandle;
let home: string;
let keys: NatsKeys;
let natsUrl: string;
let dir: string;
const ferry = (args: string[]) => runFerry(home, args);
const ferryFails = (args: string[]) => runFerry(home, args, { allowFail: true });

beforeAll(async () => {
  server = await initServer();
  home = server.home;
  keys = loadNatsKeys(dataPaths(home).natsKeys);
  natsUrl = (JSON.parse(readFileSync(dataPaths(home).runtime, 'utf8')) as { natsUrl: string }).natsUrl;
  dir = tempDir('ferry-renew-');
}, 120_000);

/** A person added by the server of today, whose file then gets the JWT an older server would have issued for the same key. */
async function withOldJwt(name: string, role: 'release-manager' | 'admin'): Promise<string> {
  const file = join(dir, `${name}.creds`);
  await ferry(['operator', 'add', name, '--role', role, '--out', file]);
  const text = readFileSync(file, 'utf8');
  const creds = parseCreds(text)!;
  const nkey = nativePublicKey(creds.seed);
  const jwt =
    role === 'admin'
      ? await encodeUser(`operator-${name}`, nkey, keys.accounts.FERRY, {})
      : await encodeUser(`operator-${name}`, nkey, keys.accounts.OPERATORS, {
          pub: {
            allow: [
              ...verbsOf(role).filter((v) => v !== 'operator.renew').map((v) => subjects.api(v)),
              // the shared upload bucket of older versions
              '$JS.API.INFO',
              '$JS.API.STREAM.INFO.OBJ_ferry-upload',
              '$JS.API.STREAM.MSG.GET.OBJ_ferry-upload',
              '$JS.API.DIRECT.GET.OBJ_ferry-upload.>',
              '$O.ferry-upload.>',
              `$JS.API.DIRECT.GET.OBJ_${BUCKETS.dml}`,
              `$JS.API.DIRECT.GET.OBJ_${BUCKETS.dml}.>`,
            ],
          },
          sub: { allow: [`${subjects.cliInboxPrefix}.${name}.>`] },
        });
  writeFileSync(file, text.replace(creds.jwt, jwt), { mode: 0o600 });
  expect(readCredsFile(file).jwt).toBe(jwt);
  return file;
}

const connect = (file: string, name: string): Promise<NatsConnection> => connectNats({ url: natsUrl, creds: readCredsFile(file), name, inboxPrefix: `${subjects.cliInboxPrefix}.${name}` });

/** Whether nats-server lets this connection ask for the list of streams (only a user of FERRY may). */
async function mayListStreams(nc: NatsConnection): Promise<boolean> {
  return nc.request('$JS.API.STREAM.NAMES', new Uint8Array(), { timeout: 10_000 }).then(
    () => true,
    (err: Error) => {
      if (/Permissions Violation for Publish/.test(`${err.message} ${(err.cause as Error | undefined)?.message ?? ''}`) || err.name === 'PermissionViolationError') return false;
      throw err;
    },
  );
}

describe('ferry operator renew', () => {
  it("a release manager's credentials from before per-operator upload buckets cannot dml add; renewed (same keys), they can", async () => {
    const file = await withOldJwt('rolf', 'release-manager');
    const before = readFileSync(file, 'utf8');
    const oldCreds = readCredsFile(file);
    // A copy of the old file in other hands, connected: a renewal refuses the key's users from
    // earlier seconds, so this one is made a second before the renewal.
    const issued = jwtIssuedAt(oldCreds.jwt);
    await waitFor(async () => Date.now() >= issued + 1000, 5_000, { message: 'the clock did not move on' });
    const copy = await connect(file, 'rolf');
    const copyClosed = copy.closed();
    const pkg = await buildPackage({ name: 'renewed', version: '1.0.0', files: { 'bin/x': 'x\n' } });
    const refused = await ferryFails(['dml', 'add', pkg, '--creds', file]);
    expect(refused.code).toBe(8);
    expect(refused.stderr).toMatch(/^FERRY_FORBIDDEN: operator rolf may not write the upload bucket ferry-upload-rolf/);

    const r = await ferry(['operator', 'renew', '--creds', file]);
    expect(r.stdout.trim().split('\n')).toEqual([`credentials of operator rolf (release-manager) renewed in ${file}: a new NATS user with the role's current permissions, the same keys`]);
    const after = readFileSync(file, 'utf8');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(parseCreds(after)!.seed).toBe(parseCreds(before)!.seed);
    expect(parseOperatorKey(after)).toEqual(parseOperatorKey(before));
    expect(parseCreds(after)!.jwt).not.toBe(parseCreds(before)!.jwt);
    expect(readdirSync(dir).filter((f) => f.includes('.renew'))).toEqual([]);
    // the old user is refused in OPERATORS too: the copy is disconnected and cannot come back
    await waitFor(async () => copy.isClosed(), 30_000, { message: "the old file's connection is still open" });
    await copyClosed;
    await expect(connectNats({ url: natsUrl, creds: oldCreds, name: 'rolf (old copy)', inboxPrefix: `${subjects.cliInboxPrefix}.rolf`, timeoutMs: 5000 })).rejects.toThrow();

    expect((await ferry(['dml', 'add', pkg, '--creds', file, '--json'])).json<{ added: boolean }>().added).toBe(true);
    // --json: the operator and the file (never the JWT on stdout)
    const doc = (await ferry(['operator', 'renew', '--creds', file, '--json'])).json<Record<string, unknown>>();
    expect(doc).toMatchObject({ name: 'rolf', role: 'release-manager', revokedAt: null, file });
    expect(doc.jwt).toBeUndefined();
    // audited under the verified name, both times (the first through the refusal report of old credentials)
    const entries = (await ferry(['audit', '--actor', 'rolf', '--action', 'operator.renew', '--json'])).json<{ actor: string; result: string; target: string }[]>();
    expect(entries.map((e) => [e.actor, e.result, e.target])).toEqual([
      ['rolf', 'ok', 'rolf'],
      ['rolf', 'ok', 'rolf'],
    ]);
  }, 180_000);

  it('an admin made before least privilege moves from FERRY to OPERATORS: the old user is refused, the new one cannot touch streams directly', async () => {
    const file = await withOldJwt('adam', 'admin');
    const oldCreds = readCredsFile(file);
    const old = await connect(file, 'adam');
    expect(await mayListStreams(old)).toBe(true); // unrestricted in FERRY
    const closed = old.closed();
    await ferry(['operator', 'renew', '--creds', file]);
    // the account update that refuses the old user closes its live connection
    await waitFor(async () => old.isClosed(), 30_000, { message: 'the old FERRY user is still connected' });
    await closed;
    await expect(connectNats({ url: natsUrl, creds: oldCreds, name: 'adam (old)', inboxPrefix: `${subjects.cliInboxPrefix}.adam`, timeoutMs: 5000 })).rejects.toThrow();
    const renewed = await connect(file, 'adam');
    try {
      expect(await mayListStreams(renewed)).toBe(false);
    } finally {
      await renewed.close();
    }
    // and the admin's work goes on with the renewed file
    const pkg = await buildPackage({ name: 'adams', version: '1.0.0', files: { 'bin/x': 'x\n' } });
    expect((await ferry(['dml', 'add', pkg, '--creds', file, '--json'])).json<{ added: boolean }>().added).toBe(true);
    await ferry(['backup', join(dir, 'b.tgz'), '--creds', file]);
  }, 180_000);

  it('the bootstrap admin has nothing to renew; a revoked operator is refused; the file stays as it was', async () => {
    const boot = await ferryFails(['operator', 'renew']);
    expect(boot.code).toBe(2);
    expect(boot.stderr.trim().split('\n')).toHaveLength(1);
    expect(boot.stderr).toMatch(/^FERRY_INVALID_INPUT: operator admin is the bootstrap admin: its credentials are the data directory's keys\/admin\.creds/);

    const file = join(dir, 'rex.creds');
    await ferry(['operator', 'add', 'rex', '--role', 'viewer', '--out', file]);
    await ferry(['operator', 'revoke', 'rex']);
    const before = readFileSync(file, 'utf8');
    const r = await ferryFails(['operator', 'renew', '--creds', file]);
    // nats-server refuses the revoked user at connect
    expect(r.stderr).toMatch(/^FERRY_SERVER_UNREACHABLE: NATS at \S+ refused the credentials .*whether this identity was revoked/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(readFileSync(file, 'utf8')).toBe(before);
    // and the server refuses it on its own, whatever NATS lets through (a signed request over the bootstrap admin's user)
    const boss = await connectNats({ url: natsUrl, creds: readCredsFile(dataPaths(home).adminCreds), name: 'bootstrap', inboxPrefix: `${subjects.cliInboxPrefix}.rex` });
    try {
      const body = new TextEncoder().encode('{}');
      const h = natsHeaders();
      h.set(AUTH_HEADER, signRequest(parseOperatorKey(before)!, 'operator.renew', body));
      const reply = JSON.parse((await boss.request(subjects.api('operator.renew'), body, { timeout: 10_000, headers: h })).string()) as { ok: boolean; error?: { code: string; message: string } };
      expect(reply.error?.code).toBe('FERRY_FORBIDDEN');
      expect(reply.error?.message).toMatch(/^operator rex was revoked/);
    } finally {
      await boss.close();
    }
  }, 120_000);
});
