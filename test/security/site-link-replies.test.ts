// A reply subject is a write, for a site's leafnode link too. Whoever holds a site's link
// credential (`ferry site add`) can run a nats-server of their own as that site, with no
// permissions of its own at their end: here such a leafnode, linked to the hub with the real
// credential of site "evil", sends every subject its link user may publish — generated from
// siteLinkPermissions (server/nats/auth-config.ts), wildcards made concrete — with replies aimed
// at the hub's JetStream API (`$JS.hub.API`, `$JS.API`), its keys and objects, the admin API,
// agents' subjects and inboxes, and another site's (paris, a real site with its mirror) JetStream
// domain, mirror requests, replies and deliveries. Nothing may change: at the hub the streams,
// consumers, desired states, objects, audit rows, agents and sites; at paris its mirror.
// Real nats-servers (hub, paris, the attacker's leafnode), the real server.
import Database from 'better-sqlite3';
import { jetstreamManager } from '@nats-io/jetstream';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mirrorConsumerCreate, siteLinkPermissions, subjectCovers } from '../../server/nats/auth-config.js';
import { MAX_MIRROR_CONSUMERS_PER_SITE } from '../../server/sites/store.js';
import { connectNats, type NatsConnection } from '../../shared/nats/connect.js';
import { readCredsFile } from '../../shared/nats/creds.js';
import { BUCKETS, HUB_DOMAIN, jsApiPrefix, siteDomain, subjects } from '../../shared/protocol/subjects.js';
import { publishPackage } from '../helpers/faults.js';
import { cleanupFleet, initServer, joinAgent, type JoinedAgent, type ServerHandle } from '../helpers/fleet.js';
import { api, apiToken, connectAsAdmin, encode, serverSecrets, type Watched } from '../helpers/hostile.js';
import { hubLeafz, hubSystemConnection, startHostileSite, startSite, waitSite, type HostileSite, type TestSite } from '../helpers/site.js';
import { hostileReplies, objectMetaSubject, storeSnapshot } from '../helpers/store-snapshot.js';

const DML_STREAM = `OBJ_${BUCKETS.dml}`;
const HUB_API = jsApiPrefix(HUB_DOMAIN);
/** a mirror's own delivery subject: the only kind the server gives a site's consumer */
const MIRROR_DELIVERY_RE = /^\$JS\.M\.[A-Za-z0-9]+$/;
const EVIL = 'evil';
const OTHER = 'paris';

let server: ServerHandle;
let admin: Watched;
let A: JoinedAgent;
let B: JoinedAgent;
let token: string;
const objectName = 'app@1.0.0';
const metaSubject = objectMetaSubject(objectName);
let paris: TestSite;
let atParis: NatsConnection;
let evil: HostileSite | undefined;
let attacker: Watched;

interface Case {
  subject: string;
  body: Uint8Array;
  /** something answers it (a legitimate request on this path shows when the earlier ones were handled) */
  answered: boolean;
  /** a report the reports stream takes */
  report: boolean;
}

/**
 * Concrete subjects, with valid bodies, for one entry of the link user's publish permissions.
 * An entry this does not know fails the test: a subject added to siteLinkPermissions needs its
 * cases here.
 */
function instances(entry: string): Case[] {
  const now = Date.now();
  const agent = A.id;
  const c = (subject: string, body: unknown, answered: boolean, report = false): Case => ({ subject, body: body instanceof Uint8Array ? body : encode(body), answered, report });
  if (entry === subjects.status('*')) return [c(subjects.status(agent), { agent, ts: now, operation: 'probe', state: 'downloading', installed: {} }, true, true)];
  if (entry === subjects.inventory('*')) {
    const inventory = { hostname: A.hostname, os: 'linux', distro: 'x', release: '1', kernel: '6', arch: 'x64', cpu: { model: 'x', cores: 1 }, memoryMB: 1, disks: [], interfaces: [], virtual: false };
    return [c(subjects.inventory(agent), { agent, ts: now, inventory, installed: {} }, true, true)];
  }
  if (entry === subjects.heartbeat('*')) return [c(subjects.heartbeat(agent), { agent, ts: now, installed: {} }, false)];
  if (entry === `${HUB_API}.DIRECT.GET.KV_${BUCKETS.desired}.$KV.${BUCKETS.desired}.*`) {
    return [B.id, '_trust'].map((key) => c(entry.replace(/\*$/, key), new Uint8Array(), true));
  }
  if (entry === `${HUB_API}.DIRECT.GET.${DML_STREAM}`) return [c(entry, { last_by_subj: metaSubject }, true)];
  if (entry === `${HUB_API}.DIRECT.GET.${DML_STREAM}.>`) return [c(entry.replace(/>$/, metaSubject), new Uint8Array(), true)];
  if (entry === mirrorConsumerCreate(EVIL)) {
    // refused (a delivery into the hub's API), and made (a mirror's own delivery subject): both answered
    return [
      c(entry, { stream_name: DML_STREAM, config: { deliver_subject: '$JS.API.STREAM.PURGE.FERRY_REPORTS', deliver_policy: 'all' } }, true),
      c(entry, { stream_name: DML_STREAM, config: { deliver_subject: '$JS.M.evilprobe', deliver_policy: 'all' } }, true),
    ];
  }
  // a mirror's flow-control answer and the site's answers to the server: nothing answers them
  if (entry === `$JS.FC.${DML_STREAM}.>`) return [c(entry.replace(/>$/, 'evil.1'), new Uint8Array(), false)];
  if (entry === `${subjects.siteReplyPrefix(EVIL)}.>`) return [c(entry.replace(/>$/, 'evilprobe'), { type: 'io.nats.jetstream.api.v1.stream_info_response' }, false)];
  throw new Error(`no concrete case for the site link's publish subject ${entry}: add one here`);
}

const siteRows = () => {
  const db = new Database(join(server.home, 'ferry.db'), { readonly: true });
  try {
    return db.prepare('SELECT name, link_nkey, mirror_api, max_rate_bps FROM sites ORDER BY name').all() as Record<string, unknown>[];
  } finally {
    db.close();
  }
};

/** The mirror consumers the server recorded, by site: the attacker's valid requests make some for its own site, within its cap. */
const consumerRecords = (site: string) => {
  const db = new Database(join(server.home, 'ferry.db'), { readonly: true });
  try {
    return db.prepare('SELECT name, config, js_created FROM site_mirror_consumers WHERE site = ? ORDER BY created_at, rowid').all(site) as { name: string; config: string; js_created: string | null }[];
  } finally {
    db.close();
  }
};

/** paris's streams at paris (its mirror of the DML): made once, never touched by the test. */
async function parisState(): Promise<string[]> {
  const jsm = await jetstreamManager(atParis);
  const out: string[] = [];
  for await (const si of jsm.streams.list()) out.push(`${si.config.name}:${si.created}:${si.state.messages}:${si.state.first_seq}:${si.state.last_seq}:${si.config.mirror?.name ?? ''}`);
  return out.sort();
}

/**
 * Where paris's mirror's consumer at the hub delivers (the server records it). A mirror's consumer
 * is a direct one: JetStream's consumer list does not show it.
 */
function parisDelivery(): string | undefined {
  const made = consumerRecords(OTHER).at(-1);
  return made ? (JSON.parse(made.config) as { deliver_subject?: string }).deliver_subject : undefined;
}

// (Mirrors' consumers, paris's and the one the valid request makes, are direct ones: not listed.)
const snapshot = () => storeSnapshot({ admin: admin.nc, home: server.home, desiredKeys: [A.id, B.id, '_trust'], objectName });

beforeAll(async () => {
  // Sites are checked when site.list asks (and once a minute): the test decides when.
  server = await initServer({ args: ['--leaf-listen', '127.0.0.1:0'], env: { FERRY_SITE_CHECK_MS: '600000' } });
  const secrets = serverSecrets(server.home);
  admin = await connectAsAdmin(secrets.natsUrl, secrets);
  await publishPackage(server.home, { name: 'app', version: '1.0.0', files: { 'bin/app': 'v1\n' } });
  const join2 = await apiToken(admin.nc, { uses: 2 });
  A = await joinAgent(server.home, 'link-a', { token: join2 });
  B = await joinAgent(server.home, 'link-b', { token: join2 });
  token = await apiToken(admin.nc, { uses: 5 });
  await api(admin.nc, 'release.create', { name: 'link-r1', packages: ['app@1.0.0'] });
  await api(admin.nc, 'rollout.start', { release: 'link-r1', target: `id=${B.id}`, strategy: 'big-bang', includeOffline: true });
  // Another site, real, with its mirror of the DML.
  paris = await startSite(server.home, OTHER);
  await waitSite(server.home, OTHER, (s) => s.behind?.objects === 0, 60_000, () => `paris's mirror did not take the package:\n${paris.logs().slice(-3000)}`);
  atParis = await connectNats({ url: paris.url, creds: readCredsFile(join(server.home, 'keys', 'admin.creds')), name: 'test at paris' });
  // The attacker's site: its real link credential, at a nats-server of the attacker's own.
  evil = await startHostileSite(server.home, EVIL);
  attacker = evil.attacker;
  // The reports stream holds a report already, so a purge would show in its first sequence.
  const report = instances(subjects.status('*'))[0]!;
  await attacker.nc.request(report.subject, report.body, { timeout: 10_000 });
}, 240_000);

afterAll(async () => {
  await atParis?.close().catch(() => undefined);
  await admin?.close();
  await evil?.stop();
  await paris?.stop();
  await server?.stop();
  await cleanupFleet();
}, 120_000);

describe("a site's leafnode link: a reply subject is never a write", () => {
  it('every subject the link user may publish × every hostile reply changes nothing at the hub or at another site', async () => {
    const publish = siteLinkPermissions(EVIL).publish;
    const cases = publish.flatMap((entry) => {
      const made = instances(entry);
      // generated from the table: each case is a subject the entry permits
      for (const c of made) expect(subjectCovers(entry, c.subject), `${c.subject} under ${entry}`).toBe(true);
      return made;
    });
    expect(cases.length).toBeGreaterThanOrEqual(publish.length);

    const before = await snapshot();
    const parisBefore = await parisState();
    const sitesBefore = siteRows();
    const parisConsumersBefore = consumerRecords(OTHER);
    const delivery = parisDelivery();
    expect(delivery, "paris's mirror's consumer at the hub").toMatch(MIRROR_DELIVERY_RE);
    const otherApi = jsApiPrefix(siteDomain(OTHER));
    const replies = [
      ...hostileReplies({ streams: Object.keys(before.streams), victim: B.id, objectName, token, apis: [HUB_API, '$JS.API'] }),
      // another site: its JetStream domain (its mirror), its mirror's requests, its answers to the server, its mirror's deliveries
      ...['INFO', 'CREATE', 'UPDATE', 'DELETE', 'PURGE'].map((op) => `${otherApi}.STREAM.${op}.${DML_STREAM}`),
      `${otherApi}.CONSUMER.CREATE.${DML_STREAM}`,
      mirrorConsumerCreate(OTHER),
      `${subjects.siteReplyPrefix(OTHER)}.evil`,
      delivery!,
      `$JS.FC.${DML_STREAM}.evil`,
    ];
    // What crossed each leafnode link into the hub, by link (the attacker's is the one that grows).
    const sys = await hubSystemConnection(server.home, serverSecrets(server.home).natsUrl);
    const received = async () => new Map((await hubLeafz(sys)).map((l) => [`${l.ip}:${l.port}`, l.in_msgs]));
    const receivedBefore = await received();
    let reports = 0;
    let sent = 0;
    for (const c of cases) {
      for (const reply of replies) {
        attacker.nc.publish(c.subject, c.body, { reply });
        sent++;
        if (c.report) reports++;
      }
    }
    await attacker.nc.flush();
    // Answers on each path come after everything sent before them on it was handled.
    const unanswered: string[] = [];
    for (const c of cases.filter((x) => x.answered)) {
      const answer = await attacker.nc.request(c.subject, c.body, { timeout: 10_000 }).catch((err: unknown) => {
        unanswered.push(`${c.subject}: ${(err as Error).message}`);
        return undefined;
      });
      if (answer) expect(answer.data.length + (answer.headers ? 1 : 0)).toBeGreaterThan(0);
      if (c.report) reports++;
    }
    // Every message crossed the link: the hub took them all (those nothing answers too).
    const receivedAfter = await received();
    await sys.close();
    expect(Math.max(...[...receivedAfter].map(([link, n]) => n - (receivedBefore.get(link) ?? 0)))).toBeGreaterThanOrEqual(sent);
    // Asked about its mirror over its link, as the server asks (after whatever reached paris
    // before on it): a mirror deleted or remade would show in its creation time.
    const info = await admin.nc.request(`${otherApi}.STREAM.INFO.${DML_STREAM}`, '', { timeout: 10_000, noMux: true, reply: `${subjects.siteReplyPrefix(OTHER)}.test` });
    expect(info.json<{ config?: { name?: string } }>().config?.name).toBe(DML_STREAM);

    const after = await snapshot();
    const rep = 'FERRY_REPORTS';
    expect(after.streams[rep]!.messages - before.streams[rep]!.messages).toBe(reports);
    expect(after.streams[rep]!.first).toBe(before.streams[rep]!.first);
    expect({ ...after.streams, [rep]: null }).toEqual({ ...before.streams, [rep]: null });
    expect(after.desired).toEqual(before.desired);
    expect(after.objects).toEqual(before.objects);
    expect(after.lease).toEqual(before.lease);
    expect(after.audit).toBe(before.audit);
    expect(after.agents).toEqual(before.agents);
    expect(unanswered).toEqual([]);
    expect(siteRows()).toEqual(sitesBefore);
    expect(consumerRecords(OTHER)).toEqual(parisConsumersBefore);
    // Every valid request of the attacker made a consumer for its own site: recorded up to the cap, the oldest deleted beyond it.
    const evilConsumers = consumerRecords(EVIL);
    expect(evilConsumers.length).toBeGreaterThan(0);
    expect(evilConsumers.length).toBeLessThanOrEqual(MAX_MIRROR_CONSUMERS_PER_SITE);
    const evicted = server.logs().split('\n').filter((l) => l.includes(`"site":"${EVIL}"`) && l.includes('its oldest is deleted')).length;
    expect(evicted, 'the attacker asked for more consumers than the cap').toBeGreaterThan(0);
    process.stdout.write(`site-link-replies: the attacker's site made ${evicted + evilConsumers.length} mirror consumers; ${evilConsumers.length} recorded, ${evicted} deleted at the cap\n`);
    expect(await parisState()).toEqual(parisBefore);
    expect(before.desired[B.id]).toBeGreaterThan(0);
    expect(before.objects).toHaveLength(1);
    expect(parisBefore.some((s) => s.startsWith(`${DML_STREAM}:`))).toBe(true);
  }, 180_000);
});
