// The hostile-input corpus, end to end: a real `ferry server` (embedded nats-server with its
// generated per-identity permissions), real agents as child processes, and an attacker who holds,
// case by case, nothing, a join token, one agent's identity, or the server's own keys and full
// NATS access (a compromised insider: can the agent still tell a bad document from a good one?).
//
// Every case asserts the specific refusal (error code and reason, from the reply or the daemon's
// JSON log line) and that nothing changed; the last block proves that the server and the agents
// are still running, still do real work, and wrote nothing outside their staging areas.
//
// Archive attacks are covered one by one at the unit level in shared/package/hostile.test.ts
// (43 cases); here a representative set goes through the real paths (`ferry dml add` on the
// server, a validly signed package on the agent). A DML object changed after it was signed is
// covered by test/integration/foundation.test.ts, "c(ii)" (FERRY_DIGEST_MISMATCH).
import { Kvm } from '@nats-io/kv';
import { jetstreamManager } from '@nats-io/jetstream';
import { createUser, fromSeed } from '@nats-io/nkeys';
import { Objm } from '@nats-io/obj';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKeyPair, keyFingerprint, type SignedEnvelope, type SigningKeyPair } from '../../shared/crypto/sign.js';
import { issueTrust, type SignedTrust, type TrustDoc } from '../../shared/crypto/trust.js';
import { manifestEntry, manifestFor, packageEntries, tarBytes, writeGzipBomb, type RawEntry } from '../../shared/package/test-archives.js';
import { decodeToken, encodeToken } from '../../shared/protocol/token.js';
import { uploadBucket } from '../../shared/protocol/subjects.js';
import { appliedGeneration, publishPackage, readCurrent, versionDirProblems } from '../helpers/faults.js';
import {
  cleanupFleet,
  initServer,
  joinAgent,
  runAgentCli,
  runFerry,
  startAgent,
  tempDir,
  waitFor,
  type AgentHandle,
  type JoinedAgent,
  type PackageSpec,
  type ServerHandle,
} from '../helpers/fleet.js';
import { joinByHand, replayJoin } from '../helpers/enroll.js';
import {
  acceptedNonces,
  agentCreds,
  agentSeed,
  api,
  apiRaw,
  apiToken,
  applyCommand,
  connectAs,
  connectAsAdmin,
  connectAsAgent,
  connectWithToken,
  desiredFor,
  dmlRecord,
  encode,
  expectDenied,
  forgedEnrollCredential,
  listTree,
  logsSince,
  malleate,
  newNonce,
  rawOversizedPublish,
  rolloutToEnd,
  serverSecrets,
  sign,
  signRaw,
  storedRecord,
  tokenUsesLeft,
  waitForLog,
  waitOnline,
  type ServerSecrets,
  type Watched,
} from '../helpers/hostile.js';

const AGENT_ENV = { FERRY_LOG_LEVEL: 'info', FERRY_DESIRED_POLL_MS: '1000', FERRY_HEARTBEAT_MS: '500' };
const MAX_PAYLOAD = 1024 * 1024;
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function appSpec(version: string): PackageSpec {
  return { name: 'app', version, files: { 'bin/app': `#!/bin/sh\necho app ${version}\n`, 'etc/app.conf': `version=${version}\n` }, executable: ['bin/app'] };
}

interface HistoryEntry {
  kind: string;
  package: string | null;
  version: string | null;
  operation: string | null;
  result: string | null;
  detail: string | null;
}
interface CmdbDoc {
  id: string;
  hostname: string;
  tags: Record<string, string>;
  installed: Record<string, string>;
  inventory: unknown;
  history: HistoryEntry[];
}

let server: ServerHandle;
let home: string;
let secrets: ServerSecrets;
let admin: Watched;
/** A: the victim of most cases; B: the agent A tries to impersonate; C: takes the cases that use up desired-state generations; R: revoked. */
let A: JoinedAgent, B: JoinedAgent, C: JoinedAgent, R: JoinedAgent;
const handles: Record<'A' | 'B' | 'C' | 'R', AgentHandle> = {} as never;
const attacker: SigningKeyPair = generateSigningKeyPair();

const cmdb = (id: string) => api<CmdbDoc>(admin.nc, 'cmdb.show', { host: id });

beforeAll(async () => {
  server = await initServer();
  home = server.home;
  secrets = serverSecrets(home);
  admin = await connectAsAdmin(secrets.natsUrl, secrets, 'hostile admin');
  await Promise.all([publishPackage(home, appSpec('1.0.0')), publishPackage(home, appSpec('2.0.0'))]);
  const token = await apiToken(admin.nc, { uses: 4 });
  [A, B, C, R] = await Promise.all([
    joinAgent(home, 'sec-a', { token, tags: { grp: 'ab' } }),
    joinAgent(home, 'sec-b', { token, tags: { grp: 'ab' } }),
    joinAgent(home, 'sec-c', { token, tags: { grp: 'c' } }),
    joinAgent(home, 'sec-r', { token, tags: { grp: 'r' } }),
  ]);
  const since = Date.now();
  const started = [A, B, C, R].map((a) => startAgent(a, { env: AGENT_ENV, waitOnline: false }));
  [handles.A, handles.B, handles.C, handles.R] = (await Promise.all(started)) as [AgentHandle, AgentHandle, AgentHandle, AgentHandle];
  await waitOnline(admin.nc, [A.id, B.id, C.id, R.id], since);
  // Legitimate work first: A, B and R get app 1.0.0, C gets 2.0.0 (so it can be offered a downgrade).
  await api(admin.nc, 'release.create', { name: 'sec-r1', packages: ['app@1.0.0'] });
  await api(admin.nc, 'release.create', { name: 'sec-r2', packages: ['app@2.0.0'] });
  const done = await Promise.all([rolloutToEnd(admin.nc, 'sec-r1', 'grp!=c'), rolloutToEnd(admin.nc, 'sec-r2', 'grp=c')]);
  for (const r of done) expect(r.state, JSON.stringify(r)).toBe('completed');
}, 180_000);

afterAll(async () => {
  await admin?.close();
  await Promise.all(Object.values(handles).map((h) => h.stop()));
  await server?.stop();
  await cleanupFleet();
}, 120_000);

// =============================================================================================
describe('admin API (server): malformed, mistyped, oversized and unknown requests', () => {
  const json = (s: string) => bytes(s);
  const cases: Array<[string, string, Uint8Array | Record<string, unknown>, string, RegExp]> = [
    ['malformed JSON', 'agents.list', json('{"target":'), 'FERRY_INVALID_MESSAGE', /agents\.list request: not valid UTF-8 JSON/],
    ['non-UTF-8 bytes', 'agents.list', Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d]), 'FERRY_INVALID_MESSAGE', /not valid UTF-8 JSON/],
    ['JSON null instead of an object', 'agents.list', json('null'), 'FERRY_INVALID_MESSAGE', /\(root\)/],
    ['a JSON array instead of an object', 'dml.list', json('[]'), 'FERRY_INVALID_MESSAGE', /\(root\)/],
    ['wrong type: ttlMs as a string', 'token.create', { ttlMs: '1h', uses: 1 }, 'FERRY_INVALID_MESSAGE', /ttlMs/],
    ['wrong type: target as a number', 'agents.list', { target: 42 }, 'FERRY_INVALID_MESSAGE', /target/],
    ['out of range: a token with 0 uses', 'token.create', { ttlMs: 60_000, uses: 0 }, 'FERRY_INVALID_MESSAGE', /uses/],
    ['out of range: a 1e300 ms token lifetime', 'token.create', { ttlMs: 1e300, uses: 1 }, 'FERRY_INVALID_MESSAGE', /ttlMs/],
    ['extra field (schemas are strict)', 'dml.list', { admin: true }, 'FERRY_INVALID_MESSAGE', /admin/],
    ['extra field __proto__ (prototype pollution)', 'agents.list', json('{"__proto__":{"isAdmin":true}}'), 'FERRY_INVALID_MESSAGE', /__proto__/],
    ['a tag key that is a path', 'token.create', { ttlMs: 60_000, uses: 1, tags: { '../../etc/x': 'y' } }, 'FERRY_INVALID_MESSAGE', /tags/],
    ['a field of ~1 MB, just under the payload limit (with the signature header)', 'cmdb.show', { host: 'x'.repeat(MAX_PAYLOAD - 512) }, 'FERRY_INVALID_MESSAGE', /host/],
    ['unknown verb', 'nope', {}, 'FERRY_USAGE', /unknown API verb "nope"/],
    ['verb __proto__', '__proto__', {}, 'FERRY_USAGE', /unknown API verb "__proto__"/],
    ['verb constructor', 'constructor', {}, 'FERRY_USAGE', /unknown API verb "constructor"/],
    ['a verb with an extra subject token', 'agents.list.all', {}, 'FERRY_USAGE', /unknown API verb "agents\.list\.all"/],
  ];
  it.each(cases)('%s → refused', async (_label, verb, body, code, message) => {
    const reply = await apiRaw(admin.nc, verb, body);
    expect(reply.ok).toBe(false);
    expect(reply.error?.code, reply.error?.message).toBe(code);
    expect(reply.error?.message).toMatch(message);
    // The server still answers a good request.
    expect(Array.isArray(await api(admin.nc, 'agents.list', {}))).toBe(true);
  });

  it('a body over 1 MiB is refused by NATS before the server sees it (client check and raw protocol)', async () => {
    expect(() => admin.nc.publish('ferry.api.agents.list', new Uint8Array(MAX_PAYLOAD + 1))).toThrow(/payload|max/i);
    const raw = await rawOversizedPublish(secrets.natsUrl, secrets.admin, 'ferry.api.agents.list', MAX_PAYLOAD + 1);
    expect(raw.afterLogin).toMatch(/-ERR 'Maximum Payload Violation'/);
    expect(raw.closedByServer).toBe(true);
    expect(server.child.exitCode).toBeNull();
    expect(Array.isArray(await api(admin.nc, 'agents.list', {}))).toBe(true);
  });

  it('a pathological selector (ReDoS attempt) is answered, not hung on backtracking', async () => {
    const started = Date.now();
    const reply = await apiRaw(admin.nc, 'agents.list', { target: `hostname=${'*a'.repeat(500)}b` });
    expect(reply).toEqual({ ok: true, result: [] });
    // Catastrophic backtracking over 500 groups would not end in years: the bound tells an
    // answer from a hung server, with room for a machine busy with other suites.
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});

// =============================================================================================
describe('server-side archive checks: hostile packages offered to `ferry dml add`', () => {
  const files = [{ path: 'a.txt', body: 'hello\n' }];
  const cases: Array<[string, string, () => Promise<Buffer>, RegExp]> = [
    ['../ traversal', 'FERRY_ARCHIVE_UNSAFE', async () => gzipSync(tarBytes([...packageEntries(files, { name: 'up-trav' }), { path: 'payload/../../../../up-escaped.txt', body: 'x' }])), /"\.\." segment/],
    ['absolute symlink', 'FERRY_ARCHIVE_UNSAFE', async () => gzipSync(tarBytes([...packageEntries(files, { name: 'up-link' }), { path: 'payload/passwd', type: 'SymbolicLink', linkpath: '/etc/passwd' }])), /symlink/],
    [
      'gzip bomb',
      'FERRY_ARCHIVE_UNSAFE',
      async () => {
        const file = join(tempDir('ferry-bomb-'), 'bomb.ferry');
        await writeGzipBomb(file, 64 * 1024 * 1024);
        return readFileSync(file);
      },
      /decompression ratio/,
    ],
  ];
  it.each(cases)('%s → %s; not in the DML, nothing left in the server tmp dir or the upload bucket', async (_label, code, make, message) => {
    const file = join(tempDir('ferry-upload-'), 'evil.ferry');
    writeFileSync(file, await make());
    const before = await api<unknown[]>(admin.nc, 'dml.list', {});
    const r = await runFerry(home, ['dml', 'add', file], { allowFail: true });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(code);
    expect(r.stderr).toMatch(message);
    expect(await api<unknown[]>(admin.nc, 'dml.list', {})).toEqual(before);
    expect(listTree(join(home, 'tmp'))).toEqual([]);
    expect(await (await new Objm(admin.nc).open(uploadBucket(secrets.adminKey.operator))).list()).toEqual([]);
    expect(existsSync(join(tmpdir(), 'up-escaped.txt'))).toBe(false);
  });
});

// =============================================================================================
describe('enrolment: bad, expired, used-up, revoked and replayed joins', () => {
  let enroll: Watched;
  let token: string;
  let tokenId: string;

  beforeAll(async () => {
    token = await apiToken(admin.nc, { uses: 5 });
    tokenId = decodeToken(token).i;
    enroll = await connectWithToken(secrets.natsUrl, token);
  });
  afterAll(async () => {
    await enroll?.close();
  });

  async function expectRefused(reply: { ok: boolean; error?: { code: string; message: string } }, code: string, message: RegExp, since: number): Promise<void> {
    expect(reply.ok).toBe(false);
    expect(reply.error?.code, reply.error?.message).toBe(code);
    expect(reply.error?.message).toMatch(message);
    const logged = await waitForLog(server.logs, 'enrolment refused', since, (l) => l.code === code);
    expect(logged.reason).toMatch(message);
  }

  it('positive control: a join by hand with the real secret succeeds and the sealed reply holds a JWT for our key', async () => {
    const nkey = createUser().getPublicKey();
    const { reply, result } = await joinByHand(enroll.nc, token, { nkey, hostname: 'by-hand-ok' });
    expect(reply.ok, JSON.stringify(reply)).toBe(true);
    expect(JSON.stringify(reply)).not.toContain(result!.jwt); // sealed: the inbox never sees it
    expect(JSON.parse(Buffer.from(result!.jwt.split('.')[1]!, 'base64url').toString())).toMatchObject({ sub: nkey, name: result!.agentId });
    expect(tokenUsesLeft(home, tokenId)).toBe(4);
  });

  const forged: Array<[string, Parameters<typeof joinByHand>[2], RegExp]> = [
    ['a forged secret', { secret: 'forged-secret-forged-secret' }, /unknown to this server/],
    ['an unknown token id', { tokenId: '000000000000' }, /unknown to this server/],
    ['a hostname changed after the proof was made', { after: { hostname: 'someone-else' } }, /unknown to this server/],
    ['tags added after the proof was made', { after: { tags: { env: 'prod' } } }, /unknown to this server/],
    ['a key swapped after the proof was made', { after: { nkey: createUser().getPublicKey() } }, /unknown to this server/],
  ];
  it.each(forged)('%s → FERRY_TOKEN_INVALID, no use consumed', async (_label, o, message) => {
    const since = Date.now();
    const before = tokenUsesLeft(home, tokenId);
    await expectRefused((await joinByHand(enroll.nc, token, o)).reply, 'FERRY_TOKEN_INVALID', message, since);
    expect(tokenUsesLeft(home, tokenId)).toBe(before);
  });

  it('a replayed join request (the same challenge twice) → refused, one use consumed in all', async () => {
    const first = await joinByHand(enroll.nc, token, { hostname: 'replayed' });
    expect(first.reply.ok).toBe(true);
    const left = tokenUsesLeft(home, tokenId);
    const since = Date.now();
    await expectRefused(await replayJoin(enroll.nc, first.request), 'FERRY_TOKEN_INVALID', /challenge is unknown, expired or already used/, since);
    expect(tokenUsesLeft(home, tokenId)).toBe(left);
  });

  it('a replayed join with an nkey that already joined (agent A) → FERRY_CONFLICT, no use consumed', async () => {
    const nkeyOfA = fromSeed(new TextEncoder().encode(agentSeed(A.stateDir))).getPublicKey();
    const before = tokenUsesLeft(home, tokenId);
    const since = Date.now();
    await expectRefused((await joinByHand(enroll.nc, token, { nkey: nkeyOfA, hostname: 'sec-a-again' })).reply, 'FERRY_CONFLICT', /already joined/, since);
    expect(tokenUsesLeft(home, tokenId)).toBe(before);
    expect((await api<{ id: string }[]>(admin.nc, 'agents.list', {})).filter((a) => a.id.startsWith('sec-a-again'))).toEqual([]);
  });

  const malformed: Array<[string, Record<string, unknown> | Uint8Array, RegExp]> = [
    ['not JSON', bytes('{"token":'), /not valid UTF-8 JSON/],
    ['an nkey seed instead of a public key', { nkey: 'SUAM' + 'A'.repeat(54) }, /nkey/],
    ['an agent id chosen by the host (extra field)', { agentId: 'admin' }, /agentId/],
    ['a tag key that is a path', { tags: { '../x': 'y' } }, /tags/],
    ['a 300-character hostname', { hostname: 'h'.repeat(300) }, /hostname/],
    ['a hostname with terminal escape sequences', { hostname: 'evil\u001b]2;pwned\u0007\u001b[2J' }, /hostname/],
    ['a proof that is not 32 bytes', { proof: 'AAAA' }, /proof/],
  ];
  it.each(malformed)('malformed join: %s → FERRY_INVALID_MESSAGE, no use consumed', async (_label, over, message) => {
    const before = tokenUsesLeft(home, tokenId);
    const since = Date.now();
    const attempt = await joinByHand(enroll.nc, token, over instanceof Uint8Array ? { raw: over } : { after: over });
    await expectRefused(attempt.reply, 'FERRY_INVALID_MESSAGE', message, since);
    expect(tokenUsesLeft(home, tokenId)).toBe(before);
  });

  it('an expired token (1 s lifetime): its enrolment credential no longer logs in, and the CLI says so', async () => {
    const short = await apiToken(admin.nc, { ttlMs: 1000 });
    const expiresAt = Date.now() + 1000;
    // JWT expiry has a one-second resolution: wait until it has surely passed.
    await waitFor(() => Date.now() > expiresAt + 1500, 10_000, { intervalMs: 100 });
    await expect(connectWithToken(secrets.natsUrl, short)).rejects.toThrow(/Authorization Violation|expired/i);
    const stateDir = tempDir('ferry-agent-expired-');
    const r = await runAgentCli(stateDir, ['join', '--token', short], { allowFail: true, env: { FERRY_HOSTNAME: 'expired' } });
    expect(r.stderr).toMatch(/^FERRY_TOKEN_INVALID: .*expired, was used up or was revoked/m);
    expect(readdirSync(stateDir)).toEqual([]);
    expect(tokenUsesLeft(home, decodeToken(short).i)).toBe(1);
  });

  it('a used-up token (1 use): the second join is refused and then its enrolment credential is cut off', async () => {
    const once = await apiToken(admin.nc, { uses: 1 });
    const holder = await connectWithToken(secrets.natsUrl, once);
    const closed = holder.nc.closed();
    expect((await joinByHand(holder.nc, once, { hostname: 'once-1' })).reply.ok).toBe(true);
    const since = Date.now();
    const second = await joinByHand(holder.nc, once, { hostname: 'once-2' }).catch(() => undefined);
    if (second) await expectRefused(second.reply, 'FERRY_TOKEN_INVALID', /no uses left/, since);
    await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error("the used-up token's connection is still open")), 15_000))]);
    await expect(connectWithToken(secrets.natsUrl, once)).rejects.toThrow(/Authorization Violation/i);
  });

  it('a revoked token (`ferry token revoke`): no join, and its enrolment credential is cut off at once', async () => {
    const revokedToken = await apiToken(admin.nc, { uses: 3 });
    const holder = await connectWithToken(secrets.natsUrl, revokedToken);
    const closed = holder.nc.closed();
    const out = (await runFerry(home, ['token', 'revoke', decodeToken(revokedToken).i, '--json'])).json<{ state: string }>();
    expect(out.state).toBe('revoked');
    await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error("the revoked token's connection is still open")), 10_000))]);
    await expect(connectWithToken(secrets.natsUrl, revokedToken)).rejects.toThrow(/Authorization Violation/i);
    const listed = (await runFerry(home, ['token', 'list', '--json'])).json<{ id: string; state: string }[]>();
    expect(listed.find((t) => t.id === decodeToken(revokedToken).i)?.state).toBe('revoked');
    expect(tokenUsesLeft(home, decodeToken(revokedToken).i)).toBe(3);
  });

  it.each([
    ['not a Ferry token', 'hello', /does not start with FERRY2\./],
    ['a token from before decentralised auth', 'FERRY1.eyJpIjoiMCJ9', /made before decentralised auth/],
    ['FERRY2. followed by garbage', 'FERRY2.!!!not-base64-json', /not a Ferry join token/],
  ])('ferry-agent join with %s → FERRY_TOKEN_INVALID, nothing written', async (_label, bad, message) => {
    const stateDir = tempDir('ferry-agent-badtoken-');
    const r = await runAgentCli(stateDir, ['join', '--token', bad], { allowFail: true, env: { FERRY_HOSTNAME: 'bad-token' } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^FERRY_TOKEN_INVALID: /m);
    expect(r.stderr).toMatch(message);
    expect(readdirSync(stateDir)).toEqual([]);
  });

  it('a token whose root fingerprint was edited (substituted server) → ferry-agent join fails with FERRY_UNTRUSTED_KEY, no use consumed, no identity written', async () => {
    const real = await apiToken(admin.nc, { uses: 1 });
    const forgedToken = encodeToken({ ...decodeToken(real), f: keyFingerprint(generateSigningKeyPair().publicKey) });
    const stateDir = tempDir('ferry-agent-substituted-');
    const r = await runAgentCli(stateDir, ['join', '--token', forgedToken], { allowFail: true, env: { FERRY_HOSTNAME: 'substituted' } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^FERRY_UNTRUSTED_KEY: the server's root key .* is not the one in the join token/m);
    expect(readdirSync(stateDir)).toEqual([]); // no identity.json, agent.nk or trust.json
    expect(tokenUsesLeft(home, decodeToken(real).i)).toBe(1);
  });

  it('a token tag with a control character is refused when the token is made, so no host is half-enrolled', async () => {
    const r = await runFerry(home, ['token', 'create', '--tag', 'env=te\u001bst'], { allowFail: true });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^FERRY_INVALID_INPUT: /m);
  });
});

// =============================================================================================
describe('reports (server): a misbehaving agent lies about who it is, or sends junk', () => {
  let impostor: Watched;
  let bBefore: CmdbDoc;
  let aBefore: CmdbDoc;
  const inventory = { hostname: 'sec-b', os: 'linux', distro: 'evil', release: '1', kernel: '6', arch: 'x64', cpu: { model: 'x', cores: 1 }, memoryMB: 1, disks: [], interfaces: [], virtual: false };
  const statusReport = (over: Record<string, unknown> = {}) => ({ agent: A.id, ts: Date.now(), operation: 'hostile-report', state: 'succeeded', package: 'app', version: '9.9.9', installed: { app: '9.9.9' }, ...over });
  const inventoryReport = (over: Record<string, unknown> = {}) => ({ agent: A.id, ts: Date.now(), inventory, installed: { app: '9.9.9' }, ...over });

  beforeAll(async () => {
    impostor = await connectAsAgent(secrets.natsUrl, A);
    [aBefore, bBefore] = await Promise.all([cmdb(A.id), cmdb(B.id)]);
  });
  afterAll(async () => {
    await impostor?.close();
  });

  const cases: Array<[string, 'status' | 'inventory', () => Uint8Array, RegExp]> = [
    ['a status report claiming to be from B', 'status', () => encode(statusReport({ agent: B.id })), /^report for sec-b-\S+ sent on ferry\.agent\.sec-a-\S+\.status$/],
    ['an inventory report claiming to be from B', 'inventory', () => encode(inventoryReport({ agent: B.id })), /^report for sec-b-\S+ sent on ferry\.agent\.sec-a-\S+\.inventory$/],
    ['malformed JSON', 'status', () => bytes('{"agent":'), /^status report: not valid UTF-8 JSON/],
    ['non-UTF-8 bytes', 'inventory', () => Uint8Array.from([0x7b, 0xc3, 0x28, 0x7d]), /^inventory report: not valid UTF-8 JSON/],
    ['wrong types', 'status', () => encode(statusReport({ ts: 'now', state: 'pwned' })), /^status report: (ts|state):/],
    ['an oversized field (20 KiB of hook output)', 'status', () => encode(statusReport({ output: 'x'.repeat(20 * 1024) })), /^status report: output:/],
    ['an extra field', 'status', () => encode({ ...statusReport(), admin: true }), /^status report: .*admin/],
    ['an inventory report on the status subject', 'status', () => encode(inventoryReport()), /^status report:/],
    ['a status report on the inventory subject', 'inventory', () => encode(statusReport()), /^inventory report:/],
  ];
  it.each(cases)('%s → dropped ("report rejected")', async (_label, kind, make, reason) => {
    const subject = `ferry.agent.${A.id}.${kind}`;
    const since = Date.now();
    impostor.nc.publish(subject, make());
    await impostor.nc.flush();
    const line = await waitForLog(server.logs, 'report rejected', since, (l) => l.subject === subject);
    expect(line.reason).toMatch(reason);
  });

  it('a report over the stream limit (256 KiB) is refused by JetStream and never ingested', async () => {
    const since = Date.now();
    const reply = await impostor.nc.request(`ferry.agent.${A.id}.status`, encode(statusReport({ error: 'x'.repeat(300 * 1024) })), { timeout: 5000 });
    const ack = JSON.parse(new TextDecoder().decode(reply.data)) as { error?: { description: string } };
    expect(ack.error?.description).toMatch(/maximum/i);
    await new Promise((r) => setTimeout(r, 300));
    expect(logsSince(server.logs, 'report rejected', since)).toEqual([]);
  });

  it("B's CMDB record (and A's installed versions and history) did not change", async () => {
    const [aAfter, bAfter] = await Promise.all([cmdb(A.id), cmdb(B.id)]);
    const keep = (d: CmdbDoc) => ({ hostname: d.hostname, tags: d.tags, installed: d.installed, inventory: d.inventory });
    expect(keep(bAfter)).toEqual(keep(bBefore));
    expect(bAfter.installed).toEqual({ app: '1.0.0' });
    expect(aAfter.installed).toEqual(aBefore.installed);
    // No history entry that was not there before (repeats of an existing entry aside: see the
    // it.fails test about confirmations below).
    const entry = (h: HistoryEntry) => JSON.stringify({ ...h, ts: 0 });
    for (const [before, after] of [
      [bBefore, bAfter],
      [aBefore, aAfter],
    ] as const) {
      const known = new Set(before.history.map(entry));
      expect(after.history.map(entry).filter((e) => !known.has(e))).toEqual([]);
      expect(after.history.filter((h) => h.operation === 'hostile-report' || h.version === '9.9.9')).toEqual([]);
    }
  });

  // Regression: every desired-state poll of an already-applied generation used to re-send a
  // "succeeded" report, and each became a CMDB history row.
  it('an idle agent does not append to its CMDB history', async () => {
    const before = (await cmdb(B.id)).history.length;
    await new Promise((r) => setTimeout(r, 2500)); // two desired-state polls (FERRY_DESIRED_POLL_MS=1000)
    expect((await cmdb(B.id)).history.length).toBe(before);
  });
});

// =============================================================================================
describe('commands (agent): forged, altered, misaddressed, stale and replayed', () => {
  /** A desired state that would change nothing (generation 0 is older than what A applied). */
  let harmless: SignedEnvelope;
  let generationA: number;

  beforeAll(() => {
    harmless = sign(secrets.signing, desiredFor(A.id, { generation: 0, operation: 'hostile-noop' }));
    generationA = appliedGeneration(A.stateDir);
    expect(generationA).toBeGreaterThan(0);
  });

  const cmd = (over: Record<string, unknown> = {}) => applyCommand(A.id, harmless, over);
  const signed = (over: Record<string, unknown> = {}, keys = secrets.signing) => sign(keys, cmd(over));

  async function publishAndExpectRefused(agent: 'A' | 'B', data: Uint8Array, code: string, reason: RegExp, msg = 'command refused'): Promise<void> {
    const target = agent === 'A' ? A : B;
    const since = Date.now();
    admin.nc.publish(`ferry.cmd.${target.id}`, data);
    await admin.nc.flush();
    const line = await waitForLog(handles[agent].logs, msg, since);
    if (msg === 'command refused') {
      expect(line.code, line.reason).toBe(code);
      expect(line.reason).toMatch(reason);
    } else {
      expect(line.reason).toMatch(new RegExp(`^${code}: ${reason.source}`));
    }
  }

  function expectNothingChangedOnA(nonces: string[] = []): void {
    expect(appliedGeneration(A.stateDir)).toBe(generationA);
    expect(readCurrent(A.installRoot, 'app')).toBe('1.0.0');
    const accepted = acceptedNonces(A.stateDir);
    for (const n of nonces) expect(accepted.has(n), `nonce ${n} was remembered`).toBe(false);
  }

  const nonceOf = (data: Uint8Array): string[] => {
    try {
      const env = JSON.parse(new TextDecoder().decode(data)) as SignedEnvelope;
      const n = (JSON.parse(env.payload) as { nonce?: unknown }).nonce;
      return typeof n === 'string' ? [n] : [];
    } catch {
      return [];
    }
  };

  const refusals: Array<[string, () => Uint8Array, string, RegExp]> = [
    ['wrong audience (addressed to B)', () => encode(signed({ audience: B.id })), 'FERRY_COMMAND_REJECTED', /^command is addressed to sec-b-\S+, not to this agent$/],
    ['wrong subject field (meant for ferry.cmd.<B>)', () => encode(signed({ subject: `ferry.cmd.${B.id}` })), 'FERRY_COMMAND_REJECTED', /^command was meant for subject ferry\.cmd\.sec-b-/],
    ['expired', () => encode(signed({ issuedAt: Date.now() - 20 * 60_000, expiresAt: Date.now() - 10 * 60_000 })), 'FERRY_COMMAND_REJECTED', /^command expired at /],
    ['issued 10 minutes in the future', () => encode(signed({ issuedAt: Date.now() + 10 * 60_000, expiresAt: Date.now() + 20 * 60_000 })), 'FERRY_COMMAND_REJECTED', /^command is issued in the future$/],
    ['signed by an unknown key', () => encode(signed({}, attacker)), 'FERRY_UNTRUSTED_KEY', /does not trust for commands$/],
    ['signed by the root key (trusted for trust documents only)', () => encode(signed({}, secrets.root)), 'FERRY_UNTRUSTED_KEY', /does not trust for commands$/],
    ['an unknown key claiming the trusted key fingerprint', () => encode({ ...signed({}, attacker), key: keyFingerprint(secrets.signing.publicKey) }), 'FERRY_SIGNATURE_INVALID', /^command signature does not verify/],
    [
      'malleated signature (S + L)',
      () => {
        const env = signed();
        return encode({ ...env, sig: malleate(env.sig) });
      },
      'FERRY_SIGNATURE_INVALID',
      /^command signature does not verify/,
    ],
    [
      'payload altered after signing (expiry extended)',
      () => {
        const env = signed();
        const doc = JSON.parse(env.payload) as { expiresAt: number };
        return encode({ ...env, payload: JSON.stringify({ ...doc, expiresAt: doc.expiresAt + 365 * 86_400_000 }) });
      },
      'FERRY_SIGNATURE_INVALID',
      /^command signature does not verify/,
    ],
    [
      'truncated signature',
      () => {
        const env = signed();
        return encode({ ...env, sig: Buffer.from(env.sig, 'base64').subarray(0, 63).toString('base64') });
      },
      'FERRY_SIGNATURE_INVALID',
      /^command signature does not verify/,
    ],
    ['garbage bytes', () => Uint8Array.from({ length: 512 }, (_, i) => (i * 131 + 0xf5) & 0xff), 'FERRY_INVALID_MESSAGE', /^command: not valid UTF-8 JSON$/],
    ['JSON that is not an envelope', () => bytes('[1,2,3]'), 'FERRY_INVALID_MESSAGE', /^command: \(root\):/],
    ['an envelope with wrong types', () => encode({ payload: 42, sig: ['x'], key: null }), 'FERRY_INVALID_MESSAGE', /^command: (payload|sig|key):/],
    ['an envelope with an extra field', () => encode({ ...signed(), trusted: true }), 'FERRY_INVALID_MESSAGE', /^command: .*trusted/],
    ['oversized fields, just under the payload limit', () => encode({ payload: 'x'.repeat(900_000), sig: 'A'.repeat(120_000), key: 'k' }), 'FERRY_INVALID_MESSAGE', /^command: sig:/],
    ['validly signed, unknown command type ("exec")', () => encode(sign(secrets.signing, { ...cmd(), type: 'exec', shell: 'rm -rf /' })), 'FERRY_INVALID_MESSAGE', /^command is malformed: type:/],
    ['validly signed, extra field', () => encode(signed({ shell: 'rm -rf /' })), 'FERRY_INVALID_MESSAGE', /^command is malformed: .*shell/],
    ['validly signed, wrong type (expiresAt as a date string)', () => encode(signed({ expiresAt: '2099-01-01' })), 'FERRY_INVALID_MESSAGE', /^command is malformed: expiresAt:/],
    ['validly signed payload that is not JSON', () => encode(signRaw(secrets.signing, 'apply everything', keyFingerprint(secrets.signing.publicKey))), 'FERRY_INVALID_MESSAGE', /^command payload is not JSON$/],
  ];
  it.each(refusals)('%s → refused, nothing remembered or applied', async (_label, make, code, reason) => {
    const data = make();
    await publishAndExpectRefused('A', data, code, reason);
    expectNothingChangedOnA(nonceOf(data));
  });

  it('a command over 1 MiB is refused by nats-server (raw protocol) and never reaches the agent', async () => {
    const since = Date.now();
    const raw = await rawOversizedPublish(secrets.natsUrl, secrets.admin, `ferry.cmd.${A.id}`, MAX_PAYLOAD + 1);
    expect(raw.afterLogin).toMatch(/-ERR 'Maximum Payload Violation'/);
    await new Promise((r) => setTimeout(r, 300));
    expect(logsSince(handles.A.logs, 'command refused', since)).toEqual([]);
    expect(handles.A.child.exitCode).toBeNull();
    expectNothingChangedOnA();
  });

  it("a command for A published on B's subject → B refuses it (audience)", async () => {
    const data = encode(signed());
    await publishAndExpectRefused('B', data, 'FERRY_COMMAND_REJECTED', /^command is addressed to sec-a-\S+, not to this agent$/);
    expect(acceptedNonces(B.stateDir).has(nonceOf(data)[0]!)).toBe(false);
  });

  const desiredRefusals: Array<[string, () => SignedEnvelope, string, RegExp]> = [
    ['a desired state for another agent (B) inside a valid command', () => sign(secrets.signing, desiredFor(B.id, { generation: 999 })), 'FERRY_COMMAND_REJECTED', /desired state is for sec-b-/],
    ['a desired state signed by an unknown key', () => sign(attacker, desiredFor(A.id, { generation: 999 })), 'FERRY_UNTRUSTED_KEY', /desired state is signed by .* does not trust for commands/],
    [
      'a desired state with a malleated signature',
      () => {
        const env = sign(secrets.signing, desiredFor(A.id, { generation: 999 }));
        return { ...env, sig: malleate(env.sig) };
      },
      'FERRY_SIGNATURE_INVALID',
      /desired state signature does not verify/,
    ],
    ['a validly signed desired state with wrong types', () => sign(secrets.signing, { ...desiredFor(A.id), generation: '999' }), 'FERRY_INVALID_MESSAGE', /desired state is malformed: generation/],
  ];
  it.each(desiredRefusals)('%s → "desired state refused", generation and install root unchanged', async (_label, make, code, reason) => {
    const data = encode(sign(secrets.signing, applyCommand(A.id, make())));
    await publishAndExpectRefused('A', data, code, reason, 'desired state refused');
    expect(acceptedNonces(A.stateDir).has(nonceOf(data)[0]!)).toBe(true); // the command itself was fine
    expectNothingChangedOnA();
  });

  it('replayed: the same command twice → the second is refused (replay)', async () => {
    const data = encode(signed());
    const [nonce] = nonceOf(data);
    admin.nc.publish(`ferry.cmd.${A.id}`, data);
    await admin.nc.flush();
    await waitFor(() => acceptedNonces(A.stateDir).has(nonce!), 5000, { message: 'the first copy was not accepted' });
    await publishAndExpectRefused('A', data, 'FERRY_COMMAND_REJECTED', /^command was already received \(replay\)$/);
    expectNothingChangedOnA();
  });

  it('replayed after the agent restarted → still refused (nonces are persisted)', async () => {
    const data = encode(signed());
    const [nonce] = nonceOf(data);
    admin.nc.publish(`ferry.cmd.${A.id}`, data);
    await admin.nc.flush();
    await waitFor(() => acceptedNonces(A.stateDir).has(nonce!), 5000);
    await handles.A.stop();
    handles.A = await startAgent(A, { env: AGENT_ENV, waitOnline: false });
    // The new process subscribes to its commands before it logs "agent running".
    await waitForLog(handles.A.logs, 'agent running', 0, () => true, 15_000);
    await publishAndExpectRefused('A', data, 'FERRY_COMMAND_REJECTED', /^command was already received \(replay\)$/);
    expectNothingChangedOnA();
  }, 120_000);

  it('replayed after it expired (and its nonce was forgotten) → refused as expired', async () => {
    // Valid just long enough for the agent to accept it first (a busy agent that did not gets a
    // new one, valid twice as long); then the test waits until the accepted one expired.
    for (let validMs = 2000; ; validMs *= 2) {
      const expiresAt = Date.now() + validMs;
      const data = encode(signed({ expiresAt }));
      const [nonce] = nonceOf(data);
      admin.nc.publish(`ferry.cmd.${A.id}`, data);
      await admin.nc.flush();
      const accepted = () => acceptedNonces(A.stateDir).has(nonce!);
      while (!accepted() && Date.now() < expiresAt) await new Promise((r) => setTimeout(r, 50));
      if (!accepted()) {
        if (validMs >= 32_000) throw new Error(`the agent accepted none of the commands valid for up to ${validMs} ms`);
        continue;
      }
      await waitFor(() => Date.now() > expiresAt + 300, 20_000, { intervalMs: 100 });
      await publishAndExpectRefused('A', data, 'FERRY_COMMAND_REJECTED', /^command expired at /);
      expectNothingChangedOnA();
      return;
    }
  }, 120_000);
});

// =============================================================================================
describe('desired states and packages (agent C): untrusted records, mismatches, downgrade, hostile archives', () => {
  const files = [{ path: 'a.txt', body: 'hello\n' }];
  const tag = newNonce().slice(0, 8);

  /** Send C a validly signed command carrying `packages` under the next generation; returns the CMDB history entry of the outcome. */
  async function applyOnC(label: string, packages: unknown[]): Promise<HistoryEntry> {
    const generation = appliedGeneration(C.stateDir) + 1;
    const operation = `hostile-${label}-${newNonce().slice(0, 6)}`;
    const desired = sign(secrets.signing, desiredFor(C.id, { generation, operation, packages: packages as never }));
    admin.nc.publish(`ferry.cmd.${C.id}`, encode(sign(secrets.signing, applyCommand(C.id, desired))));
    await admin.nc.flush();
    const entry = await waitFor(async () => (await cmdb(C.id)).history.find((h) => h.operation === operation), 20_000, { message: `no outcome of ${operation} in the CMDB` });
    expect(appliedGeneration(C.stateDir)).toBe(generation);
    return entry;
  }

  async function uploadSigned(name: string, version: string, archive: Buffer): Promise<SignedEnvelope> {
    const store = await new Objm(admin.nc).open('ferry-dml');
    await store.putBlob({ name: `${name}@${version}` }, new Uint8Array(archive));
    return sign(secrets.signing, dmlRecord({ name, version, sha256: sha256(archive), size: archive.length }));
  }

  const pkg = (name: string, version: string, record: SignedEnvelope, rollback = false) => ({ name, version, record, rollback, watchMs: 0 });

  it.each([
    ['an unknown key', () => attacker],
    ['the root key (trusted for trust documents only)', () => secrets.root],
  ] as Array<[string, () => SigningKeyPair]>)('a DML record signed by %s → FERRY_UNTRUSTED_KEY, nothing installed', async (_label, keys) => {
    const real = JSON.parse(storedRecord(home, 'app', '1.0.0').payload) as Record<string, unknown>;
    const forged = sign(keys(), { ...real, name: 'forged', version: '6.6.6' });
    const entry = await applyOnC('untrusted-record', [pkg('forged', '6.6.6', forged)]);
    expect(entry).toMatchObject({ result: 'failed', package: 'forged' });
    expect(entry.detail).toMatch(/^FERRY_UNTRUSTED_KEY: package record is signed by .* does not trust for packages/);
    expect(existsSync(join(C.installRoot, 'forged'))).toBe(false);
  });

  it.each([
    ['another package name', 'other', '1.0.0', /record for app@1\.0\.0 attached to other@1\.0\.0/],
    ['another version', 'app', '3.0.0', /record for app@1\.0\.0 attached to app@3\.0\.0/],
  ])('a genuine record attached to %s → FERRY_SIGNATURE_INVALID', async (_label, name, version, message) => {
    const entry = await applyOnC('mismatch', [pkg(name, version, storedRecord(home, 'app', '1.0.0'))]);
    expect(entry.result).toBe('failed');
    expect(entry.detail).toMatch(new RegExp(`^FERRY_SIGNATURE_INVALID: ${message.source}`));
    expect(readCurrent(C.installRoot, 'app')).toBe('2.0.0');
    expect(existsSync(join(C.installRoot, 'other'))).toBe(false);
  });

  it('a stale desired state (older generation) is ignored: nothing changes', async () => {
    const generation = appliedGeneration(C.stateDir);
    const desired = sign(secrets.signing, desiredFor(C.id, { generation: 1, operation: 'hostile-stale', packages: [pkg('app', '1.0.0', storedRecord(home, 'app', '1.0.0'), true)] as never }));
    const data = encode(sign(secrets.signing, applyCommand(C.id, desired)));
    const nonce = (JSON.parse((JSON.parse(new TextDecoder().decode(data)) as SignedEnvelope).payload) as { nonce: string }).nonce;
    admin.nc.publish(`ferry.cmd.${C.id}`, data);
    await admin.nc.flush();
    await waitFor(() => acceptedNonces(C.stateDir).has(nonce), 5000);
    await new Promise((r) => setTimeout(r, 700));
    expect(appliedGeneration(C.stateDir)).toBe(generation);
    expect(readCurrent(C.installRoot, 'app')).toBe('2.0.0');
    expect((await cmdb(C.id)).history.some((h) => h.operation === 'hostile-stale')).toBe(false);
  });

  it('a downgrade without rollback: true → FERRY_COMMAND_REJECTED, 2.0.0 stays current', async () => {
    const entry = await applyOnC('downgrade', [pkg('app', '1.0.0', storedRecord(home, 'app', '1.0.0'))]);
    expect(entry).toMatchObject({ result: 'failed', package: 'app', version: '1.0.0' });
    expect(entry.detail).toMatch(/^FERRY_COMMAND_REJECTED: refusing to downgrade app from 2\.0\.0 to 1\.0\.0 without an explicit rollback/);
    expect(readCurrent(C.installRoot, 'app')).toBe('2.0.0');
    expect((await runAgentCli(C.stateDir, ['status', '--json'])).json<{ installed: Record<string, string> }>().installed).toEqual({ app: '2.0.0' });
  });

  const archives: Array<[string, string, () => Promise<Buffer>, string, RegExp]> = [
    ['../ traversal', 'evil-trav', async () => gzipSync(tarBytes([...packageEntries(files, { name: 'evil-trav' }), { path: `payload/../../../../../../escaped-${tag}.txt`, body: 'x' }])), 'FERRY_ARCHIVE_UNSAFE', /"\.\." segment/],
    ['an absolute path', 'evil-abs', async () => gzipSync(tarBytes([...packageEntries(files, { name: 'evil-abs' }), { path: join(tmpdir(), `escaped-${tag}-abs.txt`), body: 'x' }])), 'FERRY_ARCHIVE_UNSAFE', /is absolute/],
    ['an absolute symlink', 'evil-link', async () => gzipSync(tarBytes([...packageEntries(files, { name: 'evil-link' }), { path: 'payload/passwd', type: 'SymbolicLink', linkpath: '/etc/passwd' }])), 'FERRY_ARCHIVE_UNSAFE', /symlink/],
    ['a file the manifest does not list (tampered manifest)', 'evil-extra', async () => gzipSync(tarBytes([...packageEntries(files, { name: 'evil-extra' }), { path: 'payload/extra.sh', body: 'rm -rf /' }])), 'FERRY_PACKAGE_INVALID', /not listed in manifest/],
    [
      'a payload file that differs from its manifest hash (tampered payload, re-signed)',
      'evil-hash',
      async () => gzipSync(tarBytes([manifestEntry(manifestFor(files, { name: 'evil-hash' })), { path: 'payload/a.txt', body: 'HELLO\n' } as RawEntry])),
      'FERRY_DIGEST_MISMATCH',
      /payload\/a\.txt/,
    ],
    [
      'a gzip bomb',
      'bomb',
      async () => {
        const file = join(tempDir('ferry-bomb-'), 'bomb.ferry');
        await writeGzipBomb(file, 64 * 1024 * 1024);
        return readFileSync(file);
      },
      'FERRY_ARCHIVE_UNSAFE',
      /decompression ratio/,
    ],
  ];
  it.each(archives)('a validly signed package with %s → %s, nothing extracted', async (_label, name, make, code, message) => {
    const record = await uploadSigned(name, '1.0.0', await make());
    const entry = await applyOnC(name, [pkg(name, '1.0.0', record)]);
    expect(entry).toMatchObject({ result: 'failed', package: name });
    expect(entry.detail).toMatch(new RegExp(`^${code}: .*${message.source}`));
    expect(existsSync(join(C.installRoot, name))).toBe(false);
    expect(readdirSync(join(C.stateDir, 'staging'))).toEqual([]);
    expect(readCurrent(C.installRoot, 'app')).toBe('2.0.0');
  });

  it('no escaped file exists anywhere the traversal could have reached', () => {
    for (const dir of [C.stateDir, C.installRoot, join(C.installRoot, '..', '..'), tmpdir(), '/']) {
      expect(readdirSync(dir).filter((f) => f.includes(tag)), dir).toEqual([]);
    }
    expect(listTree(C.stateDir).filter((p) => p.includes(tag) || p.includes('evil') || p.includes('bomb') || p.includes('forged'))).toEqual([]);
  });

  it("C's journal records each package refusal with its code", async () => {
    const history = (await runAgentCli(C.stateDir, ['history', '--json'])).json<{ package: string; step: string; error: string | null }[]>();
    const failed = Object.fromEntries(history.filter((o) => o.step === 'failed').map((o) => [o.package, o.error?.split(':')[0]]));
    expect(failed).toEqual({
      app: 'FERRY_COMMAND_REJECTED',
      'evil-trav': 'FERRY_ARCHIVE_UNSAFE',
      'evil-abs': 'FERRY_ARCHIVE_UNSAFE',
      'evil-link': 'FERRY_ARCHIVE_UNSAFE',
      'evil-extra': 'FERRY_PACKAGE_INVALID',
      'evil-hash': 'FERRY_DIGEST_MISMATCH',
      bomb: 'FERRY_ARCHIVE_UNSAFE',
    });
  });

  it('C still works: an explicit, signed rollback (rollback: true) to 1.0.0 succeeds', async () => {
    const entry = await applyOnC('explicit-rollback', [pkg('app', '1.0.0', storedRecord(home, 'app', '1.0.0'), true)]);
    expect(entry).toMatchObject({ result: 'succeeded', package: 'app', version: '1.0.0' });
    expect(readCurrent(C.installRoot, 'app')).toBe('1.0.0');
  });
});

// =============================================================================================
describe('trust documents: rollback, foreign roots and half-signed root changes', () => {
  let v2: SignedTrust;
  let v2doc: TrustDoc;
  const kvPut = async (data: Uint8Array) => {
    const kv = await new Kvm(admin.nc).open('ferry-desired');
    await kv.put('_trust', data);
  };
  const trustOnDisk = (agent: JoinedAgent) => JSON.parse(readFileSync(join(agent.stateDir, 'trust.json'), 'utf8')) as SignedTrust;

  beforeAll(async () => {
    const rotated = (await runFerry(home, ['keys', 'rotate', '--renew-only', '--json'])).json<{ version: number; serverReloaded: boolean }>();
    expect(rotated).toMatchObject({ version: 2, serverReloaded: true });
    v2 = JSON.parse(readFileSync(join(home, 'keys', 'trust.json'), 'utf8')) as SignedTrust;
    v2doc = JSON.parse(v2.payload) as TrustDoc;
    await waitFor(() => (JSON.parse(trustOnDisk(A).payload) as TrustDoc).version === 2, 10_000, { message: 'agent A did not accept trust v2' });
  }, 120_000);

  afterAll(async () => {
    await kvPut(encode(v2));
  });

  const evilRoot = generateSigningKeyPair();
  const cases: Array<[string, () => Uint8Array, RegExp]> = [
    ['an older document (rollback to v1)', () => encode(secrets.trust), /^FERRY_COMMAND_REJECTED: trust document version 1 is older than the trusted 2 \(rollback refused\)/],
    ['a document signed by a different root (v3)', () => encode(issueTrust({ ...v2doc, version: 3, root: { publicKey: evilRoot.publicKey } }, [evilRoot])), /^FERRY_SIGNATURE_INVALID: trust document v3 is not signed by the trusted root key/],
    [
      'a root change signed only by the old root (v4)',
      () => encode(issueTrust({ ...v2doc, version: 4, root: { publicKey: evilRoot.publicKey } }, [secrets.root])),
      /^FERRY_SIGNATURE_INVALID: trust document v4 changes the root key but is not signed by the new root/,
    ],
    [
      'an attacker key added, signed by the attacker (v5)',
      () => encode(issueTrust({ ...v2doc, version: 5, keys: [...v2doc.keys, { publicKey: attacker.publicKey, roles: ['packages', 'commands'] }] }, [attacker])),
      /^FERRY_SIGNATURE_INVALID: trust document v5 is not signed by the trusted root key/,
    ],
    [
      'a malleated root signature (v6)',
      () => {
        const t = issueTrust({ ...v2doc, version: 6, keys: [...v2doc.keys, { publicKey: attacker.publicKey, roles: ['commands'] }] }, [secrets.root]);
        return encode({ ...t, signatures: t.signatures.map((s) => ({ ...s, sig: malleate(s.sig) })) });
      },
      /^FERRY_SIGNATURE_INVALID: trust document v6 is not signed by the trusted root key/,
    ],
    [
      'a different document claiming the current version 2',
      () => encode(issueTrust({ ...v2doc, keys: [...v2doc.keys, { publicKey: attacker.publicKey, roles: ['commands'] }] }, [secrets.root])),
      /^FERRY_SIGNATURE_INVALID: two different trust documents claim version 2/,
    ],
    ['not a trust document', () => bytes('{"payload":1}'), /^FERRY_INVALID_MESSAGE: trust document: payload:/],
  ];
  it.each(cases)('%s → "trust document refused"; the agent keeps v2', async (_label, make, reason) => {
    const since = Date.now();
    await kvPut(make());
    // A command signed by a key A does not know makes it fetch the trust document at once
    // (instead of at its next poll); the command itself is refused as FERRY_UNTRUSTED_KEY.
    admin.nc.publish(`ferry.cmd.${A.id}`, encode(sign(attacker, applyCommand(A.id, sign(attacker, desiredFor(A.id))))));
    const line = await waitForLog(handles.A.logs, 'trust document refused', since, (l) => typeof l.reason === 'string' && reason.test(l.reason));
    expect(line.reason).toMatch(reason);
    expect(trustOnDisk(A)).toEqual(v2);
  });
});

// =============================================================================================
describe('NATS permissions (the account JWTs): agent A against B, the stores and JetStream', () => {
  let impostor: Watched;
  let enroll: Watched;
  let enrollToken: string;
  let before: { desiredA: number | undefined; trust: number | undefined; objects: string[] };

  const snapshotStores = async () => {
    const kv = await new Kvm(admin.nc).open('ferry-desired');
    const objects = (await (await new Objm(admin.nc).open('ferry-dml')).list()).map((o) => `${o.name}:${o.digest}`).sort();
    return { desiredA: (await kv.get(A.id))?.revision, trust: (await kv.get('_trust'))?.revision, objects };
  };

  beforeAll(async () => {
    impostor = await connectAsAgent(secrets.natsUrl, A);
    enrollToken = await apiToken(admin.nc, { uses: 1 });
    enroll = await connectWithToken(secrets.natsUrl, enrollToken);
    before = await snapshotStores();
  });
  afterAll(async () => {
    await impostor?.close();
    await enroll?.close();
  });

  it('positive control: A may read its own desired state with a direct get', async () => {
    const msg = await impostor.nc.request(`$JS.API.DIRECT.GET.KV_ferry-desired.$KV.ferry-desired.${A.id}`, undefined, { timeout: 10_000 });
    expect((JSON.parse(new TextDecoder().decode(msg.data)) as SignedEnvelope).payload).toContain(`"agent":"${A.id}"`);
  });

  const publishDenied: Array<[string, () => string]> = [
    ["B's status reports: ferry.agent.<B>.status", () => `ferry.agent.${B.id}.status`],
    ["B's heartbeat: ferry.agent.<B>.heartbeat", () => `ferry.agent.${B.id}.heartbeat`],
    ["commands to B: ferry.cmd.<B>", () => `ferry.cmd.${B.id}`],
    ['commands to itself: ferry.cmd.<A>', () => `ferry.cmd.${A.id}`],
    ['the admin API: ferry.api.agents.revoke', () => 'ferry.api.agents.revoke'],
    ['enrolment: ferry.enroll.join', () => 'ferry.enroll.join'],
    ['migration: ferry.enroll.migrate', () => 'ferry.enroll.migrate'],
    ['its desired state in KV: $KV.ferry-desired.<A>', () => `$KV.ferry-desired.${A.id}`],
    ['the trust document in KV: $KV.ferry-desired._trust', () => '$KV.ferry-desired._trust'],
    ['a DML object chunk: $O.ferry-dml.C.<id>', () => '$O.ferry-dml.C.evilchunk'],
    ['DML object metadata: $O.ferry-dml.M.<name>', () => '$O.ferry-dml.M.YXBwQDEuMC4w'],
    ["B's desired state (direct get): $JS.API.DIRECT.GET.KV_ferry-desired.$KV.ferry-desired.<B>", () => `$JS.API.DIRECT.GET.KV_ferry-desired.$KV.ferry-desired.${B.id}`],
    ['a consumer on FERRY_REPORTS', () => '$JS.API.CONSUMER.CREATE.FERRY_REPORTS'],
    ['a durable consumer on FERRY_REPORTS', () => '$JS.API.CONSUMER.DURABLE.CREATE.FERRY_REPORTS.evil'],
    ['a consumer on OBJ_ferry-dml', () => '$JS.API.CONSUMER.CREATE.OBJ_ferry-dml'],
    ['a consumer on KV_ferry-desired', () => '$JS.API.CONSUMER.CREATE.KV_ferry-desired'],
    ["acks for the server's report consumer", () => '$JS.ACK.FERRY_REPORTS.ferry-server.1.1.1.1.0'],
    ['purging FERRY_REPORTS', () => '$JS.API.STREAM.PURGE.FERRY_REPORTS'],
    ['deleting the DML stream', () => '$JS.API.STREAM.DELETE.OBJ_ferry-dml'],
    ['deleting a message of KV_ferry-desired', () => '$JS.API.STREAM.MSG.DELETE.KV_ferry-desired'],
    ['creating a stream', () => '$JS.API.STREAM.CREATE.EVIL'],
  ];
  it.each(publishDenied)('A cannot publish to %s', async (_label, subject) => {
    const s = subject();
    const { violation } = await expectDenied(impostor, 'publish', s, () => impostor.nc.publish(s, encode({ evil: true })));
    expect(violation).toMatch(/Permissions Violation for Publish/);
  });

  const subscribeDenied: Array<[string, () => string]> = [
    ["B's commands: ferry.cmd.<B>", () => `ferry.cmd.${B.id}`],
    ["B's inbox: _INBOX.<B>.>", () => `_INBOX.${B.id}.>`],
    ['every inbox: _INBOX.>', () => '_INBOX.>'],
    ['every command: ferry.cmd.*', () => 'ferry.cmd.*'],
    ["every agent's reports: ferry.agent.>", () => 'ferry.agent.>'],
    ['the admin API: ferry.api.>', () => 'ferry.api.>'],
    ['enrolment replies: _INBOX_enroll.>', () => '_INBOX_enroll.>'],
    ['KV updates: $KV.ferry-desired.>', () => '$KV.ferry-desired.>'],
    ['everything: >', () => '>'],
  ];
  it.each(subscribeDenied)('A cannot subscribe to %s', async (_label, subject) => {
    const s = subject();
    const { violation } = await expectDenied(impostor, 'subscription', s, () => impostor.nc.subscribe(s));
    expect(violation).toMatch(/Permissions Violation for Subscription/);
  });

  it("A cannot smuggle a request body into its own direct-get subject to read B's desired state", async () => {
    const msg = await impostor.nc.request(`$JS.API.DIRECT.GET.KV_ferry-desired.$KV.ferry-desired.${A.id}`, encode({ last_by_subj: `$KV.ferry-desired.${B.id}` }), { timeout: 10_000 });
    expect(new TextDecoder().decode(msg.data)).not.toContain(B.id);
    expect(msg.headers?.code).toBe(408);
  });

  it('the stores are unchanged and FERRY_REPORTS still has only the server consumer', async () => {
    expect(await snapshotStores()).toEqual(before);
    const jsm = await jetstreamManager(admin.nc);
    const consumers: string[] = [];
    for await (const c of jsm.consumers.list('FERRY_REPORTS')) consumers.push(c.name);
    expect(consumers).toEqual(['ferry-server']);
  });

  it('the enrolment identity (in every join token) can only send join requests', async () => {
    for (const s of [`ferry.cmd.${A.id}`, 'ferry.api.agents.list', `ferry.agent.${A.id}.status`, '$JS.API.INFO']) {
      await expectDenied(enroll, 'publish', s, () => enroll.nc.publish(s, encode({})));
    }
    for (const s of ['ferry.agent.>', 'ferry.cmd.>', `_INBOX.${A.id}.>`, '_INBOX_enroll.>', '$JS.API.>']) {
      await expectDenied(enroll, 'subscription', s, () => enroll.nc.subscribe(s));
    }
  });

  it.each([
    ['anonymous (no credentials)', () => connectAs(secrets.natsUrl, undefined, { attempts: 1 })],
    ['an unknown nkey without a JWT', () => connectAs(secrets.natsUrl, new TextDecoder().decode(createUser().getSeed()), { attempts: 1 })],
    ["agent A's nkey without its JWT", () => connectAs(secrets.natsUrl, agentSeed(A.stateDir), { attempts: 1 })],
    ['a made-up enrolment credential (a JWT signed by an unknown account)', async () => connectAs(secrets.natsUrl, await forgedEnrollCredential(enrollToken), { attempts: 1 })],
    ["A's JWT with another seed", () => connectAs(secrets.natsUrl, { jwt: agentCreds(A.stateDir).jwt, seed: new TextDecoder().decode(createUser().getSeed()) }, { attempts: 1 })],
  ] as Array<[string, () => Promise<Watched>]>)('%s connection → refused', async (_label, open) => {
    await expect(open()).rejects.toThrow(/Authorization Violation/i);
  });

  it("after `ferry agents revoke <R>` R's connection is closed, its nkey refused, and it is gone from `agents list`", async () => {
    const own = await connectAsAgent(secrets.natsUrl, R);
    const closed = own.nc.closed();
    const revoked = (await runFerry(home, ['agents', 'revoke', R.id, '--json'])).json<{ id: string }>();
    expect(revoked.id).toBe(R.id);
    await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('the revoked connection is still open')), 8000))]);
    expect(own.nc.isClosed()).toBe(true);
    await expect(connectAsAgent(secrets.natsUrl, R, 1)).rejects.toThrow(/Authorization Violation/i);
    expect((await api<{ id: string }[]>(admin.nc, 'agents.list', {})).map((a) => a.id)).not.toContain(R.id);
    const again = await runFerry(home, ['agents', 'revoke', R.id], { allowFail: true });
    expect(again.code).toBe(4);
    expect(again.stderr).toMatch(/^FERRY_CONFLICT: agent .* is already revoked/);
  });
});

// =============================================================================================
describe('after the barrage', () => {
  it('the server and every agent are still running, and a normal rollout still works', async () => {
    expect(server.child.exitCode).toBeNull();
    // R too: revoked and cut off, its daemon keeps running (and retrying) rather than crashing.
    for (const k of ['A', 'B', 'C', 'R'] as const) expect(handles[k].child.exitCode ?? handles[k].child.signalCode, handles[k].logs().slice(-2000)).toBeNull();
    const final = await rolloutToEnd(admin.nc, 'sec-r2', 'grp=ab', 40_000);
    expect(final.state, JSON.stringify(final)).toBe('completed');
    expect(final.hosts.map((h) => [h.agent, h.state]).sort()).toEqual([
      [A.id, 'succeeded'],
      [B.id, 'succeeded'],
    ].sort());
    const listed = (await runFerry(home, ['agents', 'list', '--json'])).json<{ id: string; online: boolean; installed: Record<string, string> }[]>();
    const byId = new Map(listed.map((a) => [a.id, a]));
    expect(byId.get(A.id)).toMatchObject({ online: true, installed: { app: '2.0.0' } });
    expect(byId.get(B.id)).toMatchObject({ online: true, installed: { app: '2.0.0' } });
    expect(byId.get(C.id)).toMatchObject({ online: true, installed: { app: '1.0.0' } });
    expect(byId.has(R.id)).toBe(false);
  }, 120_000);

  it('nothing was written outside staging: each state dir holds only the known files and the legitimate installs', () => {
    const expected = (versions: string[], current: string) =>
      [
        'agent.lock',
        'agent.nk',
        'identity.json',
        'journal.db',
        'run/',
        'run/agent.sock',
        'runtime.json',
        'staging/',
        'trust.json',
        'apps/',
        'apps/app/',
        `apps/app/current -> ${current}`,
        ...versions.flatMap((v) => [`apps/app/${v}/`, `apps/app/${v}/bin/`, `apps/app/${v}/bin/app`, `apps/app/${v}/etc/`, `apps/app/${v}/etc/app.conf`]),
      ].sort();
    const actual = (a: JoinedAgent) => listTree(a.stateDir).filter((p) => p !== 'journal.db-wal' && p !== 'journal.db-shm');
    for (const a of [A, B]) {
      expect(actual(a), a.hostname).toEqual(expected(['1.0.0', '2.0.0'], '2.0.0'));
      expect(versionDirProblems(a.installRoot, appSpec('2.0.0'))).toEqual([]);
    }
    expect(actual(C)).toEqual(expected(['1.0.0', '2.0.0'], '1.0.0'));
    expect(versionDirProblems(C.installRoot, appSpec('1.0.0'))).toEqual([]);
  });

  it("A's and B's journals hold only the two legitimate installs", async () => {
    const histories = await Promise.all([A, B].map((a) => runAgentCli(a.stateDir, ['history', '--json'])));
    for (const h of histories) {
      const ops = h.json<{ kind: string; package: string; version: string; step: string }[]>();
      expect(ops.map((o) => `${o.kind} ${o.package}@${o.version} ${o.step}`)).toEqual(['install app@2.0.0 done', 'install app@1.0.0 done']);
    }
  });
});
