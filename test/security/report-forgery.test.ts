// A site may publish reports in any agent's name (its link's permissions cannot be narrowed to its
// own agents), so agents sign their reports with their own nkey and the server refuses, for an agent
// that signs, what it did not sign. Here whoever holds a site's real link credential runs a
// leafnode of their own (test/helpers/site.ts) and forges: a "succeeded" for a rollout the agent
// has not run (what would let a health-gated wave go on), an inventory, a badly signed report, and
// a replay of the agent's own older signed report. Nothing may change — CMDB, the rollout's hosts,
// events — and the agent's own signed reports still drive the rollout afterwards. An agent that
// never signed (a version from before signatures) stays forgeable: documented in SECURITY.md.
// Real `ferry server` with its embedded nats-server, a real agent, the attacker's nats-server.
import Database from 'better-sqlite3';
import { jetstreamManager } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPORT_COUNTER_HEADER, REPORT_SIG_HEADER } from '../../shared/protocol/report-signature.js';
import { REPORT_CONSUMER, REPORT_STREAM, subjects } from '../../shared/protocol/subjects.js';
import { publishPackage, startRollout, waitRolloutEnd } from '../helpers/faults.js';
import { apiRequest, cleanupFleet, createToken, initServer, joinAgent, startAgent, waitFor, type AgentHandle, type JoinedAgent, type ServerHandle } from '../helpers/fleet.js';
import { connectAsAdmin, encode, logsSince, serverSecrets, type Watched } from '../helpers/hostile.js';
import { startHostileSite, type HostileSite } from '../helpers/site.js';

let server: ServerHandle;
let admin: Watched;
let site: HostileSite;
/** an agent that runs this version: it signs */
let A: JoinedAgent;
let agentA: AgentHandle | undefined;
/** an agent that never ran this version (joined, never started): it never signed */
let L: JoinedAgent;
let metricsUrl: string;

const inventory = (hostname: string, memoryMB: number) => ({ hostname, os: 'linux', distro: 'forged', release: '1', kernel: '6', arch: 'x64', cpu: { model: 'x', cores: 1 }, memoryMB, disks: [], interfaces: [], virtual: false });

function dbRead<T>(fn: (db: Database.Database) => T): T {
  const db = new Database(join(server.home, 'ferry.db'), { readonly: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** What a refused report must not change: the CMDB row, installed versions and history, the rollout's hosts, events. */
function hubState(agentId: string) {
  return dbRead((db) => ({
    agent: db.prepare('SELECT hostname, facts, inventory, drift, last_seen, report_counters FROM agents WHERE id = ?').get(agentId),
    installed: db.prepare('SELECT package, version FROM installed WHERE agent_id = ? ORDER BY package').all(agentId),
    history: db.prepare('SELECT count(*) AS n FROM history WHERE agent_id = ?').get(agentId),
    rolloutHosts: db.prepare('SELECT * FROM rollout_hosts WHERE agent_id = ? ORDER BY rollout_id').all(agentId),
    rollouts: db.prepare('SELECT id, state, ended_at FROM rollouts ORDER BY id').all(),
    events: db.prepare('SELECT count(*) AS n FROM event_outbox').get(),
  }));
}

/**
 * hubState once the server's pending last-seen write is in: ingest writes the agents' last-seen
 * times once a second (server/cmdb/ingest.ts), so a report handled just before may still move it
 * after reportsHandled(). Read until the state stayed the same for 1.5 s.
 */
async function settledHubState(agentId: string) {
  let last = { at: Date.now(), state: hubState(agentId) };
  return waitFor(
    () => {
      const state = hubState(agentId);
      if (!isDeepStrictEqual(state, last.state)) last = { at: Date.now(), state };
      else if (Date.now() - last.at >= 1500) return state;
      return undefined;
    },
    20_000,
    { intervalMs: 250, message: "A's hub state did not settle" },
  );
}

async function refused(reason: string): Promise<number> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`ferry_reports_refused_total{reason="${reason}"} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

/** Every report up to the stream's last one has been handled (applied or refused) and acknowledged. */
async function reportsHandled(): Promise<void> {
  const jsm = await jetstreamManager(admin.nc);
  await waitFor(
    async () => {
      const [stream, consumer] = await Promise.all([jsm.streams.info(REPORT_STREAM), jsm.consumers.info(REPORT_STREAM, REPORT_CONSUMER)]);
      return consumer.ack_floor.stream_seq >= stream.state.last_seq && consumer.num_ack_pending === 0;
    },
    30_000,
    { intervalMs: 200, message: 'the server did not handle every report' },
  );
}

/** Publish through the attacker's leafnode; the stream's acknowledgement comes back (the report is stored at the hub). */
async function forge(subject: string, body: Uint8Array, h?: ReturnType<typeof headers>): Promise<void> {
  const reply = await site.attacker.nc.request(subject, body, { timeout: 10_000, ...(h ? { headers: h } : {}) });
  expect(JSON.parse(new TextDecoder().decode(reply.data))).toMatchObject({ stream: REPORT_STREAM });
}

beforeAll(async () => {
  server = await initServer({ args: ['--leaf-listen', '127.0.0.1:0'], env: { FERRY_SITE_CHECK_MS: '600000', FERRY_METRICS_LISTEN: '127.0.0.1:0' } });
  metricsUrl = (JSON.parse(readFileSync(join(server.home, 'server.json'), 'utf8')) as { metricsUrl: string }).metricsUrl;
  const secrets = serverSecrets(server.home);
  admin = await connectAsAdmin(secrets.natsUrl, secrets);
  await publishPackage(server.home, { name: 'app', version: '1.0.0', files: { 'bin/app': 'v1\n' } });
  await apiRequest(server.home, 'release.create', { name: 'forge-r1', packages: ['app@1.0.0'] });
  const token = await createToken(server.home, { uses: 2 });
  A = await joinAgent(server.home, 'forge-a', { token });
  L = await joinAgent(server.home, 'forge-legacy', { token });
  site = await startHostileSite(server.home, 'evil');
  // A runs once: its first reports are signed, and from then on only signed ones count for it.
  agentA = await startAgent(A);
  await waitFor(() => hubState(A.id).agent && (hubState(A.id).agent as { report_counters: string | null }).report_counters !== null, 30_000, { message: () => `A's signed reports were not applied:\n${agentA?.logs()}` });
  await agentA.stop();
  agentA = undefined;
}, 240_000);

afterAll(async () => {
  await agentA?.stop();
  await site?.stop();
  await admin?.close();
  await server?.stop();
  await cleanupFleet();
}, 120_000);

describe("a hostile site forges agents' reports", () => {
  let rollout: string;

  it("forged reports for an agent that signs — unsigned, badly signed — are refused and change nothing", async () => {
    // A is offline: its rollout host waits for it; a forged "succeeded" would end it.
    rollout = await startRollout(server.home, 'forge-r1', `id=${A.id}`, ['--include-offline']);
    await waitFor(async () => (await apiRequest(server.home, 'rollout.status', { id: rollout })).hosts.some((h) => h.state === 'sent'), 30_000, { message: 'the rollout did not send to A' });
    await reportsHandled();
    const before = await settledHubState(A.id);
    const since = Date.now();

    const succeeded = encode({ agent: A.id, ts: Date.now(), operation: rollout, state: 'succeeded', package: 'app', version: '1.0.0', step: 'done', installed: { app: '1.0.0' } });
    await forge(subjects.status(A.id), succeeded);
    await forge(subjects.inventory(A.id), encode({ agent: A.id, ts: Date.now(), inventory: inventory('forged-host', 1), installed: { app: '6.6.6' } }));
    const fakeSig = randomBytes(64).toString('base64');
    const bad = headers();
    bad.set(REPORT_COUNTER_HEADER, String(Date.now() * 1000 + 10_000_000));
    bad.set(REPORT_SIG_HEADER, fakeSig);
    await forge(subjects.status(A.id), succeeded, bad);
    await reportsHandled();

    expect(hubState(A.id)).toEqual(before);
    expect((await apiRequest(server.home, 'rollout.status', { id: rollout })).state).toBe('running');
    expect([await refused('unsigned'), await refused('bad-signature')]).toEqual([2, 1]);
    const lines = logsSince(server.logs, 'report refused', since, (l) => l.agent === A.id);
    expect(lines.map((l) => l.reason)).toEqual(['unsigned', 'unsigned', 'bad-signature']);
    expect(server.logs()).not.toContain(fakeSig);
  }, 120_000);

  it("an agent that never signed is still taken at its word (a site can forge its reports: SECURITY.md)", async () => {
    await forge(subjects.inventory(L.id), encode({ agent: L.id, ts: Date.now(), inventory: inventory(L.hostname, 4242), installed: {} }));
    await reportsHandled();
    const row = hubState(L.id).agent as { inventory: string | null; report_counters: string | null };
    expect(JSON.parse(row.inventory!)).toMatchObject({ memoryMB: 4242 });
    expect(row.report_counters).toBeNull();
  }, 60_000);

  it("the agent's own signed reports still drive the rollout; its older signed report replayed later changes nothing", async () => {
    agentA = await startAgent(A);
    const end = await waitRolloutEnd(server.home, rollout, 90_000);
    expect(end.state).toBe('completed');
    expect(end.hosts.map((h) => [h.agent, h.state])).toEqual([[A.id, 'succeeded']]);
    await reportsHandled();
    await agentA.stop();
    agentA = undefined;
    await reportsHandled();

    // A's first inventory report (nothing installed then), as A signed it, sent again by the site.
    const jsm = await jetstreamManager(admin.nc);
    let old;
    for (let seq = 1; !old; seq++) {
      const m = await jsm.streams.getMessage(REPORT_STREAM, { seq });
      if (m?.subject === subjects.inventory(A.id) && m.header?.get(REPORT_SIG_HEADER)) old = m;
    }
    expect(JSON.parse(new TextDecoder().decode(old.data))).toMatchObject({ installed: {} });
    const before = await settledHubState(A.id);
    expect(before.installed).toEqual([{ package: 'app', version: '1.0.0' }]);
    // refused as a duplicate (its counter is among the last ones kept) or as stale (older than them)
    const replays = async () => (await refused('duplicate')) + (await refused('stale'));
    const replaysBefore = await replays();
    const h = headers();
    for (const k of [REPORT_COUNTER_HEADER, REPORT_SIG_HEADER]) h.set(k, old.header!.get(k));
    await forge(subjects.inventory(A.id), old.data, h);
    await reportsHandled();
    expect(hubState(A.id)).toEqual(before);
    expect(await replays()).toBe(replaysBefore + 1);
  }, 180_000);
});
