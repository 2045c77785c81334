// The permission table (auth-config.ts), the account JWTs built from it (accounts.ts) and the
// operator-mode block of nats-server's configuration (server-config.ts).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode, type Account, type Operator, type User } from '@nats-io/jwt';
import { createUser } from '@nats-io/nkeys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catchFerryError } from '../../test/helpers/errors.js';
import { buildAccountJwts, enrollUserName, issueAccountUser, issueAgentJwt, issueEnrollJwt, migrationAccount, OPERATOR_NAME, type AccountJwts } from './accounts.js';
import {
  AGENT_STREAM_IMPORTS,
  OPERATOR_SERVICES,
  AGENT_TEMPLATE,
  agentPermissions,
  ENROLL_TEMPLATE,
  expandTemplate,
  isValidAgentId,
  MIGRATE_TEMPLATE,
  NAME,
  serviceExports,
  SITE_SERVICES,
  SITE_STREAMS,
  subjectCovers,
  uploadServices,
} from './auth-config.js';
import { operatorPermissions } from '../operators/nats-permissions.js';
import { verbsOf } from '../../shared/operators/roles.js';
import { findNatsServerBinary } from './embedded.js';
import { ensureNatsKeys, loadNatsKeys, type NatsKeys } from './nats-keys.js';
import { renderOperatorAuth, renderServerConfig, type OperatorAuth } from './server-config.js';

const expectInvalid = (fn: () => unknown): void => void catchFerryError(fn);
const pub = () => createUser().getPublicKey();

const BAD_AGENT_IDS = ['a"; x', '', '-a', 'A1', 'a.b', 'a*', 'a>', 'a b', 'a\nb', 'x'.repeat(64), 'enroll', '{{name()}}'];

describe('permission templates', () => {
  it('gives agents exactly the documented permissions', () => {
    expect(agentPermissions('a1')).toEqual({
      publish: [
        'ferry.agent.a1.status',
        'ferry.agent.a1.inventory',
        'ferry.agent.a1.heartbeat',
        '$JS.API.DIRECT.GET.OBJ_ferry-dml',
        '$JS.API.DIRECT.GET.OBJ_ferry-dml.>',
        '$JS.API.DIRECT.GET.KV_ferry-desired.$KV.ferry-desired.a1',
        // the signed trust document, readable by every agent
        '$JS.API.DIRECT.GET.KV_ferry-desired.$KV.ferry-desired._trust',
        // the same at the hub's JetStream domain, for an agent at a site (sites as leafnodes)
        '$JS.hub.API.DIRECT.GET.OBJ_ferry-dml',
        '$JS.hub.API.DIRECT.GET.OBJ_ferry-dml.>',
        '$JS.hub.API.DIRECT.GET.KV_ferry-desired.$KV.ferry-desired.a1',
        '$JS.hub.API.DIRECT.GET.KV_ferry-desired.$KV.ferry-desired._trust',
      ],
      subscribe: ['ferry.cmd.a1', 'ferry.broadcast.>', '_INBOX.a1.>'],
    });
    // No JetStream API beyond direct gets: no INFO, no STREAM.INFO, no consumers, no wildcards on it.
    for (const s of agentPermissions('a1').publish) {
      if (s.startsWith('$JS.')) expect(s).toMatch(/^\$JS\.(hub\.)?API\.DIRECT\.GET\./);
      expect(s.startsWith('$KV.') || s.startsWith('$O.') || s === '>' || s === '$JS.>' || s === '$JS.API.>').toBe(false);
    }
  });

  it('expandTemplate puts the name only where the template says, in whole tokens', () => {
    expect(expandTemplate(AGENT_TEMPLATE, 'host-7')).toEqual(agentPermissions('host-7'));
    expect(expandTemplate(ENROLL_TEMPLATE, enrollUserName('t1'))).toEqual({
      publish: ['ferry.enroll.challenge', 'ferry.enroll.join'],
      subscribe: ['_INBOX_enroll.enroll-t1.>'],
    });
    expect(expandTemplate(MIGRATE_TEMPLATE, 'a1')).toEqual({ publish: ['ferry.enroll.migrate'], subscribe: ['_INBOX_enroll.a1.>'] });
    // A template subject without the name is left alone; every occurrence is replaced.
    expect(expandTemplate({ publish: ['x.y', `${NAME}.${NAME}`], subscribe: [`a.${NAME}-b.c`] }, 'n')).toEqual({ publish: ['x.y', 'n.n'], subscribe: ['a.n-b.c'] });
    // the templates themselves carry the placeholder nats-server fills from the user JWT's name
    expect(AGENT_TEMPLATE.subscribe).toContain(`_INBOX.${NAME}.>`);
    expect(ENROLL_TEMPLATE.subscribe).toEqual([`_INBOX_enroll.${NAME}.>`]);
  });

  it('rejects bad agent ids', () => {
    for (const id of BAD_AGENT_IDS) {
      expectInvalid(() => agentPermissions(id));
      expect(isValidAgentId(id)).toBe(false);
    }
    for (const id of [undefined, null, 1, {}]) expect(isValidAgentId(id)).toBe(false);
    expect(() => agentPermissions('x'.repeat(63))).not.toThrow();
    expect(() => agentPermissions('0-a')).not.toThrow();
  });
});

describe('serviceExports and subjectCovers', () => {
  it('subjectCovers on a small table', () => {
    const table: Array<[string, string, boolean]> = [
      ['a.b', 'a.b', true],
      ['a.b', 'a.c', false],
      ['a.*', 'a.b', true],
      ['a.*', 'a._trust', true],
      ['a.*', 'a.*', true],
      ['a.*', 'a.>', false],
      ['a.*', 'a', false],
      ['a.*', 'a.b.c', false],
      ['a.>', 'a.b', true],
      ['a.>', 'a.b.c', true],
      ['a.>', 'a.*', true],
      ['a.>', 'a.>', true],
      ['a.>', 'a', false],
      ['>', 'a', true],
      ['a.b', 'a.*', false],
      ['a.b', 'a.>', false],
      ['a.b.c', 'a.b', false],
      ['*.b', 'a.b', true],
      ['*.b', 'a.c', false],
      ['a.*.c', 'a.x.c', true],
      ['a.*.c', 'a.x.d', false],
    ];
    for (const [pattern, subject, covers] of table) expect(subjectCovers(pattern, subject), `${pattern} covers ${subject}`).toBe(covers);
  });

  it('dedupes overlapping subjects: `….*` covers `…._trust`', () => {
    expect(serviceExports(AGENT_TEMPLATE)).toEqual([
      'ferry.agent.*.status',
      'ferry.agent.*.inventory',
      'ferry.agent.*.heartbeat',
      '$JS.API.DIRECT.GET.OBJ_ferry-dml',
      '$JS.API.DIRECT.GET.OBJ_ferry-dml.>',
      '$JS.API.DIRECT.GET.KV_ferry-desired.$KV.ferry-desired.*',
      '$JS.hub.API.DIRECT.GET.OBJ_ferry-dml',
      '$JS.hub.API.DIRECT.GET.OBJ_ferry-dml.>',
      '$JS.hub.API.DIRECT.GET.KV_ferry-desired.$KV.ferry-desired.*',
    ]);
    expect(serviceExports(ENROLL_TEMPLATE)).toEqual(['ferry.enroll.challenge', 'ferry.enroll.join']);
    expect(serviceExports(MIGRATE_TEMPLATE)).toEqual(['ferry.enroll.migrate']);
    // duplicates collapse; a subject covered by a wider one goes; unrelated ones stay
    expect(serviceExports({ publish: ['x.y', 'x.y', 'a.b.c', 'a.>', `k.${NAME}`, 'k._trust', 'k.z.w'], subscribe: [] })).toEqual(['x.y', 'a.>', 'k.*', 'k.z.w']);
    // no export is covered by another (nats-server refuses overlapping exports)
    const all = [...serviceExports(AGENT_TEMPLATE), ...serviceExports(ENROLL_TEMPLATE), ...serviceExports(MIGRATE_TEMPLATE)];
    for (const a of all) for (const b of all) if (a !== b) expect(subjectCovers(a, b), `${a} covers ${b}`).toBe(false);
  });
});

type Claims<T> = ReturnType<typeof decode<T>>;

describe('buildAccountJwts', () => {
  let dir: string;
  let keys: NatsKeys;
  let jwts: AccountJwts;
  const revokedAgent = pub();
  const revokedEnroll = pub();
  const claims = (name: 'SYS' | 'FERRY' | 'AGENTS' | 'ENROLL' | 'MIGRATE'): Claims<Account> => decode<Account>(jwts.accounts[jwts.ids[name]]!);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-accounts-'));
    const file = join(dir, 'nats.json');
    expect(ensureNatsKeys(file)).toBe(true);
    expect(ensureNatsKeys(file)).toBe(false); // never replaced
    keys = loadNatsKeys(file);
    jwts = await buildAccountJwts(keys, { agentRevocations: { [revokedAgent]: 1_800_000_000 }, enrollRevocations: { [revokedEnroll]: 1_800_000_001 }, rootFingerprint: 'test', agentsToMigrate: 0, uploaders: ['rolf', 'rita'] });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('an operator naming SYS, and the six accounts signed by it', () => {
    const op = decode<Operator>(jwts.operator);
    expect(op.name).toBe(OPERATOR_NAME);
    expect(op.sub).toBe(keys.operator.publicKey);
    expect(op.iss).toBe(keys.operator.publicKey);
    expect(op.nats.type).toBe('operator');
    expect(op.nats.system_account).toBe(keys.accounts.SYS.publicKey);
    expect(jwts.systemAccount).toBe(keys.accounts.SYS.publicKey);
    expect(jwts.ids).toEqual({
      SYS: keys.accounts.SYS.publicKey,
      FERRY: keys.accounts.FERRY.publicKey,
      AGENTS: keys.accounts.AGENTS.publicKey,
      ENROLL: keys.accounts.ENROLL.publicKey,
      OPERATORS: keys.accounts.OPERATORS.publicKey,
      MIGRATE: migrationAccount('test').publicKey,
    });
    expect(Object.keys(jwts.accounts).sort()).toEqual(Object.values(jwts.ids).sort());
    for (const name of ['SYS', 'FERRY', 'AGENTS', 'ENROLL', 'OPERATORS', 'MIGRATE'] as const) {
      const c = claims(name);
      expect(c.name).toBe(name);
      expect(c.sub).toBe(jwts.ids[name]);
      expect(c.iss).toBe(keys.operator.publicKey);
      expect(c.nats.type).toBe('account');
    }
  });

  it('FERRY: JetStream limits, and only the agent/enrolment/migrate/operator services plus the two streams exported', () => {
    const ferry = claims('FERRY');
    expect(ferry.nats.limits).toMatchObject({ mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1, conn: -1 });
    const exports = ferry.nats.exports ?? [];
    const services = exports.filter((e) => e.type === 'service');
    const streams = exports.filter((e) => e.type === 'stream');
    const uploads = [...uploadServices('rita'), ...uploadServices('rolf')];
    expect(services.map((e) => e.subject)).toEqual([...serviceExports(AGENT_TEMPLATE), ...serviceExports(ENROLL_TEMPLATE), ...serviceExports(MIGRATE_TEMPLATE), ...OPERATOR_SERVICES, ...uploads, ...SITE_SERVICES]);
    for (const e of services) expect(e.response_type).toBe('Singleton');
    expect(streams.map((e) => e.subject)).toEqual(['ferry.cmd.*', 'ferry.broadcast.>', ...SITE_STREAMS]);
    expect(streams.map((e) => e.subject)).toEqual([...AGENT_STREAM_IMPORTS, ...SITE_STREAMS]);
    // For sites' links: the mirror's consumer request (to the server) and flow control, sites' replies; deliveries and requests to sites.
    expect(SITE_SERVICES).toEqual(['ferry.mirror.*.CONSUMER.CREATE.OBJ_ferry-dml', 'ferry.mirror.CONSUMER.CREATE.OBJ_ferry-dml', '$JS.FC.OBJ_ferry-dml.>', 'ferry.site.*.reply.>']);
    expect(SITE_STREAMS).toEqual(['$JS.M.*', '$JS.*.API.STREAM.INFO.OBJ_ferry-dml', '$JS.*.API.STREAM.CREATE.OBJ_ferry-dml', '$JS.*.API.STREAM.DELETE.OBJ_ferry-dml']);
    expect(exports).toHaveLength(services.length + streams.length);
    // Operators reach the admin API; each uploader reads and adds to their own upload bucket, named
    // exactly (never a wildcard over buckets: a writer of an object store may purge it with a
    // rollup); nothing that changes a stream's config.
    expect(OPERATOR_SERVICES).toEqual(['ferry.api.>', '$JS.API.INFO']);
    expect(uploadServices('rita')).toEqual(['$JS.API.STREAM.INFO.OBJ_ferry-upload-rita', '$JS.API.STREAM.MSG.GET.OBJ_ferry-upload-rita', '$JS.API.DIRECT.GET.OBJ_ferry-upload-rita.>', '$O.ferry-upload-rita.>']);
    // nothing else that would open the JetStream API, the stores or the API to another account
    for (const e of exports.filter((x) => !OPERATOR_SERVICES.includes(x.subject) && !uploads.includes(x.subject))) expect(e.subject).not.toMatch(/^(\$JS\.API\.(INFO|STREAM|CONSUMER|>)|\$KV\.|\$O\.|ferry\.api\.|ferry\.events\.|_INBOX|>$)/);
    // no export needs an activation token, none is private to some account
    for (const e of exports) expect(e.token_req).toBeFalsy();
    expect(ferry.nats.imports ?? []).toEqual([]);
    expect(ferry.nats.signing_keys ?? []).toEqual([]);
  });

  it('AGENTS, ENROLL, OPERATORS, MIGRATE (and SYS) have no JetStream', () => {
    for (const name of ['SYS', 'AGENTS', 'ENROLL', 'OPERATORS', 'MIGRATE'] as const) {
      const limits = (claims(name).nats.limits ?? {}) as Record<string, unknown>;
      for (const k of ['mem_storage', 'disk_storage', 'streams', 'consumer']) expect(limits[k] ?? 0, `${name}.${k}`).toBe(0);
      expect(limits['tiered_limits']).toBeUndefined();
    }
  });

  it("OPERATORS imports exactly FERRY's operator services (each uploader's own bucket) and the DML's direct gets, and exports nothing", () => {
    const operators = claims('OPERATORS');
    expect((operators.nats.imports ?? []).map((i) => [i.type, i.subject, i.account])).toEqual([
      ...[...OPERATOR_SERVICES, ...uploadServices('rita'), ...uploadServices('rolf')].map((s) => ['service', s, jwts.ids.FERRY]),
      ['service', '$JS.API.DIRECT.GET.OBJ_ferry-dml', jwts.ids.FERRY],
      ['service', '$JS.API.DIRECT.GET.OBJ_ferry-dml.>', jwts.ids.FERRY],
    ]);
    expect(operators.nats.exports ?? []).toEqual([]);
    expect(operators.nats.signing_keys ?? []).toEqual([]);
  });

  it("an operator's user names only their own upload bucket; roles that may not upload name none", () => {
    const rita = operatorPermissions('rita', 'release-manager').publish;
    expect(rita.filter((p) => /ferry-upload/.test(p))).toEqual(uploadServices('rita'));
    expect(rita.filter((p) => p.startsWith('$O.') || p.startsWith('$JS.API.STREAM.') || p.includes('*') || (p.includes('>') && !p.startsWith('$JS.API.DIRECT.GET.')))).toEqual([
      '$JS.API.STREAM.INFO.OBJ_ferry-upload-rita',
      '$JS.API.STREAM.MSG.GET.OBJ_ferry-upload-rita',
      '$O.ferry-upload-rita.>',
    ]);
    expect(operatorPermissions('vera', 'viewer').publish.filter((p) => /ferry-upload|^\$O\./.test(p))).toEqual([]);
  });

  it('an admin operator is a user of OPERATORS too: every verb, their own upload bucket, the DML direct gets, their inbox — no stream, KV or DML write', () => {
    const ada = operatorPermissions('ada', 'admin');
    expect(ada.publish.filter((p) => p.startsWith('ferry.api.')).sort()).toEqual(verbsOf('admin').map((v) => `ferry.api.${v}`).sort());
    expect(ada.publish.filter((p) => !p.startsWith('ferry.api.'))).toEqual(['$JS.API.INFO', ...uploadServices('ada'), '$JS.API.DIRECT.GET.OBJ_ferry-dml', '$JS.API.DIRECT.GET.OBJ_ferry-dml.>']);
    expect(ada.subscribe).toEqual(['_INBOX_cli.ada.>']);
    for (const p of ada.publish) expect(p).not.toMatch(/^(\$KV\.|\$O\.ferry-dml|\$JS\.API\.(STREAM\.(PURGE|DELETE|UPDATE|CREATE)|CONSUMER)|>$|_INBOX)/);
  });

  it("revocations: revoked operators in OPERATORS and FERRY; renewed operators' old users in FERRY only", async () => {
    const [gone, moved, both] = [pub(), pub(), pub()];
    const j = await buildAccountJwts(keys, { agentRevocations: {}, enrollRevocations: {}, rootFingerprint: 'test', agentsToMigrate: 0, operatorRevocations: { [gone]: 1_800_000_000, [both]: 1_800_000_005 }, ferryRevocations: { [moved]: 1_800_000_002, [both]: 1_800_000_001 } });
    const of = (id: string) => decode<Account>(j.accounts[id]!).nats.revocations;
    expect(of(j.ids.OPERATORS)).toEqual({ [gone]: 1_800_000_000, [both]: 1_800_000_005 });
    expect(of(j.ids.FERRY)).toEqual({ [gone]: 1_800_000_000, [moved]: 1_800_000_002, [both]: 1_800_000_005 });
  });

  it('a keys file from before the OPERATORS account gets one on load, every other key kept', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-natskeys-'));
    try {
      const file = join(dir, 'nats.json');
      ensureNatsKeys(file);
      const doc = JSON.parse(readFileSync(file, 'utf8')) as { accounts: Record<string, string> };
      delete doc.accounts.OPERATORS;
      writeFileSync(file, JSON.stringify(doc));
      const loaded = loadNatsKeys(file);
      expect(loaded.accounts.OPERATORS.publicKey).toMatch(/^A/);
      const again = JSON.parse(readFileSync(file, 'utf8')) as { accounts: Record<string, string> };
      expect({ ...again.accounts, OPERATORS: undefined }).toEqual({ ...doc.accounts, OPERATORS: undefined });
      expect(loadNatsKeys(file).accounts.OPERATORS.publicKey).toBe(loaded.accounts.OPERATORS.publicKey);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("AGENTS imports exactly FERRY's agent services and streams; its scoped signing key's template is AGENT_TEMPLATE", () => {
    const agents = claims('AGENTS');
    const imports = agents.nats.imports ?? [];
    expect(imports.map((i) => [i.type, i.subject, i.account])).toEqual([
      ...serviceExports(AGENT_TEMPLATE).map((s) => ['service', s, jwts.ids.FERRY]),
      ...AGENT_STREAM_IMPORTS.map((s) => ['stream', s, jwts.ids.FERRY]),
      // for sites' links, users of AGENTS too (siteLinkPermissions): no agent's template reaches these
      ...SITE_SERVICES.map((s) => ['service', s, jwts.ids.FERRY]),
      ...SITE_STREAMS.map((s) => ['stream', s, jwts.ids.FERRY]),
    ]);
    for (const s of [...SITE_SERVICES, ...SITE_STREAMS]) expect(AGENT_TEMPLATE.publish.concat(AGENT_TEMPLATE.subscribe).some((t) => subjectCovers(t, s) || subjectCovers(s, t)), s).toBe(false);
    expect(agents.nats.exports ?? []).toEqual([]);
    const signers = agents.nats.signing_keys ?? [];
    expect(signers).toHaveLength(1);
    const scoped = signers[0] as Exclude<(typeof signers)[number], string>;
    expect(typeof scoped).toBe('object');
    expect(scoped.kind).toBe('user_scope');
    expect(scoped.key).toBe(keys.signers.AGENTS.publicKey);
    expect(scoped.key).not.toBe(keys.accounts.AGENTS.publicKey);
    expect(scoped.template.pub).toEqual({ allow: AGENT_TEMPLATE.publish, deny: [] });
    expect(scoped.template.sub).toEqual({ allow: AGENT_TEMPLATE.subscribe, deny: [] });
    expect(scoped.template.payload).toBe(1024 * 1024);
    expect(agents.nats.limits).toMatchObject({ payload: 1024 * 1024 });
  });

  it('ENROLL imports only challenge and join, with a scoped key whose template is ENROLL_TEMPLATE', () => {
    const enroll = claims('ENROLL');
    expect((enroll.nats.imports ?? []).map((i) => [i.type, i.subject, i.account])).toEqual([
      ['service', 'ferry.enroll.challenge', jwts.ids.FERRY],
      ['service', 'ferry.enroll.join', jwts.ids.FERRY],
    ]);
    const [scoped, ...more] = enroll.nats.signing_keys ?? [];
    expect(more).toEqual([]);
    expect(scoped).toMatchObject({ kind: 'user_scope', key: keys.signers.ENROLL.publicKey, template: { pub: { allow: ENROLL_TEMPLATE.publish }, sub: { allow: ENROLL_TEMPLATE.subscribe }, subs: 10 } });
    expect(enroll.nats.limits?.conn).toBeGreaterThan(0);
  });

  it('passes the revocations through to AGENTS and ENROLL', () => {
    expect(claims('AGENTS').nats.revocations).toEqual({ [revokedAgent]: 1_800_000_000 });
    expect(claims('ENROLL').nats.revocations).toEqual({ [revokedEnroll]: 1_800_000_001 });
    // SYS carries none until a site is removed (its claims, and so what is pushed, stay as they were)
    expect(claims('SYS').nats.revocations).toBeUndefined();
  });

  it('a removed site\'s system-account link is revoked in SYS (site remove)', async () => {
    const systemLink = pub();
    const withSite = await buildAccountJwts(keys, { agentRevocations: {}, enrollRevocations: {}, rootFingerprint: 'test', agentsToMigrate: 0, systemRevocations: { [systemLink]: 1_800_000_002 } });
    expect(decode<Account>(withSite.accounts[withSite.ids.SYS]!).nats.revocations).toEqual({ [systemLink]: 1_800_000_002 });
  });

  it('MIGRATE takes no connection when no agent is left to migrate, and some while there are', async () => {
    const closed = claims('MIGRATE');
    expect(closed.nats.limits?.conn).toBe(0);
    expect((closed.nats.imports ?? []).map((i) => [i.type, i.subject, i.account])).toEqual([['service', 'ferry.enroll.migrate', jwts.ids.FERRY]]);
    expect(closed.nats.signing_keys ?? []).toEqual([]);
    const open = await buildAccountJwts(keys, { agentRevocations: {}, enrollRevocations: {}, rootFingerprint: 'test', agentsToMigrate: 3 });
    expect(decode<Account>(open.accounts[open.ids.MIGRATE]!).nats.limits?.conn).toBeGreaterThan(0);
    // the MIGRATE key follows the root fingerprint; the others are the data directory's keys
    const other = await buildAccountJwts(keys, { agentRevocations: {}, enrollRevocations: {}, rootFingerprint: 'another root', agentsToMigrate: 0 });
    expect(other.ids.MIGRATE).not.toBe(jwts.ids.MIGRATE);
    expect(other.ids.FERRY).toBe(jwts.ids.FERRY);
  });

  it('issues users: agents and enrolment by the scoped keys (no permissions in the JWT), FERRY/SYS users by the account', async () => {
    const nkey = pub();
    const agent = decode<User>(await issueAgentJwt(keys, 'a1', nkey));
    expect(agent).toMatchObject({ name: 'a1', sub: nkey, iss: keys.signers.AGENTS.publicKey, nats: { type: 'user', issuer_account: keys.accounts.AGENTS.publicKey } });
    expect(agent.nats.pub).toBeUndefined();
    expect(agent.nats.sub).toBeUndefined();

    const expires = Date.now() + 3_600_000;
    const enroll = decode<User>(await issueEnrollJwt(keys, 't1', nkey, expires));
    expect(enroll).toMatchObject({ name: 'enroll-t1', sub: nkey, iss: keys.signers.ENROLL.publicKey, exp: Math.floor(expires / 1000), nats: { issuer_account: keys.accounts.ENROLL.publicKey } });

    const u = createUser();
    const seed = new TextDecoder().decode(u.getSeed());
    const admin = await issueAccountUser(keys, 'FERRY', 'admin', { publicKey: u.getPublicKey(), seed });
    expect(admin.seed).toBe(seed);
    const adminClaims = decode<User>(admin.jwt);
    expect(adminClaims).toMatchObject({ name: 'admin', sub: u.getPublicKey(), iss: keys.accounts.FERRY.publicKey });
    expect(adminClaims.nats.pub).toBeUndefined();
    const limited = decode<User>((await issueAccountUser(keys, 'SYS', 'sys', { publicKey: u.getPublicKey(), seed }, { publish: ['a'], subscribe: ['b'] })).jwt);
    expect(limited).toMatchObject({ iss: keys.accounts.SYS.publicKey, nats: { pub: { allow: ['a'] }, sub: { allow: ['b'] } } });
  });
});

describe('renderOperatorAuth', () => {
  let dir: string;
  let auth: OperatorAuth;
  let ids: AccountJwts['ids'];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-operator-auth-'));
    ensureNatsKeys(join(dir, 'nats.json'));
    const jwts = await buildAccountJwts(loadNatsKeys(join(dir, 'nats.json')), { agentRevocations: { [pub()]: 1_800_000_000 }, enrollRevocations: {}, rootFingerprint: 'test', agentsToMigrate: 1 });
    auth = { operatorJwt: jwts.operator, systemAccount: jwts.systemAccount, accounts: jwts.accounts };
    ids = jwts.ids;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names the operator, the system account, a full resolver and preloads every account', () => {
    const text = renderOperatorAuth(auth, '/var/lib/ferry/nats/resolver');
    expect(text).toContain(`operator: "${auth.operatorJwt}"\n`);
    expect(text).toContain(`system_account: ${ids.SYS}\n`);
    expect(text).toMatch(/resolver: \{\n {2}type: full\n {2}dir: "\/var\/lib\/ferry\/nats\/resolver"\n/);
    expect(text).toContain('allow_delete: false');
    for (const [id, jwt] of Object.entries(auth.accounts)) expect(text).toContain(`  ${id}: "${jwt}"\n`);
    expect(text).not.toMatch(/no_auth_user|authorization|password|users/);
  });

  it('rejects malformed JWTs and account ids: nothing can inject config text', () => {
    const inject = '\n}\nno_auth_user: x\n';
    const [someId, someJwt] = Object.entries(auth.accounts)[0]!;
    const badJwts = ['', 'abc', 'a.b', 'a.b.c.d', `${auth.operatorJwt}"`, `${auth.operatorJwt}${inject}`, `${auth.operatorJwt} x`, 'a.b.c\nd', 'a.b.c"', 'a.b.c}'];
    const badIds = ['', 'ABC', `${ids.SYS}x`, ids.SYS.slice(0, 55), ids.SYS.toLowerCase(), `U${ids.SYS.slice(1)}`, `${ids.SYS.slice(0, 55)}"`, `${ids.SYS.slice(0, 55)}}`, `${ids.SYS}${inject}`, `${ids.SYS.slice(0, 55)}1`];
    for (const jwt of badJwts) {
      catchFerryError(() => renderOperatorAuth({ ...auth, operatorJwt: jwt }, dir), 'FERRY_INTERNAL');
      catchFerryError(() => renderOperatorAuth({ ...auth, accounts: { ...auth.accounts, [someId]: jwt } }, dir), 'FERRY_INTERNAL');
    }
    for (const id of badIds) {
      catchFerryError(() => renderOperatorAuth({ ...auth, systemAccount: id }, dir), 'FERRY_INTERNAL');
      expect(() => renderOperatorAuth({ ...auth, accounts: { ...auth.accounts, [id]: someJwt } }, dir)).toThrowError(expect.objectContaining({ code: 'FERRY_INTERNAL' }));
    }
    for (const resolverDir of ['/x"\ny', '/x\\y', '/x\ny', '/x\u0000']) expectInvalid(() => renderOperatorAuth(auth, resolverDir));
    expect(() => renderOperatorAuth(auth, dir)).not.toThrow();
  });

  it('is accepted by nats-server (-t), with the rest of the rendered config', () => {
    const dataDir = join(dir, 'nats');
    mkdirSync(join(dataDir, 'resolver'), { recursive: true });
    const file = join(dataDir, 'nats.conf');
    writeFileSync(file, renderServerConfig({ dataDir, host: '127.0.0.1', port: 0, auth }));
    const res = spawnSync(findNatsServerBinary(), ['-t', '-c', file], { encoding: 'utf8' });
    expect(res.status, res.stderr + res.stdout).toBe(0);
    // and a config that nats-server refuses is caught by the same check
    writeFileSync(file, `${renderServerConfig({ dataDir, host: '127.0.0.1', port: 0, auth })}\nresolver_preload: { ${ids.SYS}: "not-a-jwt" }\n`);
    expect(spawnSync(findNatsServerBinary(), ['-t', '-c', file], { encoding: 'utf8' }).status).not.toBe(0);
  });

  it('adds a leafnodes listen block and the hub JetStream domain for sites when asked, accepted by nats-server (-t)', () => {
    const dataDir = join(dir, 'nats-leaf');
    mkdirSync(join(dataDir, 'resolver'), { recursive: true });
    const file = join(dataDir, 'nats.conf');
    expect(renderServerConfig({ dataDir, host: '127.0.0.1', port: 0, auth })).not.toContain('leafnodes');
    const conf = renderServerConfig({ dataDir, host: '127.0.0.1', port: 0, auth, leafListen: { host: '127.0.0.1', port: 0 } });
    expect(conf).toContain('leafnodes {\n  listen: "127.0.0.1:-1"\n}');
    expect(conf).toMatch(/jetstream \{\n  store_dir: "[^"]+"\n  domain: hub\n\}/);
    expect(renderServerConfig({ dataDir, host: '127.0.0.1', port: 0, auth })).not.toContain('domain');
    writeFileSync(file, conf);
    const res = spawnSync(findNatsServerBinary(), ['-t', '-c', file], { encoding: 'utf8' });
    expect(res.status, res.stderr + res.stdout).toBe(0);
  });
});
