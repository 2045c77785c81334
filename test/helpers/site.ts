// A site for tests: `ferry site add` (the product's own output) on a free loopback port, started as
// a nats-server child, and the hub's monitoring read over NATS with its system account (LEAFZ,
// CONNZ: what the monitoring endpoint serves over HTTP).
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { findNatsServerBinary } from '../../scripts/nats-launcher.js';
import { issueAccountUser } from '../../server/nats/accounts.js';
import { loadNatsKeys } from '../../server/nats/nats-keys.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connectNats, type NatsConnection } from '../../shared/nats/connect.js';
import { BUCKETS, HUB_DOMAIN, TRUST_KEY, jsApiPrefix } from '../../shared/protocol/subjects.js';
import { freePortRange } from './cluster.js';
import { apiRequest, runFerry, tempDir, waitFor } from './fleet.js';
import { connectAs, type Watched } from './hostile.js';
import type { SiteDoc } from '../../shared/protocol/replies.js';

export interface TestSite {
  name: string;
  /** nats://127.0.0.1:PORT, where its agents connect */
  url: string;
  config: string;
  logs(): string;
  running(): boolean;
  stop(): Promise<void>;
  /** start its nats-server again (same config, same port); resolves once the hub sees it linked (linked: false, once started) */
  restart(opts?: { linked?: boolean }): Promise<void>;
}

/** A site as site.list describes it (shared/protocol/replies/admin.ts). */
export type SiteListDoc = SiteDoc;

/** `ferry site add NAME` on a free port, then its nats-server; resolves once the hub sees it linked with its mirror made. */
export async function startSite(home: string, name: string, opts: { hubUrl?: string; args?: string[]; started?: (site: TestSite) => Promise<void> } = {}): Promise<TestSite> {
  const port = await freePortRange(1);
  const out = tempDir(`ferry-site-${name}-`);
  const hub = opts.hubUrl ? ['--hub-url', opts.hubUrl] : [];
  const doc = (await runFerry(home, ['site', 'add', name, '--out', out, '--listen', `127.0.0.1:${port}`, ...hub, ...(opts.args ?? []), '--json'])).json<{ config: string; agentUrl: string }>();
  let output = '';
  let child: ChildProcess;
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-40_000));
  const launch = () => {
    child = spawn(findNatsServerBinary(), ['-c', doc.config], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  };
  launch();
  const running = () => child.exitCode === null && child.signalCode === null;
  const site: TestSite = {
    name,
    url: doc.agentUrl,
    config: doc.config,
    logs: () => output,
    running,
    async stop() {
      if (!running()) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
    async restart(o = {}) {
      await site.stop();
      launch();
      if (o.linked === false) return;
      await waitSite(home, name, (s) => s.linked, 60_000, () => `site ${name} not linked again after its restart:\n${output.slice(-3000)}`);
    },
  };
  // Before site.list is first asked (the server makes the mirror then): e.g. watch the mirror fill.
  if (opts.started) {
    try {
      await opts.started(site);
    } catch (err) {
      await site.stop();
      throw err;
    }
  }
  await waitSite(home, name, (s) => s.linked && s.mirror !== null, 60_000, () => `site ${name} not linked with a mirror:\n${output.slice(-3000)}`).catch(async (err: unknown) => {
    await site.stop();
    throw err;
  });
  return site;
}

/** Polls site.list (which checks the sites afresh) until `pred` holds for the site. */
export async function waitSite(home: string, name: string, pred: (s: SiteListDoc) => boolean, timeoutMs: number, message: () => string): Promise<SiteListDoc> {
  let last: SiteListDoc | undefined;
  await waitFor(async () => {
    last = (await apiRequest(home, 'site.list', {})).find((s) => s.name === name);
    return last !== undefined && pred(last);
  }, timeoutMs, { intervalMs: 300, message: () => `${message()}\nlast: ${JSON.stringify(last)}` });
  return last!;
}

/** A connection of the hub's system account (its monitoring over NATS). */
export async function hubSystemConnection(home: string, url: string): Promise<NatsConnection> {
  const keys = loadNatsKeys(join(home, 'keys', 'nats.json'));
  const creds = await issueAccountUser(keys, 'SYS', 'test-monitor', { publicKey: keys.sysUser.publicKey, seed: new TextDecoder().decode(keys.sysUser.getSeed()) });
  return connectNats({ url, creds, name: 'test monitor' });
}

export interface LeafLink {
  account: string;
  /** the link's remote end, as the hub sees it */
  ip: string;
  port: number;
  in_bytes: number;
  out_bytes: number;
  in_msgs: number;
  out_msgs: number;
}

/** The hub's leafz: one row per linked site. */
export async function hubLeafz(sys: NatsConnection): Promise<LeafLink[]> {
  const msg = await sys.request('$SYS.REQ.SERVER.PING.LEAFZ', '{}', { timeout: 5000 });
  return (msg.json<{ data: { leafs?: LeafLink[] } }>().data.leafs ?? []);
}

/** Bytes the hub sent to each client connection, by connection name. */
export async function hubClientOutBytes(sys: NatsConnection): Promise<Map<string, number>> {
  const msg = await sys.request('$SYS.REQ.SERVER.PING.CONNZ', JSON.stringify({ limit: 4096 }), { timeout: 5000 });
  const conns = msg.json<{ data: { connections?: { name?: string; out_bytes: number }[] } }>().data.connections ?? [];
  return new Map(conns.filter((c) => c.name).map((c) => [c.name!, c.out_bytes]));
}

/** A consumer at the hub's DML, as JetStream's CONSUMER.INFO has it. */
export interface HubConsumer {
  name: string;
  /** something receives its deliveries (a mirror's live consumer) */
  push_bound?: boolean;
  config: { deliver_subject?: string; rate_limit_bps?: number };
}

/**
 * The consumers the hub's server made for a site that JetStream still has, found by the names its
 * log gives (`made the site's mirror consumer`, at level info), not by what it recorded: a mirror's
 * consumer is a direct one, which JetStream's consumer list leaves out.
 */
export async function siteConsumersAtHub(hub: NatsConnection, serverLogs: string, site: string): Promise<HubConsumer[]> {
  const names = new Set<string>();
  for (const line of serverLogs.split('\n')) {
    if (!line.includes('"msg":"made the site\'s mirror consumer"') || !line.includes(`"site":"${site}"`)) continue;
    const name = /"consumer":"([A-Za-z0-9]+)"/.exec(line)?.[1];
    if (name) names.add(name);
  }
  const found: HubConsumer[] = [];
  for (const name of names) {
    const info = (await hub.request(`$JS.API.CONSUMER.INFO.OBJ_ferry-dml.${name}`, '', { timeout: 5000 })).json<HubConsumer & { error?: unknown }>();
    if (info.error === undefined) found.push(info);
  }
  return found;
}

/**
 * The hub's consumers that a site's mirror receives from, once there is one: a site that has just
 * linked may not have bound its mirror's consumer yet (on a busy machine, seconds later).
 */
export async function boundMirrorConsumers(hub: NatsConnection, serverLogs: () => string, site: string, timeoutMs = 30_000): Promise<HubConsumer[]> {
  let bound: HubConsumer[] = [];
  await waitFor(
    async () => {
      bound = (await siteConsumersAtHub(hub, serverLogs(), site)).filter((c) => c.push_bound);
      return bound.length > 0;
    },
    timeoutMs,
    { intervalMs: 200, message: `no consumer at the hub is bound to site ${site}'s mirror` },
  );
  return bound;
}

/** A hostile site: whoever holds a site's link credential, with a nats-server of their own. */
export interface HostileSite {
  /** a client of the attacker's leafnode: what it publishes goes to the hub with the link's permissions */
  attacker: Watched;
  /** nats://127.0.0.1:PORT of the attacker's leafnode */
  url: string;
  logs(): string;
  stop(): Promise<void>;
}

/**
 * `ferry site add NAME` (its real link credential), then the attacker's nats-server: a leafnode of
 * the hub with that credential, open to anyone at its end, with no JetStream (nothing is answered
 * there: every permitted subject goes to the hub). The credential cannot log in as a client of the
 * hub (sites.test.ts), so this is how it is used. Resolves once the hub answers across the link.
 */
export async function startHostileSite(home: string, name: string): Promise<HostileSite> {
  const out = tempDir(`ferry-site-${name}-`);
  const doc = (await runFerry(home, ['site', 'add', name, '--out', out, '--listen', '127.0.0.1:1', '--json'])).json<{ creds: string; hubUrl: string }>();
  const port = await freePortRange(1);
  const dir = tempDir(`ferry-${name}-leaf-`);
  mkdirSync(dir, { recursive: true });
  const config = join(dir, `${name}.conf`);
  writeFileSync(config, [`server_name: "${name}-leaf"`, `listen: "127.0.0.1:${port}"`, 'leafnodes {', '  remotes: [', `    { urls: [${JSON.stringify(doc.hubUrl)}], credentials: ${JSON.stringify(doc.creds)} }`, '  ]', '}', ''].join('\n'));
  let output = '';
  const child = spawn(findNatsServerBinary(), ['-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-40_000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const url = `nats://127.0.0.1:${port}`;
  let attacker: Watched | undefined;
  const stop = async () => {
    await attacker?.close();
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  try {
    // (Its inbox: what the link user may receive; nats-server refuses a client's `_R_.` reply.)
    attacker = await waitFor(() => connectAs(url, undefined, { name: `${name} site`, inboxPrefix: `$JSC.R.${name}` }).catch(() => undefined), 20_000, { message: () => `the attacker's leafnode does not take clients:\n${output}` });
    const trust = `${jsApiPrefix(HUB_DOMAIN)}.DIRECT.GET.KV_${BUCKETS.desired}.$KV.${BUCKETS.desired}.${TRUST_KEY}`;
    await waitFor(async () => (await attacker!.nc.request(trust, new Uint8Array(), { timeout: 2000 })).data.length > 0, 30_000, { intervalMs: 300, message: () => `the attacker's leafnode is not linked:\n${output}` });
  } catch (err) {
    await stop();
    throw err;
  }
  return { attacker, url, logs: () => output, stop };
}
