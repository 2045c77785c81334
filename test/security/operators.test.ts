// Operators are people (issue 18), over real NATS, a real server and real CLI processes: each
// role can call exactly its verbs (every verb × every role, refused at the NATS layer and at the
// server), a revoked operator is cut off, a forged, replayed, stale or unsigned request is
// refused, the owner's or starter's own approval does not satisfy the policy, and
// `ferry audit verify` finds a record edited directly in the SQLite file.
// Requires the compiled dist/ and nats-server on PATH.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createUser } from '@nats-io/nkeys';
import { encodeUser } from '@nats-io/jwt';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminClient } from '../../server/cli/client.js';
import { dataPaths } from '../../server/config.js';
import { parseOperatorKey } from '../../shared/operators/credentials.js';
import { AUTH_HEADER, signRequest } from '../../shared/operators/request-signature.js';
import { mayCall, ROLES, VERB_ROLES, type Role } from '../../shared/operators/roles.js';
import { connectNats, type NatsConnection } from '../../shared/nats/connect.js';
import { readCredsFile } from '../../shared/nats/creds.js';
import { nativePublicKey } from '../../shared/nats/nkey-auth.js';
import { loadNatsKeys } from '../../server/nats/nats-keys.js';
import { apiRequestSchemas, type ApiVerb } from '../../shared/protocol/api.js';
import { subjects } from '../../shared/protocol/subjects.js';
import { buildPackage, cleanupFleet, initServer, runFerry, tempDir, waitFor, type ServerHandle } from '../helpers/fleet.js';
import { codeOf, connectAs } from '../helpers/hostile.js';

afterAll(cleanupFleet, 60_000);

/** The operator holding each role in these tests ("admin" itself is the bootstrap admin). */
const PERSON: Record<Role, string> = { viewer: 'vera', deployer: 'dan', 'release-manager': 'rita', approver: 'alex', admin: 'ada' };

/** A request body each verb accepts or rejects harmlessly (not found, invalid): the role check comes first. */
const BODIES: Record<ApiVerb, unknown> = {
  'token.create': { ttlMs: 60_000, uses: 1 },
  'token.list': {},
  'token.revoke': { id: '000000000000' },
  'dml.add': { upload: 'upload-none' },
  'dml.list': {},
  'dml.show': { name: 'nothing', version: '1.0.0' },
  'dml.authorize': { name: 'nothing', version: '1.0.0' },
  'dml.retire': { name: 'nothing', version: '1.0.0' },
  'dml.export': { packages: [{ name: 'nothing', version: '1.0.0' }] },
  'release.create': { name: 'nothing', packages: ['nothing@1.0.0'] },
  'release.approve': { name: 'nothing' },
  'release.list': {},
  'release.show': { name: 'nothing' },
  'rollout.start': { release: 'nothing', dryRun: true },
  'rollout.status': {},
  'rollout.list': {},
  'rollout.review': { id: 'r-00000000' },
  'rollout.action': { id: 'r-00000000', action: 'pause' },
  'agents.list': {},
  'agents.revoke': { id: 'nobody' },
  'agents.decommission': { id: 'nobody' },
  'agents.tag': { host: 'nobody', set: { env: 'x' } },
  'keys.reload': {},
  'cmdb.show': { host: 'nobody' },
  'cmdb.versions': { package: 'nothing' },
  'cmdb.clone': { from: 'no-such-host', to: 'no-such-test-host' },
  'fleet.status': {},
  'site.list': {},
  'site.set': { name: 'nowhere', maxRateBps: null },
  'site.remove': { name: 'nowhere' },
  'agents.logs': { host: 'nobody' },
  'audit.list': { limit: 1 },
  'audit.verify': {},
  'audit.refused': { verb: 'dml.list' },
  schedule: {},
  'notify.add': { url: 'not a url', events: ['x'] },
  'notify.list': {},
  'notify.remove': { id: 'nothing' },
  'notify.test': { id: 'nothing' },
  // a well-formed add of an existing operator: admins get FERRY_ALREADY_EXISTS, the others FERRY_FORBIDDEN
  'operator.add': { name: 'vera', role: 'viewer', natsKey: createUser().getPublicKey(), signingKey: randomBytes(32).toString('base64') },
  'operator.list': {},
  'operator.revoke': { name: 'nobody' },
  // every role renews its own credentials (the reply's JWT is not written anywhere here)
  'operator.renew': {},
  'backup.record': {},
  // this server runs without --ui-listen: every role gets FERRY_INVALID_INPUT ("the web console is off")
  'ui.login': {},
};

describe('operators: per-person credentials, roles, four eyes, audit chain', () => {
  let server: ServerHandle;
  let home: string;
  const creds = {} as Record<Role, string>;
  const clients = {} as Record<Role, AdminClient>;
  /** the bootstrap admin, as `ferry` without --creds */
  let bootAdmin: AdminClient;
  let raw: NatsConnection | undefined;
  const ferry = (args: string[], env: Record<string, string> = {}) => runFerry(home, args, { env });
  const ferryFails = (args: string[], env: Record<string, string> = {}) => runFerry(home, args, { allowFail: true, env });

  beforeAll(async () => {
    server = await initServer();
    home = server.home;
    const dir = tempDir('ferry-operators-');
    await Promise.all(
      ROLES.map(async (role) => {
        creds[role] = join(dir, `${PERSON[role]}.creds`);
        const doc = (await ferry(['operator', 'add', PERSON[role], '--role', role, '--out', creds[role], '--json'])).json<{ name: string; role: string; file: string }>();
        expect(doc).toMatchObject({ name: PERSON[role], role, file: creds[role] });
        clients[role] = await AdminClient.connect({ dataDir: home, creds: creds[role] });
      }),
    );
    bootAdmin = await AdminClient.connect({ dataDir: home });
  }, 120_000);

  afterAll(async () => {
    await Promise.all([...Object.values(clients), bootAdmin].map((c) => c?.close().catch(() => undefined)));
    await raw?.close().catch(() => undefined);
  });

  it('writes each person one credentials file, mode 0600, with their signing key; the server keeps public keys only', async () => {
    for (const role of ROLES) {
      expect(statSync(creds[role]).mode & 0o777).toBe(0o600);
      const text = readFileSync(creds[role], 'utf8');
      expect(parseOperatorKey(text)?.operator).toBe(PERSON[role]);
      expect(readCredsFile(creds[role]).seed).toMatch(/^SU/);
    }
    // never overwritten: a second add to the same file is refused before anyone is registered
    const again = await ferryFails(['operator', 'add', 'zoe', '--role', 'viewer', '--out', creds.viewer]);
    expect(again.code).toBe(4);
    expect(again.stderr).toMatch(/^FERRY_ALREADY_EXISTS: /);
    const list = (await ferry(['operator', 'list', '--json'])).json<{ name: string; role: string; revokedAt: string | null }[]>();
    expect(list.map((o) => [o.name, o.role]).sort()).toEqual([['admin', 'admin'], ...ROLES.map((r) => [PERSON[r], r])].sort());
    expect(list.some((o) => o.name === 'zoe')).toBe(false);
    const db = new Database(dataPaths(home).db, { readonly: true });
    try {
      const stored = JSON.stringify(db.prepare('SELECT * FROM operators').all());
      for (const role of ROLES) expect(stored).not.toContain(readCredsFile(creds[role]).seed);
    } finally {
      db.close();
    }
  });

  it('operator add with an --out that cannot be written: one line naming it, exit 2, and nobody registered (the name stays free)', async () => {
    const dir = tempDir('ferry-operators-out-');
    writeFileSync(join(dir, 'file'), 'x');
    const runs = await Promise.all([join(dir, 'nowhere', 'erin.creds'), dir, join(dir, 'file', 'erin.creds')].map((out) => ferryFails(['operator', 'add', 'erin', '--role', 'viewer', '--out', out])));
    expect(runs.map((r) => [r.code, r.stderr.trim().split('\n').length])).toEqual(runs.map(() => [2, 1]));
    expect(runs.map((r) => r.stderr.trim())).toEqual([
      `FERRY_INVALID_INPUT: --out ${join(dir, 'nowhere', 'erin.creds')}: the directory ${join(dir, 'nowhere')} does not exist — hint: choose another --out`,
      `FERRY_INVALID_INPUT: --out ${dir}: it is a directory — hint: give a file name, e.g. --out ${dir}/NAME`,
      `FERRY_INVALID_INPUT: --out ${join(dir, 'file', 'erin.creds')}: ${join(dir, 'file')} is not a directory — hint: choose another --out`,
    ]);
    const list = (await ferry(['operator', 'list', '--json'])).json<{ name: string }[]>();
    expect(list.some((o) => o.name === 'erin')).toBe(false);
    // the name is still free: the same add with a good --out works
    const ok = (await ferry(['operator', 'add', 'erin', '--role', 'viewer', '--out', join(dir, 'erin.creds'), '--json'])).json<{ name: string; file: string }>();
    expect(ok).toMatchObject({ name: 'erin', file: join(dir, 'erin.creds') });
    expect(statSync(join(dir, 'erin.creds')).mode & 0o777).toBe(0o600);
  });

  it('operator roles: the verb table as a table (one line per verb), and in --json next to the role descriptions', async () => {
    const [text, json] = await Promise.all([ferry(['operator', 'roles']), ferry(['operator', 'roles', '--json'])]);
    const lines = text.stdout.trimEnd().split('\n');
    expect(text.stdout).not.toContain('\\x0a');
    expect(lines).toContain('| verb | viewer | deployer | release-manager | approver | admin |');
    expect(lines).toContain('| `agents.list` | ✓ | ✓ | ✓ | ✓ | ✓ |');
    expect(lines).toContain('| `operator.revoke` |  |  |  |  | ✓ |');
    expect(lines.filter((l) => l.startsWith('| `'))).toHaveLength(Object.keys(VERB_ROLES).length);
    const doc = json.json<{ roles: Record<Role, string>; verbs: Record<string, Role[]> }>();
    expect(Object.keys(doc.roles)).toEqual([...ROLES]);
    expect(Object.keys(doc.verbs)).toEqual(Object.keys(VERB_ROLES).sort());
    for (const verb of Object.keys(VERB_ROLES) as ApiVerb[]) expect(doc.verbs[verb]).toEqual(ROLES.filter((r) => mayCall(r, verb)));
  });

  it('each role can call exactly its verbs (every verb × every role, over real NATS)', async () => {
    const verbs = (Object.keys(apiRequestSchemas) as ApiVerb[]).filter((v) => v !== 'audit.refused');
    expect(Object.keys(VERB_ROLES).sort()).toEqual(Object.keys(apiRequestSchemas).sort());
    const mismatches: string[] = [];
    const check = async (role: Role, verb: ApiVerb) => {
      const code = await codeOf(clients[role].request(verb, BODIES[verb] as never, 20_000));
      if (mayCall(role, verb) === (code === 'FERRY_FORBIDDEN')) mismatches.push(`${role} ${verb}: ${code}`);
    };
    for (const role of ROLES) for (const verb of verbs) if (verb !== 'operator.renew') await check(role, verb);
    // operator.renew last, and each one's account update awaited: FERRY then refuses the caller's
    // older users, and nats-server drops the replies of whatever request is in flight through
    // FERRY's exports while it applies the update (a request right after a renewal timed out). A
    // user of FERRY for the caller's key, issued before the renewal, is closed once it landed.
    const url = (JSON.parse(readFileSync(dataPaths(home).runtime, 'utf8')) as { natsUrl: string }).natsUrl;
    const keys = loadNatsKeys(dataPaths(home).natsKeys);
    for (const role of ROLES) {
      const { seed } = readCredsFile(creds[role]);
      const older = await connectAs(url, { seed, jwt: await encodeUser(`operator-${PERSON[role]}`, nativePublicKey(seed), keys.accounts.FERRY, {}) }, { name: `${PERSON[role]} (older, in FERRY)` });
      let renewed: string | undefined;
      try {
        const code = await codeOf(clients[role].request('operator.renew', {}, 20_000).then((r) => (renewed = r.jwt)));
        if (mayCall(role, 'operator.renew') === (code === 'FERRY_FORBIDDEN')) mismatches.push(`${role} operator.renew: ${code}`);
        await waitFor(() => older.nc.isClosed(), 30_000, { intervalMs: 25, message: `the renewal of ${PERSON[role]} did not reach nats-server` });
      } finally {
        await older.close();
      }
      // OPERATORS refuses the key's older JWTs too, the file's among them: the renewed one goes
      // into the file, as `ferry operator renew` writes it, and the client connects with it.
      if (renewed !== undefined) {
        writeFileSync(creds[role], readFileSync(creds[role], 'utf8').replace(readCredsFile(creds[role]).jwt, renewed), { mode: 0o600 });
        await clients[role].close().catch(() => undefined);
        clients[role] = await AdminClient.connect({ dataDir: home, creds: creds[role] });
      }
    }
    expect(mismatches).toEqual([]);
  }, 240_000);

  it('the NATS layer refuses on its own: an operator\'s user cannot even publish the subject of a verb outside its role', async () => {
    // Unsigned and empty: were nats-server to let one through, the server would answer it (an
    // error reply) instead of the publish being refused.
    const verbs = Object.keys(apiRequestSchemas) as ApiVerb[];
    const leaks: string[] = [];
    for (const role of ROLES.filter((r) => r !== 'admin')) {
      for (const verb of verbs.filter((v) => !mayCall(role, v))) {
        const outcome = await clients[role].nc.request(subjects.api(verb), new Uint8Array(), { timeout: 10_000 }).then(
          () => 'answered',
          (err: Error) => (/Permissions Violation for Publish/.test(`${err.message} ${(err.cause as Error | undefined)?.message ?? ''}`) || err.name === 'PermissionViolationError' ? 'refused' : `${err.name}: ${err.message}`),
        );
        if (outcome !== 'refused') leaks.push(`${role} ${verb}: ${outcome}`);
      }
    }
    expect(leaks).toEqual([]);
  }, 240_000);

  it('a refusal is FERRY_FORBIDDEN (exit 8), one line naming the role needed, and audited under the verified name', async () => {
    const r = await ferryFails(['token', 'create', '--creds', creds.viewer], { FERRY_ACTOR: 'admin' });
    expect(r.code).toBe(8);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^FERRY_FORBIDDEN: token\.create needs the role admin; operator vera is viewer/);
    const entries = (await ferry(['audit', '--actor', 'vera', '--action', 'token.create', '--json'])).json<{ actor: string; result: string; error: string }[]>();
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.at(-1)).toMatchObject({ actor: 'vera', result: 'error' });
    expect(entries.at(-1)!.error).toMatch(/^FERRY_FORBIDDEN/);
  });

  it('the server checks the signed identity itself: forged, replayed, stale, altered and unsigned requests are refused', async () => {
    // A connection with the bootstrap admin's unrestricted NATS user: only the server's check is left.
    const runtime = JSON.parse(readFileSync(dataPaths(home).runtime, 'utf8')) as { natsUrl: string };
    raw = await connectNats({ url: runtime.natsUrl, creds: readCredsFile(dataPaths(home).adminCreds), name: 'forger', inboxPrefix: '_INBOX_cli.vera' });
    const vera = parseOperatorKey(readFileSync(creds.viewer, 'utf8'))!;
    const send = async (verb: string, body: unknown, header?: string, payloadOverride?: Uint8Array) => {
      const payload = new TextEncoder().encode(JSON.stringify(body));
      const h = natsHeaders();
      if (header) h.set(AUTH_HEADER, header);
      const reply = await raw!.request(`ferry.api.${verb}`, payloadOverride ?? payload, { timeout: 10_000, headers: h });
      return JSON.parse(reply.string()) as { ok: boolean; error?: { code: string; message: string } };
    };
    const bytes = (b: unknown) => new TextEncoder().encode(JSON.stringify(b));
    // outside the role, even with NATS permissions that would let it through
    const outside = await send('token.create', BODIES['token.create'], signRequest(vera, 'token.create', bytes(BODIES['token.create'])));
    expect(outside.error?.code).toBe('FERRY_FORBIDDEN');
    expect(outside.error?.message).toMatch(/needs the role admin/);
    // forged: claims to be ada (an admin), signed with vera's key
    const forged = signRequest({ operator: 'ada', secretKey: vera.secretKey }, 'token.create', bytes(BODIES['token.create']));
    expect((await send('token.create', BODIES['token.create'], forged)).error?.code).toBe('FERRY_SIGNATURE_INVALID');
    // replayed: the same signed request twice
    const once = signRequest(vera, 'dml.list', bytes({}));
    expect((await send('dml.list', {}, once)).ok).toBe(true);
    const replay = await send('dml.list', {}, once);
    expect(replay.error?.code).toBe('FERRY_SIGNATURE_INVALID');
    expect(replay.error?.message).toMatch(/replayed/);
    // stale: signed ten minutes ago
    const stale = await send('dml.list', {}, signRequest(vera, 'dml.list', bytes({}), Date.now() - 600_000));
    expect(stale.error?.code).toBe('FERRY_SIGNATURE_INVALID');
    // altered: the body is not the one signed
    const altered = await send('dml.list', {}, signRequest(vera, 'dml.list', bytes({ other: 1 })));
    expect(altered.error?.code).toBe('FERRY_SIGNATURE_INVALID');
    // unsigned
    expect((await send('dml.list', {})).error?.code).toBe('FERRY_SIGNATURE_INVALID');
    // the refusal is audited under vera's verified name; the forgery under the name it claimed, marked unverified
    const [refusalsRun, entriesRun] = await Promise.all([ferry(['audit', '--actor', 'vera', '--action', 'token.create', '--json']), ferry(['audit', '--actor', 'unverified:ada', '--json'])]);
    const refusals = refusalsRun.json<{ error: string }[]>();
    expect(refusals.filter((e) => /FERRY_FORBIDDEN/.test(e.error)).length).toBeGreaterThanOrEqual(2); // the CLI's report, and this one
    const entries = entriesRun.json<{ action: string; error: string }[]>();
    expect(entries.some((e) => e.action === 'token.create' && /FERRY_SIGNATURE_INVALID/.test(e.error))).toBe(true);
  });

  it('four eyes: the owner’s and the starter’s approvals do not count; FERRY_ACTOR decides nothing', async () => {
    // the release manager uploads it herself: her NATS user may put into the upload bucket only
    const file = await buildPackage({ name: 'eyes', version: '1.0.0', files: { 'bin/x': 'x\n' } });
    expect((await ferry(['dml', 'add', file, '--creds', creds['release-manager'], '--json'])).json<{ added: boolean }>().added).toBe(true);
    // Independent calls at once (each CLI call costs a process start).
    await Promise.all([
      ferry(['release', 'create', 'eyes-r1', '--package', 'eyes@1.0.0', '--creds', creds['release-manager'], '--json']),
      ferry(['release', 'create', 'eyes-r2', '--package', 'eyes@1.0.0', '--creds', creds.admin, '--json']),
    ]);
    // ada owns eyes-r2: her approval is recorded but does not count; she approves eyes-r1 (not
    // hers), then starts it herself: for that rollout her approval does not count
    await Promise.all([ferry(['release', 'approve', 'eyes-r2', '--creds', creds.admin], { FERRY_ACTOR: 'alex' }), ferry(['release', 'approve', 'eyes-r1', '--creds', creds.admin])]);
    // Reads over the bootstrap admin's connection, as `ferry release show --json` (which prints the reply) makes them.
    const show = (name: string) => bootAdmin.request('release.show', { name });
    const [r2, r1] = await Promise.all([show('eyes-r2'), show('eyes-r1')]);
    expect(r2.approvals).toEqual([expect.objectContaining({ by: 'ada', counts: false, reason: expect.stringMatching(/owner/) })]);
    expect(Date.parse(r2.approvals[0]!.at)).not.toBeNaN();
    expect(r1.approvals).toEqual([expect.objectContaining({ by: 'ada', counts: true })]);
    const prodDryRun = async (role: Role) =>
      (await clients[role].request('rollout.start', { release: 'eyes-r1', target: 'env=prod', dryRun: true, allowEmpty: true })) as { policy: { violations: string[]; uncountedApprovals?: { by: string; reason: string }[] } };
    const [byAda, cli, byDan] = await Promise.all([
      prodDryRun('admin'),
      ferryFails(['rollout', 'start', 'eyes-r1', '--target', 'env=prod', '--dry-run', '--allow-empty', '--creds', creds.admin]),
      prodDryRun('deployer'),
    ]);
    expect(byAda.policy.violations.join('\n')).toMatch(/needs 1 approval\(s\) of release eyes-r1, it has 0 \(not counted: ada — whoever starts the rollout/);
    expect(byAda.policy.uncountedApprovals).toEqual([{ by: 'ada', reason: expect.stringMatching(/starts the rollout/) }]);
    expect(cli.stdout + cli.stderr).toMatch(/not counted: ada/);
    // for dan (a deployer who did not approve), ada's approval counts
    expect(byDan.policy.violations.join('\n')).not.toMatch(/approval/);
    // the approver approves under their verified name, whatever FERRY_ACTOR says
    await ferry(['release', 'approve', 'eyes-r1', '--creds', creds.approver], { FERRY_ACTOR: 'ada' });
    const after = (await ferry(['release', 'show', 'eyes-r1', '--json'])).json<{ approvals: { by: string; counts: boolean; signature: string }[] }>();
    expect(after.approvals.map((a) => [a.by, a.counts])).toEqual([['ada', true], ['alex', true]]);
    expect((await prodDryRun('admin')).policy.violations.join('\n')).not.toMatch(/approval/);

    // Each approval keeps the signed request that made it, checked again on every read: an
    // approval changed in the SQLite file (here: alex's moved to another release) stops counting.
    expect(after.approvals.map((a) => a.signature)).toEqual(['valid', 'valid']);
    const db = new Database(dataPaths(home).db);
    try {
      db.prepare("INSERT INTO release_approvals (release, actor, ts, comment, auth, body) SELECT 'eyes-r2', actor, ts, comment, auth, body FROM release_approvals WHERE release = 'eyes-r1' AND actor = 'alex'").run();
    } finally {
      db.close();
    }
    const [forged, r1Again] = await Promise.all([show('eyes-r2'), show('eyes-r1')]);
    expect(forged.approvals.find((a) => a.by === 'alex')).toMatchObject({ counts: false, signature: 'invalid', reason: expect.stringMatching(/signature does not verify/) });
    expect(r1Again.approvals.map((a) => a.signature)).toEqual(['valid', 'valid']);
  }, 360_000); // about a dozen CLI calls one after another, each several seconds on a loaded machine

  it('an admin operator is a user of OPERATORS: no direct write to a stream, a key or the DML, yet dml add/export, rollout start, operator add and backup work', async () => {
    const url = (JSON.parse(readFileSync(dataPaths(home).runtime, 'utf8')) as { natsUrl: string }).natsUrl;
    const boot = await connectNats({ url, creds: readCredsFile(dataPaths(home).adminCreds), name: 'bootstrap admin' });
    const ada = await connectNats({ url, creds: readCredsFile(creds.admin), name: 'ada (raw)', inboxPrefix: `${subjects.cliInboxPrefix}.ada` });
    const streams = async () => {
      const jsm = await jetstreamManager(boot);
      const out: Record<string, string> = {};
      for await (const si of jsm.streams.list()) if (si.config.name !== 'KV_ferry-leader') out[si.config.name] = `${si.state.messages}:${si.state.first_seq}:${si.state.last_seq}:${si.state.consumer_count}`;
      return out;
    };
    try {
      const file = await buildPackage({ name: 'adas', version: '1.0.0', files: { 'bin/x': 'x\n' } });
      expect((await ferry(['dml', 'add', file, '--creds', creds.admin, '--json'])).json<{ added: boolean }>().added).toBe(true);
      const before = await streams();
      expect(before['OBJ_ferry-dml']).toBeDefined();
      const attempts: [string, Uint8Array][] = [
        ...Object.keys(before).flatMap((s) => [`$JS.API.STREAM.PURGE.${s}`, `$JS.API.STREAM.DELETE.${s}`, `$JS.API.STREAM.MSG.DELETE.${s}`, `$JS.API.CONSUMER.CREATE.${s}`].map((subject): [string, Uint8Array] => [subject, new TextEncoder().encode('{}')])),
        ['$JS.API.STREAM.LIST', new Uint8Array()],
        ['$JS.API.STREAM.CREATE.EVIL', new TextEncoder().encode('{"name":"EVIL","subjects":["evil.>"]}')],
        ['$KV.ferry-desired.evil', new Uint8Array([1])],
        ['$KV.ferry-desired._trust', new Uint8Array([1])],
        [`$O.ferry-dml.M.${Buffer.from('adas@1.0.0').toString('base64url')}`, new Uint8Array([1])],
        ['$O.ferry-dml.C.evil', new Uint8Array([1])],
        // the bootstrap admin's own upload bucket (another operator's, for ada)
        ['$O.ferry-upload-admin.C.evil', new Uint8Array([1])],
        ['ferry.cmd.someone', new Uint8Array([1])],
      ];
      const leaks: string[] = [];
      for (const [subject, body] of attempts) {
        const outcome = await ada.request(subject, body, { timeout: 10_000 }).then(
          () => 'answered',
          (err: Error) => (/Permissions Violation for Publish/.test(`${err.message} ${(err.cause as Error | undefined)?.message ?? ''}`) || err.name === 'PermissionViolationError' ? 'refused' : `${err.name}: ${err.message}`),
        );
        if (outcome !== 'refused') leaks.push(`${subject}: ${outcome}`);
      }
      expect(leaks).toEqual([]);
      expect(await streams()).toEqual(before);

      // What an admin does with the CLI, with these credentials.
      // (At once: none of these waits for another, but the rollout for its release. Adding a
      // viewer pushes no account update, which would drop the replies of the others in flight.)
      const out = tempDir('ferry-admin-op-');
      const [started] = await Promise.all([
        ferry(['release', 'create', 'adas-r1', '--package', 'adas@1.0.0', '--creds', creds.admin]).then(() => ferry(['rollout', 'start', 'adas-r1', '--target', 'env=nowhere', '--allow-empty', '--json', '--creds', creds.admin])),
        ferry(['dml', 'export', 'adas@1.0.0', '--out', join(out, 'b.tar'), '--creds', creds.admin]),
        ferry(['operator', 'add', 'otto', '--role', 'viewer', '--out', join(out, 'otto.creds'), '--creds', creds.admin]),
        ferry(['backup', join(out, 'b.tgz'), '--creds', creds.admin]),
        ferry(['audit', '--limit', '1', '--creds', creds.admin]),
      ]);
      expect(started.json<{ id: string }>().id).toMatch(/^r-/);
    } finally {
      await ada.close().catch(() => undefined);
      await boot.close().catch(() => undefined);
    }
  }, 240_000);

  it('a revoked operator is cut off: the live connection closes and later requests are refused', async () => {
    const dan = clients.deployer;
    const closed = dan.nc.closed();
    let closedEarly = false;
    void closed.then(() => (closedEarly = true));
    await ferry(['operator', 'revoke', PERSON.deployer]);
    // nats-server drops a revoked user's connection when the account update lands
    await waitFor(async () => closedEarly || dan.nc.isClosed() || (await codeOf(dan.request('dml.list', {}, 2000))) !== 'ok', 30_000, { message: 'the revoked connection still works' });
    const [r, listRun] = await Promise.all([ferryFails(['rollout', 'list', '--creds', creds.deployer]), ferry(['operator', 'list', '--json'])]);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    const list = listRun.json<{ name: string; revokedAt: string | null; revokedBy: string | null }[]>();
    const revoked = list.find((o) => o.name === PERSON.deployer);
    expect(revoked).toMatchObject({ revokedBy: 'admin' });
    // revoked already: FERRY_CONFLICT (exit 4), as `token revoke` and `agents revoke` of a revoked one
    const again = await ferryFails(['operator', 'revoke', PERSON.deployer]);
    expect([again.code, again.stderr.trim()]).toEqual([4, `FERRY_CONFLICT: operator ${PERSON.deployer} is already revoked (at ${revoked!.revokedAt} by admin)`]);
  }, 120_000);

  it('ferry backup is audited, and refused for non-admins', async () => {
    const dir = tempDir('ferry-backup-');
    const [denied] = await Promise.all([ferryFails(['backup', join(dir, 'denied.tgz'), '--creds', creds.viewer]), ferry(['backup', join(dir, 'b.tgz'), '--creds', creds.admin])]);
    expect(denied.code).toBe(8);
    expect(existsSync(join(dir, 'denied.tgz'))).toBe(false);
    const entries = (await ferry(['audit', '--action', 'backup.record', '--json'])).json<{ actor: string; result: string }[]>();
    expect(entries.map((e) => [e.actor, e.result])).toEqual(expect.arrayContaining([['vera', 'error'], ['ada', 'ok']]));
  }, 120_000);

  it('credentials: --creds beats FERRY_CREDS, which beats creds in the config file', async () => {
    const config = join(tempDir('ferry-creds-config-'), 'server.json');
    writeFileSync(config, JSON.stringify({ creds: creds.admin }));
    const whoAmI = async (env: Record<string, string>, flags: string[] = []) => {
      const r = await ferryFails(['backup', join(tempDir('ferry-backup-'), 'b.tgz'), ...flags], { FERRY_CONFIG: config, ...env });
      return r.code === 0 ? 'admin' : r.code === 8 ? 'viewer' : `exit ${r.code}: ${r.stderr}`;
    };
    expect(await Promise.all([whoAmI({}), whoAmI({ FERRY_CREDS: creds.viewer }), whoAmI({ FERRY_CREDS: creds.viewer }, ['--creds', creds.admin])])).toEqual(['admin', 'viewer', 'admin']);
  }, 120_000);

  it('ferry ui login on a server without the console: one line with the fix, exit 2, nothing issued', async () => {
    const r = await ferryFails(['ui', 'login'], { FERRY_CREDS: creds.viewer });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^FERRY_INVALID_INPUT: the web console is off on this server — hint: start the server with --ui-listen/);
    expect(r.stdout).toBe('');
  });

  it('ferry audit verify: intact, then finds a record edited directly in the SQLite file', async () => {
    const ok = await ferry(['audit', 'verify', '--json']);
    expect(ok.json<{ ok: boolean; records: number }>()).toMatchObject({ ok: true });
    const db = new Database(dataPaths(home).db);
    let victim: number;
    try {
      victim = (db.prepare("SELECT id FROM audit WHERE actor = 'ada' ORDER BY id LIMIT 1").get() as { id: number }).id;
      // an intruder with the file: drops the append-only trigger and rewrites who did it
      db.exec('DROP TRIGGER audit_no_update');
      db.prepare("UPDATE audit SET actor = 'alex' WHERE id = ?").run(victim);
    } finally {
      db.close();
    }
    const [bad, badJson] = await Promise.all([ferryFails(['audit', 'verify']), ferryFails(['audit', 'verify', '--json'])]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(new RegExp(`^FERRY_AUDIT_TAMPERED: audit record ${victim} was changed`));
    // --json: exactly one document, the report with the error in it.
    const doc = badJson.json<{ ok: boolean; firstBreak: { id: number; kind: string }; error: { code: string } }>();
    expect([badJson.code, doc.ok, doc.firstBreak.id, doc.firstBreak.kind, doc.error.code]).toEqual([bad.code, false, victim, 'changed', 'FERRY_AUDIT_TAMPERED']);
  }, 120_000);
});
