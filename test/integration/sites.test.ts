// Sites as leafnode distribution points (issue 14, part 2), with real processes: the hub is
// `ferry server --leaf-listen` (embedded NATS), the site a nats-server started with the config of
// `ferry site add`, five agents at the site (joined with `token create --site`) and five at the
// hub. A rollout of a 20 MiB package to the site's agents crosses the leaf link about once (the
// hub's leafz counts it), while the same rollout to the hub's agents sends it five times (connz).
// Then the mirror is made to lag: the site's agents fall back to the hub; and bad input.
// Requires the compiled dist/ (`npx tsc -p .`) and nats-server on PATH.
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { connectNats, type NatsConnection } from '../../shared/nats/connect.js';
import { readCredsFile } from '../../shared/nats/creds.js';
import { dataPaths } from '../../server/config.js';
import { openDatabase } from '../../server/db/open.js';
import { dmlBehind, dmlObjects } from '../../server/sites/mirrors.js';
import { SiteStore } from '../../server/sites/store.js';
import { expectCliRefusals, type CliRefusal } from '../helpers/errors.js';
import { createRelease, publishPackage, startRollout, waitRolloutEnd } from '../helpers/faults.js';
import { apiRequest, cleanupFleet, createToken, joinAgent, runAgentCli, runFerry, startAgents, startServer, tempDir, waitFor, type AgentHandle, type JoinedAgent, type ServerHandle } from '../helpers/fleet.js';
import { hubClientOutBytes, hubLeafz, hubSystemConnection, startSite, waitSite, type TestSite } from '../helpers/site.js';

afterAll(cleanupFleet, 60_000);

const MiB = 1024 * 1024;
const PER_SIDE = 5;
/** small@1.0.0's one file, kept for small@1.0.1 (a patch release that adds a file) */
const smallBlob = randomBytes(2 * MiB);

describe('sites: leafnode distribution points', () => {
  let home: string;
  let server: ServerHandle;
  let site: TestSite;
  let sys: NatsConnection;
  let atSite: JoinedAgent[] = [];
  let atHub: JoinedAgent[] = [];
  let agents: AgentHandle[] = [];
  let packageSize = 0;

  beforeAll(async () => {
    home = tempDir('ferry-home-');
    await runFerry(home, ['init']);
    // Sites are checked when site.list asks (and once a minute): the test decides when a mirror is made.
    server = await startServer(home, { args: ['--leaf-listen', '127.0.0.1:0'], env: { FERRY_SITE_CHECK_MS: '60000' } });
    site = await startSite(home, 'paris');
    sys = await hubSystemConnection(home, server.url);
    // Random bytes do not compress: the package is a little over 20 MiB. Published before the
    // agents start: the mirror takes it at once, as it would a package added ahead of a rollout.
    await publishPackage(home, { name: 'big', version: '1.0.0', files: { 'data/blob.bin': randomBytes(20 * MiB) } });
    packageSize = (await runFerry(home, ['dml', 'show', 'big@1.0.0', '--json'])).json<{ size: number }>().size;
    await createRelease(home, 'big-1', ['big@1.0.0']);
    await waitSite(home, 'paris', (s) => s.behind?.objects === 0, 60_000, () => 'the mirror did not take the package');
    const siteToken = (await runFerry(home, ['token', 'create', '--site', 'paris', '--uses', String(PER_SIDE), '--json'])).json<{ token: string; site: string; tags: Record<string, string> }>();
    expect(siteToken.site).toBe('paris');
    expect(siteToken.tags).toEqual({ site: 'paris' });
    const hubToken = await createToken(home, { uses: PER_SIDE, tags: { where: 'hub' } });
    for (let i = 1; i <= PER_SIDE; i++) atSite.push(await joinAgent(home, `paris-${i}`, { token: siteToken.token }));
    for (let i = 1; i <= PER_SIDE; i++) atHub.push(await joinAgent(home, `hub-${i}`, { token: hubToken }));
    // The site's agents log where each download came from (info).
    // (A site agent on the hub checks every second whether its site is back: the last test.)
    agents = [...(await startAgents(atSite, { timeoutMs: 60_000, env: { FERRY_LOG_LEVEL: 'info', FERRY_SITE_RETURN_MS: '1000' } })), ...(await startAgents(atHub, { timeoutMs: 60_000 }))];
  }, 240_000);

  afterAll(async () => {
    await sys?.close().catch(() => undefined);
    await Promise.all(agents.map((a) => a.stop()));
    await server?.stop();
    await site?.stop();
  }, 120_000);

  afterEach((ctx) => {
    if (ctx.task.result?.state !== 'fail' || !server) return;
    const agentLogs = agents.slice(0, 2).map((a) => `--- ${a.agent.hostname} ---\n${a.logs().slice(-3000)}`);
    process.stderr.write(['--- ferry server (tail) ---', server.logs().slice(-6000), '--- site nats-server (tail) ---', site?.logs().slice(-4000) ?? '', ...agentLogs, ''].join('\n'));
  });

  it('the site\'s agents are connected to the site; site list shows them and a mirror that has caught up', async () => {
    const doc = await waitSite(home, 'paris', (s) => s.mirror !== null && s.behind?.objects === 0 && s.agents.filter((a) => a.online).length === PER_SIDE, 30_000, () => 'site list never showed the agents online and the mirror caught up');
    expect(doc.agents.map((a) => a.hostname).sort()).toEqual(atSite.map((a) => a.hostname).sort());
    const status = JSON.parse((await runAgentCli(atSite[0]!.stateDir, ['status', '--json'])).stdout) as { site?: { name: string; url: string }; connected: boolean };
    expect(status.site).toEqual({ name: 'paris', url: site.url });
    const text = await runFerry(home, ['site', 'list']);
    expect(text.stdout).toMatch(/^SITE\s+LINKED\s+AGENTS\s+ONLINE\s+MIRROR\s+BEHIND/m);
    expect(text.stdout).toMatch(/^paris\s+yes\s+5\s+5\s+.*up to date/m);
    // At the hub, none of the site's agents has a client connection: they came over the leaf link.
    const names = await hubClientOutBytes(sys);
    for (const a of atSite) expect(names.has(`ferry-agent ${a.id}`), a.hostname).toBe(false);
    for (const a of atHub) expect(names.has(`ferry-agent ${a.id}`), a.hostname).toBe(true);
  });

  it('a 20 MiB rollout: under 1.5x the package crosses the leaf link for five site agents; five hub agents take 5x', async () => {
    const adminHubNc = await connectNats({ url: server.url, creds: readCredsFile(join(home, 'keys', 'admin.creds')), name: 'test at the hub' });
    onTestFinished(() => adminHubNc.close());
    expect(packageSize).toBeGreaterThan(20 * MiB);
    const leafBefore = (await hubLeafz(sys)).reduce((n, l) => n + l.out_bytes, 0);
    const siteRollout = await startRollout(home, 'big-1', 'site=paris');
    const siteEnd = await waitRolloutEnd(home, siteRollout, 180_000);
    expect(siteEnd.state, JSON.stringify(siteEnd)).toBe('completed');
    expect(siteEnd.hosts.map((h) => h.state)).toEqual(atSite.map(() => 'succeeded'));
    // The mirror took the package when it was added; the rollout itself sent commands and reads.
    await waitSite(home, 'paris', (s) => s.behind?.objects === 0, 30_000, () => 'mirror not caught up');
    const leafAfter = (await hubLeafz(sys)).reduce((n, l) => n + l.out_bytes, 0);

    const hubBefore = await hubClientOutBytes(sys);
    const hubRollout = await startRollout(home, 'big-1', 'where=hub');
    const hubEnd = await waitRolloutEnd(home, hubRollout, 180_000);
    expect(hubEnd.state, JSON.stringify(hubEnd)).toBe('completed');
    const hubAfter = await hubClientOutBytes(sys);
    const toHubAgents = atHub.reduce((n, a) => n + (hubAfter.get(`ferry-agent ${a.id}`) ?? 0) - (hubBefore.get(`ferry-agent ${a.id}`) ?? 0), 0);

    // Over the link since the site was linked (its mirror's copy included) vs. the rollout at the hub.
    const overLink = leafAfter;
    const remade = server.logs().split('\n').filter((l) => l.includes('mirror has gaps')).length;
    process.stdout.write(`sites: package ${packageSize} B; leaf link out ${overLink} B in total (${leafAfter - leafBefore} B during the site rollout); five hub agents ${toHubAgents} B; mirror remade for gaps ${remade} time(s)\n`);
    // The mirror copies the DML; a package's first version is stored whole only (no file
    // contents, no file index: nothing can be a delta to it), so the link carries it once.
    const dmlBytes = await (await jetstreamManager(adminHubNc)).streams.info('OBJ_ferry-dml').then((i) => i.state.bytes);
    process.stdout.write(`sites: the DML holds ${dmlBytes} B\n`);
    expect(dmlBytes).toBeLessThan(1.1 * packageSize + 2 * MiB);
    // Once, unless the hub made the mirror again for a hole in it (nats-server 2.9.10 can skip a
    // message for a consumer reading right behind the writer, seen under load; docs/scaling.md):
    // each remake may carry the DML once more. The bytes during the rollout (below) are the
    // per-agent proof, and they stay small either way.
    expect(overLink).toBeLessThan(1.5 * packageSize * (1 + remade));
    expect(leafAfter - leafBefore).toBeLessThan(0.1 * packageSize); // the agents read the site's mirror
    expect(toHubAgents).toBeGreaterThan(4.5 * packageSize);
    for (const a of agents.filter((h) => h.agent.tags.site === 'paris')) expect(a.logs()).toMatch(/"object":"big@1\.0\.0","source":"site paris","msg":"package downloaded"/);
  }, 420_000);

  it('a mirror behind the hub: site list says how far, the site\'s agents download from the hub, and the mirror catches up when remade', async () => {
    const admin = readCredsFile(join(home, 'keys', 'admin.creds'));
    const atTheSite = await connectNats({ url: site.url, creds: admin, name: 'test at the site' });
    try {
      // A mirror that takes nothing: everything the hub has is "behind".
      const jsm = await jetstreamManager(atTheSite);
      await jsm.streams.delete('OBJ_ferry-dml');
      await jsm.streams.add({ name: 'OBJ_ferry-dml', mirror: { name: 'OBJ_ferry-dml', filter_subject: '$O.ferry-dml.C.nothing', external: { api: '$JS.hub.API', deliver: '' } }, allow_direct: true, allow_rollup_hdrs: true } as never);
      await publishPackage(home, { name: 'small', version: '1.0.0', files: { 'data/blob.bin': smallBlob } });
      const behind = await waitSite(home, 'paris', (s) => (s.behind?.objects ?? 0) >= 2, 30_000, () => 'site list did not show the mirror behind');
      expect(behind.behind!.bytes).toBeGreaterThan(packageSize);
      expect(behind.mirror!.messages).toBe(0);
      const json = (await runFerry(home, ['site', 'list', '--json'])).json<{ name: string; behind: { objects: number } }[]>();
      expect(json.find((s) => s.name === 'paris')!.behind.objects).toBeGreaterThanOrEqual(2);

      await createRelease(home, 'small-1', ['small@1.0.0']);
      const smallSize = (await runFerry(home, ['dml', 'show', 'small@1.0.0', '--json'])).json<{ size: number }>().size;
      const leafBefore = (await hubLeafz(sys)).reduce((n, l) => n + l.out_bytes, 0);
      const id = await startRollout(home, 'small-1', 'site=paris');
      const end = await waitRolloutEnd(home, id, 120_000);
      expect(end.state, JSON.stringify(end)).toBe('completed');
      // Each of the five fetched it from the hub, across the link.
      const leafAfter = (await hubLeafz(sys)).reduce((n, l) => n + l.out_bytes, 0);
      expect(leafAfter - leafBefore).toBeGreaterThan(4.5 * smallSize);
      const siteHandles = agents.filter((a) => a.agent.tags.site === 'paris');
      expect(siteHandles).toHaveLength(PER_SIDE);
      for (const a of siteHandles) expect(a.logs()).toMatch(/"object":"small@1\.0\.0","source":"hub","msg":"package downloaded"/);

      // The server remakes a missing mirror, which then takes everything.
      await jsm.streams.delete('OBJ_ferry-dml');
      const caught = await waitSite(home, 'paris', (s) => s.behind?.objects === 0, 60_000, () => 'the remade mirror did not catch up');
      expect(caught.mirror!.messages).toBeGreaterThan(0);
      const adminHub = await connectNats({ url: server.url, creds: admin, name: 'test at the hub' });
      try {
        // Two packages, each a first version: its archive only.
        expect((await dmlObjects(adminHub)).length).toBe(2);
        expect((await dmlBehind(adminHub, 0)).objects).toBe(2);
        expect(await dmlBehind(adminHub, caught.mirror!.lastSeq)).toEqual({ objects: 0, bytes: 0 });
      } finally {
        await adminHub.close();
      }
    } finally {
      await atTheSite.close();
    }
  }, 240_000);

  it('a patch release at a site: its agents install it as a delta read from the site\'s mirror (file index and contents); nothing per agent crosses the link', async () => {
    // small@1.0.0 is kept on the five site agents; 1.0.1 adds one 1 MiB file. As a second version
    // the DML stores it by content too, and the mirror takes that once.
    const patch = randomBytes(MiB);
    await publishPackage(home, { name: 'small', version: '1.0.1', files: { 'data/blob.bin': smallBlob, 'data/patch.bin': patch } });
    await createRelease(home, 'small-2', ['small@1.0.1']);
    await waitSite(home, 'paris', (s) => s.behind?.objects === 0, 60_000, () => 'the mirror did not take small@1.0.1 and its contents');
    const leafBefore = (await hubLeafz(sys)).reduce((n, l) => n + l.out_bytes, 0);
    const id = await startRollout(home, 'small-2', 'site=paris');
    const end = await waitRolloutEnd(home, id, 120_000);
    expect(end.state, JSON.stringify(end)).toBe('completed');
    const leafAfter = (await hubLeafz(sys)).reduce((n, l) => n + l.out_bytes, 0);
    const siteHandles = agents.filter((a) => a.agent.tags.site === 'paris');
    for (const a of siteHandles) {
      const delta = a.logs().split('\n').find((l) => l.includes('"msg":"delta: fetched only') && l.includes('"version":"1.0.1"'));
      expect(delta, a.agent.hostname).toBeDefined();
      expect(JSON.parse(delta!.slice(delta!.indexOf('{')))).toMatchObject({ fetch: 1, fetchBytes: MiB });
      expect(readFileSync(join(a.agent.installRoot, 'small', '1.0.1', 'data', 'patch.bin')).equals(patch)).toBe(true);
    }
    // Five agents each fetching the 1 MiB file from the hub would move 5 MiB over the link.
    expect(leafAfter - leafBefore).toBeLessThan(0.5 * MiB);
  }, 240_000);

  it('a site with a --max-rate: its agents are told to read the (paced) mirror only, and install from it; hub agents are not', async () => {
    await runFerry(home, ['site', 'set', 'paris', '--max-rate', '50MiB/s']);
    const adminHub = await connectNats({ url: server.url, creds: readCredsFile(join(home, 'keys', 'admin.creds')), name: 'test at the hub' });
    try {
      await publishPackage(home, { name: 'paced', version: '1.0.0', files: { 'data/blob.bin': randomBytes(MiB) } });
      await createRelease(home, 'paced-1', ['paced@1.0.0']);
      const id = await startRollout(home, 'paced-1', 'all');
      const end = await waitRolloutEnd(home, id, 180_000);
      expect(end.state, JSON.stringify(end)).toBe('completed');
      const kv = await new Kvm(adminHub).open('ferry-desired');
      for (const a of agents) {
        const entry = await kv.get(a.agent.id);
        const doc = JSON.parse((JSON.parse(entry!.string()) as { payload: string }).payload) as { siteMirrorOnly?: boolean };
        expect(doc.siteMirrorOnly === true, a.agent.hostname).toBe(a.agent.tags.site === 'paris');
      }
      for (const a of agents.filter((h) => h.agent.tags.site === 'paris')) {
        expect(a.logs()).toMatch(/"object":"paced@1\.0\.0","source":"site paris","msg":"package downloaded"/);
        expect(a.logs()).not.toMatch(/"object":"paced@1\.0\.0","source":"hub"/);
      }
    } finally {
      await adminHub.close();
      await runFerry(home, ['site', 'set', 'paris', '--max-rate', 'none']);
    }
  }, 240_000);

  it('a hostile site: reply subjects aimed at the hub\'s JetStream and keys, and a consumer delivering to its API, change nothing there', async () => {
    const admin = readCredsFile(join(home, 'keys', 'admin.creds'));
    // Whoever runs the site's nats-server controls its FERRY account, the one linked to the hub.
    const atTheSite = await connectNats({ url: site.url, creds: admin, name: 'hostile site' });
    const atTheHub = await connectNats({ url: server.url, creds: admin, name: 'test at the hub' });
    try {
      const jsm = await jetstreamManager(atTheHub);
      const kvKey = `$KV.ferry-desired.${atSite[0]!.id}`;
      // The consumers the server makes for paris's mirror are direct ones, which JetStream's
      // consumer list leaves out: the server records each one; the one made last is asked for by name here.
      const consumerInfo = async (name: string) =>
        (await atTheHub.request(`$JS.API.CONSUMER.INFO.OBJ_ferry-dml.${name}`, '', { timeout: 5000 })).json<{ config?: { deliver_subject?: string; filter_subject?: string }; error?: { err_code?: number } }>();
      const recorded = () => {
        const db = openDatabase(dataPaths(home).db);
        try {
          return new SiteStore(db).mirrorConsumers('paris');
        } finally {
          db.close();
        }
      };
      const madeLast = async () => {
        const all = recorded();
        const made = all.at(-1);
        if (!made) throw new Error('the server recorded no mirror consumer for paris');
        return { name: made.name, recorded: made.config.deliver_subject, info: await consumerInfo(made.name), all: all.map((c) => c.name) };
      };
      const state = async () => {
        const reports = await jsm.streams.info('FERRY_REPORTS');
        const desired = await jsm.streams.getMessage('KV_ferry-desired', { last_by_subj: kvKey });
        return { reportsFirst: reports.state.first_seq, desiredSeq: desired?.seq, consumer: await madeLast() };
      };
      const before = await state();
      // The mirror's own consumer, at work.
      const mirrorDelivery = before.consumer.info.config?.deliver_subject;
      expect(mirrorDelivery).toMatch(/^\$JS\.M\.[A-Za-z0-9]+$/);
      const hostileReplies = ['$JS.API.STREAM.PURGE.FERRY_REPORTS', '$JS.hub.API.STREAM.PURGE.FERRY_REPORTS', kvKey, '$JS.API.STREAM.DELETE.KV_ferry-desired', 'ferry.api.agents.revoke'];
      const agentId = atSite[0]!.id;
      for (const reply of hostileReplies) {
        atTheSite.publish(`ferry.agent.${agentId}.status`, JSON.stringify({ agent: agentId, ts: Date.now(), operation: 'noop', state: 'succeeded', installed: {} }), { reply });
        atTheSite.publish(`$JS.hub.API.DIRECT.GET.KV_ferry-desired.${kvKey}`, '', { reply });
        atTheSite.publish('$JS.hub.API.DIRECT.GET.OBJ_ferry-dml', JSON.stringify({ seq: 1 }), { reply });
        atTheSite.publish('ferry.mirror.paris.CONSUMER.CREATE.OBJ_ferry-dml', JSON.stringify({ stream_name: 'OBJ_ferry-dml', config: { deliver_subject: '$JS.M.x1', deliver_policy: 'all' } }), { reply });
      }
      // Answers come back over the link only on service replies and a mirror's own ($JSC.R.*).
      let n = 0;
      const answered = { timeout: 10_000, noMux: true };
      const reply = () => ({ ...answered, reply: `$JSC.R.hostile${++n}` });
      // A consumer whose deliveries would be API requests at the hub: refused by the server.
      const refused = await atTheSite.request('ferry.mirror.paris.CONSUMER.CREATE.OBJ_ferry-dml', JSON.stringify({ stream_name: 'OBJ_ferry-dml', config: { deliver_subject: '$JS.API.STREAM.PURGE.FERRY_REPORTS', deliver_policy: 'all' } }), reply());
      expect(refused.json<{ error?: { description: string } }>().error?.description).toMatch(/^ferry: a mirror delivers to/);
      // Answers on each path come after everything sent before them was handled.
      await atTheSite.request(`$JS.hub.API.DIRECT.GET.KV_ferry-desired.${kvKey}`, '', reply());
      await atTheSite.request(`ferry.agent.${agentId}.status`, JSON.stringify({ agent: agentId, ts: Date.now(), operation: 'noop', state: 'succeeded', installed: {} }), reply());
      const after = await state();
      expect(after.reportsFirst).toBe(before.reportsFirst);
      expect(after.desiredSeq).toBe(before.desiredSeq);
      // The consumer made last (the refused request came after the valid ones above, and was answered
      // after them): a mirror's delivery subject, as the server recorded it and as JetStream has it.
      // The valid requests' consumers (delivering to $JS.M.x1) may be gone already: JetStream drops
      // one 5 s after nothing receives its deliveries; one delivering to the hub's API would stay
      // (JetStream listens there).
      expect(after.consumer.name).not.toBe(before.consumer.name);
      expect(after.consumer.recorded).toBe('$JS.M.x1');
      if (after.consumer.info.error?.err_code !== 10014) expect(after.consumer.info.config).toMatchObject({ deliver_subject: '$JS.M.x1' });
      expect(after.consumer.info.config?.filter_subject ?? '').toBe('');
      // The mirror's consumer is untouched: same name, same delivery subject, all of the DML; and
      // still recorded, beside those the requests above made (site set and site remove reach it).
      expect(after.consumer.all).toContain(before.consumer.name);
      expect((await consumerInfo(before.consumer.name)).config).toMatchObject({ deliver_subject: mirrorDelivery });
      expect((await consumerInfo(before.consumer.name)).config?.filter_subject ?? '').toBe('');
      expect((await jsm.streams.info('KV_ferry-desired')).config.name).toBe('KV_ferry-desired');
      expect((await runFerry(home, ['agents', 'list', '--json'])).json<{ id: string; state?: string }[]>().find((a) => a.id === agentId)?.state).toBe('active');
    } finally {
      await atTheSite.close();
      await atTheHub.close();
    }
  });

  it('a revoked site agent is refused at the site too (the account update reaches the site over its system-account link)', async () => {
    const victim = atSite[PER_SIDE - 1]!;
    const identity = JSON.parse(readFileSync(join(victim.stateDir, 'identity.json'), 'utf8')) as { jwt: string };
    const creds = { jwt: identity.jwt, seed: readFileSync(join(victim.stateDir, 'agent.nk'), 'utf8').trim() };
    const before = await connectNats({ url: site.url, creds, name: `ferry-agent ${victim.id} (test)`, attempts: 1 });
    await before.close();
    await runFerry(home, ['agents', 'revoke', victim.id]);
    await waitFor(async () => {
      try {
        const nc = await connectNats({ url: site.url, creds, name: 'revoked', attempts: 1 });
        await nc.close();
        return false;
      } catch (err) {
        return /refused the credentials|authoriz/i.test(String(err));
      }
    }, 20_000, { intervalMs: 500, message: 'the site still accepts the revoked agent' });
  });

  it('the site\'s link credential is a leafnode link only: as a client of the hub it is refused', async () => {
    const credsFile = site.config.replace(/\.conf$/, '.creds');
    await expect(connectNats({ url: server.url, creds: readCredsFile(credsFile), name: 'stolen site creds', attempts: 1 })).rejects.toThrow(/refused the credentials|authoriz/i);
  });

  it('bad input: one line, a stable code, nothing written', async () => {
    const out = tempDir('ferry-site-bad-');
    const tokensBefore = (await runFerry(home, ['token', 'list', '--json'])).json<unknown[]>();
    const cases: CliRefusal[] = [
      [['site', 'add', 'Paris!', '--out', out], 2, /^FERRY_INVALID_INPUT: invalid site name "Paris!" — hint: /],
      [['site', 'add', 'paris', '--out', out], 4, /^FERRY_CONFLICT: site paris exists already — hint: /],
      [['site', 'add', 'lyon', '--out', out, '--hub-url', 'http://hub:7422'], 2, /^FERRY_INVALID_INPUT: --hub-url "http:\/\/hub:7422" has the scheme http; a leafnode link is nats-leaf:\/\/ .* — hint: /],
      [['site', 'add', 'lyon', '--out', out, '--hub-url', `nats-leaf://127.0.0.1:${server.port}`], 2, /^FERRY_INVALID_INPUT: --hub-url nats-leaf:\/\/127\.0\.0\.1:\d+ is the hub's client port, not its leafnode port — hint: the hub accepts sites at nats-leaf:/],
      [['site', 'add', 'lyon', '--out', out, '--listen', 'nowhere'], 2, /^FERRY_INVALID_INPUT: --listen "nowhere" is not HOST:PORT/],
      [['token', 'create', '--site', 'nowhere'], 3, /^FERRY_NOT_FOUND: no site nowhere — hint: /],
      [['token', 'create', '--site', 'paris', '--tag', 'site=lyon'], 2, /^FERRY_INVALID_INPUT: --tag site=lyon contradicts --site paris/],
      // A hub token tagged site=paris: its agents would connect to the hub, yet be listed and targeted as paris's.
      [['token', 'create', '--tag', 'site=paris'], 2, /^FERRY_INVALID_INPUT: --tag site=paris without --site: the site tag is set by --site — hint: ferry token create --site paris/],
    ];
    await expectCliRefusals((args) => runFerry(home, args, { allowFail: true }), cases);
    expect((await runFerry(home, ['token', 'list', '--json'])).json<unknown[]>()).toEqual(tokensBefore);
    expect(readdirSync(out)).toEqual([]);
    const sites = (await runFerry(home, ['site', 'list', '--json'])).json<{ name: string }[]>();
    expect(sites.map((s) => s.name)).toEqual(['paris']);
    // The site's files are the first ones, untouched by the refused duplicate.
    expect(existsSync(site.config)).toBe(true);
    expect(readFileSync(site.config, 'utf8')).toContain('domain: site-paris');
  });

  it('a host that joins with a hub token and its own --tag site=paris is refused: no agent, no state, the token\'s use kept', async () => {
    const token = await createToken(home, { uses: 1 });
    const tokens = () => runFerry(home, ['token', 'list', '--json']).then((r) => r.json<{ id: string; usesLeft: number; tags: Record<string, string> }[]>());
    const before = await tokens();
    const stateDir = tempDir('ferry-agent-fake-site-');
    const r = await runAgentCli(stateDir, ['join', '--token', token, '--tag', 'site=paris'], { allowFail: true, env: { FERRY_HOSTNAME: 'fake-paris' } });
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^FERRY_INVALID_INPUT: --tag site=paris: the site tag comes with the join token — hint: join with a token of that site: ferry token create --site paris/)]);
    expect(readdirSync(stateDir)).toEqual([]);
    expect(await tokens()).toEqual(before);
    const agents = await apiRequest(home, 'agents.list', { target: 'all' });
    expect(agents.map((a) => a.hostname)).not.toContain('fake-paris');
    const sites = (await runFerry(home, ['site', 'list', '--json'])).json<{ name: string; agents: { hostname: string }[] }[]>();
    expect(sites.find((x) => x.name === 'paris')!.agents.map((a) => a.hostname)).not.toContain('fake-paris');
  });

  it('the site stops: its agents reconnect to the hub (their second URL) and a rollout still reaches them; when it is back they return to it', async () => {
    const live = atSite.slice(0, PER_SIDE - 1); // the last one was revoked above
    const stoppedAt = Date.now();
    await site.stop();
    await waitFor(async () => {
      const names = await hubClientOutBytes(sys);
      return live.every((a) => names.has(`ferry-agent ${a.id}`));
    }, 60_000, { intervalMs: 500, message: 'the site\'s agents did not reconnect to the hub' });
    await waitFor(async () => {
      const list = await apiRequest(home, 'agents.list', { target: 'all' });
      return live.every((a) => list.some((x) => x.id === a.id && x.online && x.lastSeen !== null && Date.parse(x.lastSeen) >= stoppedAt - 1000));
    }, 30_000, { intervalMs: 500, message: 'the site\'s agents are not online through the hub' });
    await publishPackage(home, { name: 'tiny', version: '1.0.0', files: { 'data/x.txt': 'through the hub' } });
    await createRelease(home, 'tiny-1', ['tiny@1.0.0']);
    const id = await startRollout(home, 'tiny-1', 'site=paris');
    const end = await waitRolloutEnd(home, id, 120_000);
    expect(end.state, JSON.stringify(end)).toBe('completed');
    expect(end.hosts.map((h) => h.agent).sort()).toEqual(live.map((a) => a.id).sort());

    // The site comes back: its agents leave the hub for it (FERRY_SITE_RETURN_MS), and a package
    // reaches them from the site's mirror again, not from the hub. (Not counted in link bytes: a
    // restarted site's mirror may be made again, which moves the whole DML across once.)
    await site.restart();
    await waitFor(async () => {
      const names = await hubClientOutBytes(sys);
      return live.every((a) => !names.has(`ferry-agent ${a.id}`));
    }, 60_000, { intervalMs: 500, message: 'the site\'s agents stayed on the hub after the site came back' });
    await publishPackage(home, { name: 'back', version: '1.0.0', files: { 'data/blob.bin': randomBytes(MiB) } });
    await waitSite(home, 'paris', (s) => s.behind?.objects === 0, 120_000, () => 'the mirror did not take the package');
    await createRelease(home, 'back-1', ['back@1.0.0']);
    const again = await waitRolloutEnd(home, await startRollout(home, 'back-1', 'site=paris'), 120_000);
    expect(again.state, JSON.stringify(again)).toBe('completed');
    for (const a of agents.filter((h) => live.some((l) => l.id === h.agent.id))) {
      expect(a.logs()).toMatch(/"object":"back@1\.0\.0","source":"site paris","msg":"package downloaded"/);
    }
  }, 300_000);
});
