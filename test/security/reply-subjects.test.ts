// A reply subject is a write: JetStream and every responder publish a message's reply with their
// own authority. For every subject each non-server identity may publish to — generated from the
// permission table (server/nats/auth-config.ts), so a subject added there is covered here — send
// valid requests whose reply subject aims at the JetStream API, the stores, the admin API, other
// agents and inboxes, and check that nothing changed: streams (messages, sequences, consumers),
// desired states and their revisions, DML objects, audit rows, agents. Real nats-server, real
// server, real identities (an agent's JWT, a token's enrolment credential).
import Database from 'better-sqlite3';
import { Objm } from '@nats-io/obj';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeUser } from '@nats-io/jwt';
import { createUser } from '@nats-io/nkeys';
import { AGENT_TEMPLATE, ENROLL_TEMPLATE, expandTemplate, LEGACY_MIRROR_CONSUMER_CREATE, MIGRATE_TEMPLATE, mirrorConsumerCreate, SERVER_PERMISSIONS } from '../../server/nats/auth-config.js';
import { migrationAccountSeed } from '../../shared/nats/migration-key.js';
import { nativeKeyPair } from '../../shared/nats/nkey-auth.js';
import { BUCKETS, subjects, uploadBucket } from '../../shared/protocol/subjects.js';
import { decodeToken } from '../../shared/protocol/token.js';
import { publishPackage } from '../helpers/faults.js';
import { cleanupFleet, initServer, joinAgent, runFerry, tempDir, type JoinedAgent, type ServerHandle } from '../helpers/fleet.js';
import { operatorPermissions } from '../../server/operators/nats-permissions.js';
import { ROLES, type Role } from '../../shared/operators/roles.js';
import { readCredsFile } from '../../shared/nats/creds.js';
import { hostileReplies as hostileRepliesAt, objectMetaSubject, storeSnapshot } from '../helpers/store-snapshot.js';
import { api, apiToken, connectAs, connectAsAdmin, connectAsAgent, connectWithToken, encode, serverSecrets, type Watched } from '../helpers/hostile.js';

let server: ServerHandle;
let admin: Watched;
let A: JoinedAgent;
let B: JoinedAgent;
let token: string;
let metaSubject: string;
let objectName: string;
/** the bootstrap admin's own upload bucket, with an upload pending in it (another operator's, for every identity here) */
let adminUploads: string;

const snapshot = () => storeSnapshot({ admin: admin.nc, home: server.home, desiredKeys: [A.id, B.id, '_trust'], objectName });
const hostileReplies = (streams: string[]) => [...hostileRepliesAt({ streams, victim: B.id, objectName, token }), `$O.${adminUploads}.C.evilchunk`];

/** A publishable subject from a template's (possibly wildcard) entry, and a valid body for it. */
function concrete(subject: string, agentId: string): { subject: string; body: Uint8Array } {
  const now = Date.now();
  if (subject === subjects.status(agentId)) return { subject, body: encode({ agent: agentId, ts: now, operation: 'probe', state: 'downloading', installed: {} }) };
  if (subject === subjects.heartbeat(agentId)) return { subject, body: encode({ agent: agentId, ts: now, installed: {} }) };
  if (subject === subjects.inventory(agentId)) {
    const inventory = { hostname: A.hostname, os: 'linux', distro: 'x', release: '1', kernel: '6', arch: 'x64', cpu: { model: 'x', cores: 1 }, memoryMB: 1, disks: [], interfaces: [], virtual: false };
    return { subject, body: encode({ agent: agentId, ts: now, inventory, installed: {} }) };
  }
  // an object store's subjects: a chunk the bucket's stream captures (and acknowledges)
  if (/^\$O\.[^.]+\.>$/.test(subject)) return { subject: subject.replace(/>$/, 'C.probe'), body: new Uint8Array([1]) };
  if (subject.endsWith('.>')) return { subject: subject.replace(/>$/, metaSubject), body: new Uint8Array() };
  if (subject === '$JS.API.DIRECT.GET.OBJ_ferry-dml') return { subject, body: encode({ last_by_subj: metaSubject }) };
  if (subject === subjects.enrollChallenge) return { subject, body: encode({ v: 2, token: decodeToken(token).i, nonce: Buffer.alloc(32, 1).toString('base64') }) };
  if (subject === subjects.enrollJoin) return { subject, body: encode({ v: 2, token: decodeToken(token).i }) };
  // a well-formed migrate request that proves nothing (no valid signature): answered with a refusal
  if (subject === subjects.enrollMigrate) return { subject, body: encode({ v: 2, agent: A.id, nkey: createUser().getPublicKey(), ts: now, replyKey: Buffer.alloc(32, 2).toString('base64'), sig: 'AAAA' }) };
  return { subject, body: new Uint8Array() };
}

/**
 * What the server answers outside its API, as the admin (the FERRY account) can send it: each
 * enrolment subject, and the mirror's consumer request on the legacy subject (valid, and not)
 * and on a per-site one naming no site.
 */
function deputyServiceRequests(): { subject: string; body: Uint8Array }[] {
  const mirror = { stream_name: `OBJ_${BUCKETS.dml}`, config: { deliver_subject: '$JS.M.deputy', deliver_policy: 'all' } };
  return [
    ...[subjects.enrollChallenge, subjects.enrollJoin, subjects.enrollMigrate].map((subject) => concrete(subject, A.id)),
    { subject: LEGACY_MIRROR_CONSUMER_CREATE, body: encode(mirror) },
    { subject: LEGACY_MIRROR_CONSUMER_CREATE, body: encode({ stream_name: 'FERRY_REPORTS', config: {} }) },
    { subject: mirrorConsumerCreate('no-such-site'), body: encode(mirror) },
  ];
}

beforeAll(async () => {
  // A hub that accepts sites: its JetStream domain answers the agents' `$JS.hub.API` reads too
  // (what an agent at a site uses), so those paths are attacked for real.
  server = await initServer({ args: ['--leaf-listen', '127.0.0.1:0'] });
  const secrets = serverSecrets(server.home);
  admin = await connectAsAdmin(secrets.natsUrl, secrets);
  await publishPackage(server.home, { name: 'app', version: '1.0.0', files: { 'bin/app': 'v1\n' } });
  const join2 = await apiToken(admin.nc, { uses: 2 });
  A = await joinAgent(server.home, 'reply-a', { token: join2 });
  B = await joinAgent(server.home, 'reply-b', { token: join2 });
  token = await apiToken(admin.nc, { uses: 5 });
  // A site (its row and link keys only; no nats-server): a site.remove request aimed by a reply must not remove it.
  await runFerry(server.home, ['site', 'add', 'deputy', '--out', tempDir('ferry-reply-site-'), '--listen', '127.0.0.1:4999']);
  // B has a desired state (a signed document in KV) that a reply must not overwrite.
  await api(admin.nc, 'release.create', { name: 'reply-r1', packages: ['app@1.0.0'] });
  await api(admin.nc, 'rollout.start', { release: 'reply-r1', target: `id=${B.id}`, strategy: 'big-bang', includeOffline: true });
  objectName = 'app@1.0.0';
  metaSubject = objectMetaSubject(objectName);
  // Another operator's pending upload: no identity below may purge, replace or add to it.
  adminUploads = uploadBucket(secrets.adminKey.operator);
  await (await new Objm(admin.nc).open(adminUploads)).putBlob({ name: 'upload-pending' }, new Uint8Array([1, 2, 3]));
  // The reports stream holds a report already, so a purge would show in its first sequence.
  const own = await connectAsAgent(secrets.natsUrl, A);
  await own.nc.request(subjects.status(A.id), concrete(subjects.status(A.id), A.id).body, { timeout: 10_000 });
  await own.close();
}, 180_000);

afterAll(async () => {
  await admin?.close();
  await server?.stop();
  await cleanupFleet();
}, 120_000);

/**
 * A user of the MIGRATE account, signed with the key anyone can derive from the root fingerprint.
 * The account takes connections only while an agent has no JWT: make A look like one from before
 * decentralised auth, and have the server rebuild its accounts (revoking a token pushes them).
 */
async function connectMigrateUser(): Promise<Watched> {
  const db = new Database(join(server.home, 'ferry.db'));
  try {
    db.prepare('UPDATE agents SET jwt_issued_at = NULL WHERE id = ?').run(A.id);
  } finally {
    db.close();
  }
  const spare = await apiToken(admin.nc, { uses: 1 });
  await api(admin.nc, 'token.revoke', { id: decodeToken(spare).i, actor: 'test' });
  const root = JSON.parse(readFileSync(join(A.stateDir, 'identity.json'), 'utf8')) as { rootFingerprint: string };
  const user = createUser();
  const jwt = await encodeUser(A.id, user, nativeKeyPair(migrationAccountSeed(root.rootFingerprint)), { pub: { allow: MIGRATE_TEMPLATE.publish }, sub: { allow: [`${subjects.enrollInboxPrefix(A.id)}.>`] } });
  return connectAs(serverSecrets(server.home).natsUrl, { jwt, seed: new TextDecoder().decode(user.getSeed()) }, { inboxPrefix: subjects.enrollInboxPrefix(A.id), name: 'migrate user' });
}

/** A person's credentials from `ferry operator add`, connected as the CLI would (its own inbox). */
async function connectAsOperator(role: Role): Promise<Watched> {
  const name = `op-${role}`;
  const file = join(server.home, `${name}.creds`);
  if (!existsSync(file)) await runFerry(server.home, ['operator', 'add', name, '--role', role, '--out', file]);
  return connectAs(serverSecrets(server.home).natsUrl, readCredsFile(file), { inboxPrefix: `${subjects.cliInboxPrefix}.${name}`, name });
}

describe('a reply subject is never a write', () => {
  const identities: Array<[string, () => Promise<{ w: Watched; publish: string[]; agentId: string }>]> = [
    ['an agent (its own JWT)', async () => ({ w: await connectAsAgent(serverSecrets(server.home).natsUrl, A), publish: expandTemplate(AGENT_TEMPLATE, A.id).publish, agentId: A.id })],
    ["a join token's enrolment credential", async () => ({ w: await connectWithToken(serverSecrets(server.home).natsUrl, token), publish: expandTemplate(ENROLL_TEMPLATE, `enroll-${decodeToken(token).i}`).publish, agentId: A.id })],
    ['a user of the MIGRATE account (anyone who knows the root fingerprint, while an agent has no JWT yet)', async () => ({ w: await connectMigrateUser(), publish: expandTemplate(MIGRATE_TEMPLATE, A.id).publish, agentId: A.id })],
    // every role, admin included: an admin operator is a user of OPERATORS like the others (only the bootstrap admin is in FERRY)
    ...ROLES.map((role): [string, () => Promise<{ w: Watched; publish: string[]; agentId: string }>] => [
      `an operator with role ${role} (a person's own credentials)`,
      async () => ({ w: await connectAsOperator(role), publish: operatorPermissions(`op-${role}`, role).publish, agentId: A.id }),
    ]),
  ];

  it.each(identities)('%s: every permitted subject × every hostile reply changes nothing', async (_label, open) => {
    const { w, publish, agentId } = await open();
    // The one stream this identity may write: its own upload bucket, if any (release managers).
    const own = publish.find((p) => /^\$O\.[^.]+\.>$/.test(p))?.split('.')[1];
    try {
      // An upload of their own pending in it, so that a purge of it would show in its first sequence.
      if (own) await (await new Objm(w.nc).open(own)).putBlob({ name: 'upload-own' }, new Uint8Array([4, 5, 6]));
      const before = await snapshot();
      const replies = hostileReplies(Object.keys(before.streams));
      let reports = 0;
      // Admin API requests (operators): unsigned here, so each is refused — and audited as refused.
      let apiRequests = 0;
      for (const entry of publish) {
        const { subject, body } = concrete(entry, agentId);
        for (const reply of replies) {
          w.nc.publish(subject, body, { reply });
          if (subject === subjects.status(agentId) || subject === subjects.inventory(agentId)) reports++;
          if (subject.startsWith('ferry.api.')) apiRequests++;
        }
      }
      // Every case was a permitted publish: nats-server reported no violation.
      await w.nc.flush();
      expect(w.errors.map((e) => e.message)).toEqual([]);
      // Wait for the effects to have happened, in order: a legitimate request on each path
      // answers only after the server handled everything sent before it on this connection.
      for (const entry of publish) {
        const { subject, body } = concrete(entry, agentId);
        if (subject === subjects.heartbeat(agentId)) continue; // no responder: fire and forget
        const answer = await w.nc.request(subject, body, { timeout: 10_000 }).catch((err: unknown) => {
          throw new Error(`${subject}: ${(err as Error).message}`);
        });
        expect(answer.data.length + (answer.headers ? 1 : 0)).toBeGreaterThan(0);
        if (subject === subjects.status(agentId) || subject === subjects.inventory(agentId)) reports++;
        if (subject.startsWith('ferry.api.')) apiRequests++;
      }
      const after = await snapshot();
      // The reports stream took exactly the reports sent (its acks went nowhere); nothing else moved
      // (but a release manager's or an admin's own upload bucket, which they may write: it only grows). Other
      // operators' upload buckets (the admin's, with an upload pending) are untouched.
      const rep = 'FERRY_REPORTS';
      const up = own ? `OBJ_${own}` : 'none';
      expect(own === undefined || own !== adminUploads).toBe(true);
      expect(before.streams[`OBJ_${adminUploads}`]!.messages).toBeGreaterThan(0);
      expect(after.streams[rep]!.messages - before.streams[rep]!.messages).toBe(reports);
      expect(after.streams[rep]!.first).toBe(before.streams[rep]!.first);
      if (own) {
        expect(before.streams[up]).toBeDefined();
        expect(after.streams[up]!.first).toBe(before.streams[up]!.first);
        expect(after.streams[up]!.messages).toBeGreaterThanOrEqual(before.streams[up]!.messages);
        expect(after.streams[up]!.consumers).toEqual(before.streams[up]!.consumers);
      }
      expect({ ...after.streams, [rep]: null, [up]: null }).toEqual({ ...before.streams, [rep]: null, [up]: null });
      expect(after.desired).toEqual(before.desired);
      expect(after.objects).toEqual(before.objects);
      expect(after.audit - before.audit).toBe(apiRequests);
      expect(after.agents).toEqual(before.agents);
      expect(before.desired[B.id]).toBeGreaterThan(0);
      expect(before.objects).toHaveLength(1);
    } finally {
      await w.close();
    }
  }, 120_000);

  it('the server as a deputy: admin API, enrolment and mirror-consumer requests whose reply aims at JetStream or another verb are dropped without acting', async () => {
    const before = await snapshot();
    const tokensBefore = (await api<unknown[]>(admin.nc, 'token.list', {})).length;
    const replies = hostileReplies(Object.keys(before.streams));
    // (Replies into the CLI's own inbox are where the server answers: the admin may revoke B.)
    for (const reply of replies.filter((r) => !r.startsWith(`${subjects.cliInboxPrefix}.`))) {
      admin.nc.publish('ferry.api.agents.revoke', encode({ id: B.id, actor: 'deputy' }), { reply });
      admin.nc.publish('ferry.api.token.create', encode({ tags: {}, ttlMs: 60_000, uses: 1 }), { reply });
      admin.nc.publish('ferry.api.site.remove', encode({ name: 'deputy', force: true, actor: 'deputy' }), { reply });
    }
    admin.nc.publish('ferry.api.agents.revoke', encode({ id: B.id, actor: 'deputy' })); // no reply at all
    // Enrolment and sites' mirror-consumer requests are answered only to a service import's `_R_`
    // reply; the server's own account reaches them directly, with any reply (every one of them
    // here, the CLI's inbox too). Each would be answered — a challenge, a refusal — if it got
    // through; the refusals are sent before the handler waits on anything, so their effects
    // would be there by the time the API request below is answered.
    const served = deputyServiceRequests();
    expect(served.map((r) => r.subject)).toEqual(expect.arrayContaining([subjects.enrollChallenge, subjects.enrollJoin, subjects.enrollMigrate, LEGACY_MIRROR_CONSUMER_CREATE, mirrorConsumerCreate('no-such-site')]));
    for (const reply of replies) for (const { subject, body } of served) admin.nc.publish(subject, body, { reply });
    for (const { subject, body } of served) admin.nc.publish(subject, body); // no reply at all
    await admin.nc.flush();
    expect(admin.errors.map((e) => e.message)).toEqual([]);
    // A legitimate request answers only after the server handled everything sent before it.
    await api(admin.nc, 'agents.list', {});
    const after = await snapshot();
    expect(after).toEqual(before);
    expect(before.sites).toEqual(['site:deputy']);
    expect(await api<{ id: string }[]>(admin.nc, 'token.list', {})).toHaveLength(tokensBefore);
  });

  it('the permission table is what the generated cases cover, and the server user has no wildcard write into other accounts', () => {
    expect(expandTemplate(AGENT_TEMPLATE, 'x').publish.length).toBeGreaterThanOrEqual(7);
    expect(ENROLL_TEMPLATE.publish).toEqual([subjects.enrollChallenge, subjects.enrollJoin]);
    // The server replies only to service imports' private subjects and the CLI's inbox.
    expect(SERVER_PERMISSIONS.publish.filter((s) => s.includes('INBOX') || s.startsWith('_R_'))).toEqual(['_R_.>', `${subjects.cliInboxPrefix}.>`]);
    expect(SERVER_PERMISSIONS.publish).not.toContain('>');
  });
});
