// Enrolment as an attacker would try it, and the upgrade of a data directory from before
// decentralised auth. Real nats-server processes (a bare one plays the impostor), a real server,
// real agent processes.
import Database from 'better-sqlite3';
import { connect, type Msg } from '@nats-io/transport-node';
import { encodeUser } from '@nats-io/jwt';
import { createUser } from '@nats-io/nkeys';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKeyPair, keyFingerprint, signBytes } from '../../shared/crypto/sign.js';
import { issueTrust } from '../../shared/crypto/trust.js';
import { migrationAccountSeed } from '../../shared/nats/migration-key.js';
import { pino } from 'pino';
import { agentPaths, type AgentIdentity } from '../../agent/config.js';
import { migrateIdentity } from '../../agent/enroll/migrate.js';
import { nativeKeyPair } from '../../shared/nats/nkey-auth.js';
import { challengeCapFor, MAX_OPEN_CHALLENGES } from '../../server/enroll/challenges.js';
import { challengeTranscript } from '../../shared/protocol/enroll.js';
import { subjects } from '../../shared/protocol/subjects.js';
import { decodeToken } from '../../shared/protocol/token.js';
import { createRelease, publishPackage, readCurrent, startRollout, waitRolloutEnd } from '../helpers/faults.js';
import { cleanupFleet, createToken, initServer, joinAgent, runAgentCli, runFerry, startAgent, startServer, tempDir, waitFor, type AgentHandle, type ServerHandle } from '../helpers/fleet.js';
import { answerChallenge, challenge, joinByHand, replayJoin } from '../helpers/enroll.js';
import { connectAs, connectWithToken, enrollInbox } from '../helpers/hostile.js';
import { startTestNats, type TestNats } from '../helpers/nats.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await cleanupFleet();
}, 120_000);

describe('an impostor server', () => {
  it('learns nothing reusable from `ferry-agent join`: the agent stops at the challenge, and what the impostor saw cannot join the real server', async () => {
    const server = await initServer();
    cleanups.push(() => server.stop());
    const token = await createToken(server.home, { uses: 1 });
    const body = decodeToken(token);
    // The impostor: a bare nats-server (no auth, full protocol trace) with a responder of its own.
    const impostor: TestNats = await startTestNats({ config: `trace: true\nlogfile: "${join(tempDir('ferry-impostor-log-'), 'trace.log')}"` });
    cleanups.push(() => impostor.stop());
    const logfile = /logfile: "([^"]+)"/.exec(readFileSync(join(impostor.dir, 'nats.conf'), 'utf8'))![1]!;
    const nc = await connect({ servers: impostor.url });
    cleanups.push(() => nc.close());
    const seen: Msg[] = [];
    const fakeRoot = generateSigningKeyPair();
    const fakeOnline = generateSigningKeyPair();
    const now = Date.now();
    const trust = issueTrust({ type: 'ferry-trust', version: 1, issuedAt: new Date(now).toISOString(), expiresAt: new Date(now + 86_400_000).toISOString(), root: { publicKey: fakeRoot.publicKey }, keys: [{ publicKey: fakeOnline.publicKey, roles: ['packages', 'commands'] }] }, [fakeRoot]);
    nc.subscribe('>', {
      callback: (_e, m) => {
        seen.push(m);
        if (m.subject !== subjects.enrollChallenge) return;
        const req = JSON.parse(m.string()) as { token: string; nonce: string };
        const serverNonce = Buffer.alloc(32, 7).toString('base64');
        const sig = signBytes(fakeOnline.secretKey, challengeTranscript(req.token, req.nonce, serverNonce));
        m.respond(JSON.stringify({ ok: true, serverNonce, trust, key: keyFingerprint(fakeOnline.publicKey), sig }));
      },
    });
    await nc.flush();
    const stateDir = tempDir('ferry-agent-impostor-');
    const r = await runAgentCli(stateDir, ['join', '--server', impostor.url, '--token', token], { allowFail: true, env: { FERRY_HOSTNAME: 'victim' } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^FERRY_UNTRUSTED_KEY: /m);
    expect(readdirSync(stateDir)).toEqual([]);
    // It saw one challenge request (and its own answer going back) and nothing more: no join, no proof.
    expect(seen.map((m) => m.subject).filter((s) => !s.startsWith('_INBOX'))).toEqual([subjects.enrollChallenge]);
    await nc.flush();
    const everything = seen.map((m) => m.string()).join('\n') + readFileSync(logfile, 'utf8');
    expect(everything).toContain(body.i); // the token id is no secret…
    expect(everything).not.toContain(body.s); // …its secret never left the host
    expect(everything).not.toContain(body.k); // nor the enrolment user's seed
    expect(everything).not.toMatch(/"proof"/);
    // With all it saw (the challenge, the enrolment JWT from CONNECT), the impostor cannot join.
    const jwtSeen = /"jwt":"([^"]+)"/.exec(everything)?.[1];
    expect(jwtSeen).toBe(body.j);
    await expect(connectAs(server.url, { jwt: jwtSeen!, seed: new TextDecoder().decode(createUser().getSeed()) })).rejects.toThrow(/Authorization Violation/i);
    // The token is still unused at the real server: the real host can still join with it.
    const real = await joinAgent(server.home, 'real-host', { token });
    expect(real.id).toMatch(/^real-host-/);
  }, 180_000);

  it("a token holder cannot read another host's join result: replies are sealed to the joining host", async () => {
    const server = await initServer();
    cleanups.push(() => server.stop());
    const token = await createToken(server.home, { uses: 2 });
    const eavesdropper = await connectWithToken(server.url, token);
    cleanups.push(() => eavesdropper.close());
    const overheard: string[] = [];
    eavesdropper.nc.subscribe(`${subjects.enrollInboxPrefix(`enroll-${decodeToken(token).i}`)}.>`, { callback: (_e, m) => overheard.push(m.string()) });
    await eavesdropper.nc.flush();
    const victim = await joinAgent(server.home, 'sealed-host', { token });
    await eavesdropper.nc.flush();
    const identity = JSON.parse(readFileSync(join(victim.stateDir, 'identity.json'), 'utf8')) as { jwt: string };
    await waitFor(() => overheard.some((t) => t.includes('"sealed"')), 10_000, { message: 'the eavesdropper saw no join reply at all (the test would prove nothing)' });
    expect(overheard.join('\n')).not.toContain(identity.jwt);
    expect(overheard.join('\n')).not.toContain(victim.id);
    // And a join by hand still works beside it (the eavesdropper's own use of the token).
    expect((await joinByHand(eavesdropper.nc, token, { hostname: 'second' })).reply.ok).toBe(true);
  }, 120_000);
});

describe('another holder of the same token, and the open challenges', () => {
  let server: ServerHandle;
  beforeAll(async () => {
    server = await initServer();
    cleanups.push(() => server.stop());
  }, 120_000);

  it("a bad proof sent against a host's challenge (read from the token's shared inbox) does not burn it: the host still joins, once", async () => {
    const token = await createToken(server.home, { uses: 2 });
    const host = await connectWithToken(server.url, token);
    const other = await connectWithToken(server.url, token);
    cleanups.push(() => host.close(), () => other.close());
    // The other holder reads every reply to the token's enrolment inbox: the host's server nonce too.
    const overheard: string[] = [];
    other.nc.subscribe(`${enrollInbox(token)}.>`, { callback: (_e, m) => void overheard.push(m.string()) });
    await other.nc.flush();
    const { reply: c, nonce } = await challenge(host.nc, decodeToken(token).i);
    expect(c.ok, JSON.stringify(c)).toBe(true);
    const serverNonce = c.serverNonce as string;
    await waitFor(() => overheard.some((t) => t.includes(serverNonce)), 10_000, { message: "the other holder did not see the host's challenge (the test would prove nothing)" });
    // It holds the token's secret but not the host's own nonce: its proof cannot verify.
    const bad = await answerChallenge(other.nc, token, { agentNonce: randomBytes(32).toString('base64'), serverNonce }, { hostname: 'thief' });
    expect(bad.reply.ok).toBe(false);
    expect(bad.reply.error?.code).toBe('FERRY_TOKEN_INVALID');
    // A proof that is not even the right size is refused before it is checked, and burns nothing either.
    const malformed = await answerChallenge(other.nc, token, { agentNonce: nonce, serverNonce }, { hostname: 'thief', after: { proof: 'AAAA' } });
    expect(malformed.reply.error?.code).toBe('FERRY_INVALID_MESSAGE');
    const good = await answerChallenge(host.nc, token, { agentNonce: nonce, serverNonce }, { hostname: 'victim' });
    expect(good.reply.ok, JSON.stringify(good.reply)).toBe(true);
    expect(good.result?.agentId).toMatch(/^victim-/);
    // The good proof used the challenge up: sent again, it is refused and joins nobody.
    const replay = await replayJoin(host.nc, good.request);
    expect(replay.ok).toBe(false);
    expect(replay.error?.message).toMatch(/challenge is unknown, expired or already used/);
    expect(usesLeft(server.home, decodeToken(token).i)).toBe(1);
  }, 120_000);

  it("a flood of challenges with one token fills only that token's share: a join with another token still succeeds", async () => {
    const x = await createToken(server.home, { uses: 1 });
    const y = await createToken(server.home, { uses: 2 });
    const flooder = await connectWithToken(server.url, x);
    const joiner = await connectWithToken(server.url, y);
    cleanups.push(() => flooder.close(), () => joiner.close());
    // More challenges than the server holds open in all: before per-token caps, they filled it.
    const total = MAX_OPEN_CHALLENGES + 1;
    const replies: { ok: boolean; error?: { code: string; message: string } }[] = [];
    const prefix = `${enrollInbox(x)}.flood`;
    flooder.nc.subscribe(`${prefix}.*`, { callback: (_e, m) => void replies.push(JSON.parse(m.string()) as (typeof replies)[number]) });
    const request = new TextEncoder().encode(JSON.stringify({ v: 2, token: decodeToken(x).i, nonce: Buffer.alloc(32, 9).toString('base64') }));
    for (let i = 0; i < total; i++) {
      flooder.nc.publish(subjects.enrollChallenge, request, { reply: `${prefix}.${i}` });
      if (i % 1000 === 999) await flooder.nc.flush();
    }
    await waitFor(() => replies.length >= total, 120_000, { intervalMs: 250, message: () => `${replies.length} of ${total} challenges answered` });
    expect(flooder.errors).toEqual([]);
    // Another token's host joins at once…
    const joined = await joinByHand(joiner.nc, y, { hostname: 'beside-the-flood' });
    expect(joined.reply.ok, JSON.stringify(joined.reply)).toBe(true);
    // …because the flood opened only the few challenges its token may have; the rest were refused.
    const opened = replies.filter((r) => r.ok).length;
    expect(opened).toBe(challengeCapFor(1));
    const refused = replies.filter((r) => !r.ok);
    expect(refused).toHaveLength(total - opened);
    expect(new Set(refused.map((r) => `${r.error?.code}: ${r.error?.message}`))).toEqual(new Set(['FERRY_TIMEOUT: too many joins at once with this token; try again']));
  }, 240_000);

  it('a challenge names a token a host may join with: unknown, expired, revoked and used-up tokens are refused as the join would be', async () => {
    const asker = await connectWithToken(server.url, await createToken(server.home, { uses: 3 }));
    cleanups.push(() => asker.close());
    const expired = decodeToken(await createToken(server.home, { uses: 1, ttl: '1s' })).i;
    const revokedToken = await createToken(server.home, { uses: 1 });
    // Revoking pushes the accounts' claims: wait until that took effect (the revoked user is cut off).
    const revokedHolder = await connectWithToken(server.url, revokedToken);
    const cutOff = revokedHolder.nc.closed();
    await runFerry(server.home, ['token', 'revoke', decodeToken(revokedToken).i]);
    await Promise.race([cutOff, new Promise((_, reject) => setTimeout(() => reject(new Error("the revoked token's connection is still open")), 15_000))]);
    const once = await createToken(server.home, { uses: 1 });
    const onceHolder = await connectWithToken(server.url, once);
    const usedUpCut = onceHolder.nc.closed();
    expect((await joinByHand(onceHolder.nc, once, { hostname: 'the-only-one' })).reply.ok).toBe(true);
    // The used-up token's enrolment user is revoked a moment after its last use: wait for it too.
    await Promise.race([usedUpCut, new Promise((_, reject) => setTimeout(() => reject(new Error("the used-up token's connection is still open")), 45_000))]);
    await waitFor(() => expiresAt(server.home, expired) < Date.now(), 10_000, { intervalMs: 100 });
    const cases: Array<[string, RegExp]> = [
      ['000000000000', /join token refused: it is unknown to this server/],
      [expired, /join token refused: it has expired/],
      [decodeToken(revokedToken).i, /join token refused: it was revoked/],
      [decodeToken(once).i, /join token refused: it has no uses left/],
    ];
    for (const [tokenId, message] of cases) {
      const { reply } = await challenge(asker.nc, tokenId);
      expect(reply.ok, tokenId).toBe(false);
      expect(reply.error?.code).toBe('FERRY_TOKEN_INVALID');
      expect(reply.error?.message).toMatch(message);
      expect(reply).not.toHaveProperty('serverNonce');
    }
  }, 180_000);
});

function usesLeft(home: string, tokenId: string): number {
  const db = new Database(join(home, 'ferry.db'), { readonly: true });
  try {
    return (db.prepare('SELECT uses_left FROM tokens WHERE id = ?').get(tokenId) as { uses_left: number }).uses_left;
  } finally {
    db.close();
  }
}

function expiresAt(home: string, tokenId: string): number {
  const db = new Database(join(home, 'ferry.db'), { readonly: true });
  try {
    return (db.prepare('SELECT expires_at FROM tokens WHERE id = ?').get(tokenId) as { expires_at: number }).expires_at;
  } finally {
    db.close();
  }
}

describe('a data directory from before decentralised auth', () => {
  it('migrates on the next start: the store moves, agents fetch their JWT, keep working, and the migration account closes', async () => {
    // A server and an agent with a package installed…
    let server: ServerHandle = await initServer();
    const home = server.home;
    await publishPackage(home, { name: 'mig', version: '1.0.0', files: { 'bin/mig': 'one\n' } });
    const agent = await joinAgent(home, 'mig-host');
    let handle: AgentHandle = await startAgent(agent);
    await runRollout(home, 'mig-1', ['mig@1.0.0']);
    expect(readCurrent(agent.installRoot, 'mig')).toBe('1.0.0');
    await handle.stop();
    await server.stop();
    // …made to look as it did before: no NATS operator keys, the JetStream store under the
    // account's config name, no JWT on the host, none recorded as issued.
    const ferryAccount = readdirSync(join(home, 'nats/jetstream/jetstream')).find((d) => d.startsWith('A'))!;
    renameSync(join(home, 'nats/jetstream/jetstream', ferryAccount), join(home, 'nats/jetstream/jetstream/FERRY'));
    rmSync(join(home, 'nats/resolver'), { recursive: true, force: true });
    for (const f of ['keys/nats.json', 'keys/admin.creds']) rmSync(join(home, f));
    writeFileSync(join(home, 'keys/enroll.secret'), 'legacy-enrolment-password-that-no-longer-matters\n', { mode: 0o600 });
    const identityFile = join(agent.stateDir, 'identity.json');
    const { jwt: _dropped, ...legacy } = JSON.parse(readFileSync(identityFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(identityFile, JSON.stringify(legacy, null, 2));
    const db = new Database(join(home, 'ferry.db'));
    db.prepare('UPDATE agents SET jwt_issued_at = NULL').run();
    db.close();

    server = await startServer(home);
    cleanups.push(() => server.stop());
    expect(existsSync(join(home, 'keys/nats.json'))).toBe(true);
    expect(readdirSync(join(home, 'nats/jetstream/jetstream'))).not.toContain('FERRY');
    // A first answer lost on its way (the host crashed before saving it, or its connection was
    // dropped): the server issued a JWT the agent never got. MIGRATE must stay open until the agent
    // is seen with one, or this host could never connect again.
    const rootFingerprint = (legacy as { rootFingerprint: string }).rootFingerprint;
    const lost = await migrateIdentity({
      paths: { ...agentPaths(agent.stateDir), identity: join(tempDir('ferry-lost-jwt-'), 'identity.json') },
      identity: legacy as unknown as AgentIdentity,
      seed: readFileSync(join(agent.stateDir, 'agent.nk'), 'utf8').trim(),
      rootFingerprint,
      log: pino({ level: 'silent' }),
    });
    expect(lost.jwt).toMatch(/^ey/);
    // It first asks for its JWT over the migration account, then connects: more than a plain start.
    handle = await startAgent(agent, { env: { FERRY_LOG_LEVEL: 'info' }, timeoutMs: 120_000 });
    cleanups.push(() => handle.stop());
    expect((JSON.parse(readFileSync(identityFile, 'utf8')) as { jwt?: string }).jwt).toMatch(/^ey/);
    // The DML object from before the upgrade is still there (the moved store), and a new one works.
    await publishPackage(home, { name: 'mig', version: '1.1.0', files: { 'bin/mig': 'two\n' } });
    await runRollout(home, 'mig-2', ['mig@1.1.0']);
    expect(readCurrent(agent.installRoot, 'mig')).toBe('1.1.0');
    // Every agent has its JWT now, and has been seen with it: the migration account takes no connection.
    const migrate = nativeKeyPair(migrationAccountSeed(rootFingerprint));
    const user = createUser();
    const jwt = await encodeUser('intruder', user, migrate, {});
    await waitFor(
      () => connectAs(server.url, { jwt, seed: new TextDecoder().decode(user.getSeed()) }).then((w) => (void w.close(), false), (err: Error) => /maximum account active connections|Authorization/i.test(err.message)),
      15_000,
      { message: 'the MIGRATE account still takes connections after every agent got its JWT' },
    );
  }, 180_000);
});

async function runRollout(home: string, release: string, packages: string[]): Promise<void> {
  await createRelease(home, release, packages);
  const id = await startRollout(home, release, 'all');
  const doc = await waitRolloutEnd(home, id);
  expect(doc.state, JSON.stringify(doc)).toBe('completed');
}
