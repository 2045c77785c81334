// Ferry against a real 3-node NATS cluster written by `ferry nats config`: every stream, KV bucket
// and object store is R3; one node is SIGKILLed in the middle of a phased rollout, and the rollout
// completes with no report and no event lost (counted in the streams and in SQLite), the agents
// reconnect to the surviving nodes, and the killed node rejoins and catches up.
// Bad input (a 2-node cluster, a wrong --nats URL) fails in one line with a stable code.
// Requires the compiled dist/ (`npx tsc -p .`) and nats-server on PATH.
import { jetstreamManager } from '@nats-io/jetstream';
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectNats, type NatsConnection } from '../../shared/nats/connect.js';
import { readCredsFile } from '../../shared/nats/creds.js';
import { agentsOn, moveStreamLeader, nodeConnections, nodeStreams, startCluster, waitMetaLeader, type ClusterNode, type TestCluster } from '../helpers/cluster.js';
import { pendingReports, startRollout, waitRolloutEnd } from '../helpers/faults.js';
import { cleanupFleet, createToken, isOnlineSince, joinAgent, pollAgents, runFerry, startAgents, startServer, tempDir, waitFor, type AgentHandle, type JoinedAgent, type ServerHandle } from '../helpers/fleet.js';
import { buildAll, healthPackage, publishAll, waitStatus } from '../helpers/rollouts.js';

const AGENTS = 4;
const FERRY_STREAMS = ['FERRY_REPORTS', 'FERRY_EVENTS', 'OBJ_ferry-dml', 'OBJ_ferry-upload-admin', 'KV_ferry-desired', 'KV_ferry-leader'];
/** the stores a server made on one node scales up itself when it moves to a cluster (KV and object store clients only create) */
const SCALED_STORES = ['OBJ_ferry-dml', 'OBJ_ferry-upload-admin', 'KV_ferry-desired', 'KV_ferry-leader'];

afterAll(cleanupFleet, 60_000);

describe('a 3-node NATS cluster', () => {
  let home: string;
  let cluster: TestCluster;
  let server: ServerHandle;
  let agents: AgentHandle[] = [];
  let joined: JoinedAgent[] = [];
  let admin: NatsConnection | undefined;

  beforeAll(async () => {
    home = tempDir('ferry-home-');
    await runFerry(home, ['init']);
    const [files] = await Promise.all([
      buildAll([healthPackage('cl1', '1.0.0', { postinstallSleepS: 2 })]),
      (async () => {
        cluster = await startCluster(home, 3);
        server = await startServer(home, { args: ['--nats', cluster.urls.join(',')] });
        const token = await createToken(home, { uses: AGENTS, tags: { suite: 'cluster' } });
        joined = await Promise.all(Array.from({ length: AGENTS }, (_, i) => joinAgent(home, `cl-${i + 1}`, { token })));
        agents = await startAgents(joined, { env: { FERRY_HEALTH_WATCH_MS: '1000' } });
      })(),
    ]);
    await publishAll(home, files, [{ name: 'cl1-r', packages: ['cl1@1.0.0'] }]);
    admin = await connectNats({ url: cluster.urls.join(','), creds: readCredsFile(join(home, 'keys', 'admin.creds')), name: 'cluster test', reconnectForever: true });
  }, 150_000);

  afterAll(async () => {
    await admin?.close().catch(() => undefined);
    await Promise.all(agents.map((a) => a.stop()));
    await server?.stop();
    await cluster?.stop();
  }, 120_000);

  afterEach((ctx) => {
    if (ctx.task.result?.state !== 'fail' || !server) return;
    const nodes = cluster.nodes.map((n) => `--- ${n.name} (running: ${n.running()}) ---\n${n.logs().slice(-3000)}`);
    process.stderr.write([`--- ferry server output (tail) ---`, server.logs().slice(-8000), ...nodes, ''].join('\n'));
  });

  it('every stream, KV bucket and object store has 3 replicas, one copy per node', async () => {
    for (const node of cluster.nodes) {
      const streams = await nodeStreams(node);
      for (const name of FERRY_STREAMS) expect(streams.get(name)?.replicas, `${name} on ${node.name}`).toBe(3);
    }
  });

  it('a node killed mid-rollout: the rollout completes, nothing is lost, agents reconnect, the node rejoins and catches up', async () => {
    // The victim leads the desired-state bucket (the next wave's writes then meet a leader
    // election) and has agents on it (they must reconnect): agents pick a node at random, so the
    // bucket's leader is moved onto a node with agents first (before the rollout: the elections
    // are over when it starts).
    const withAgents = async (n: ClusterNode) => (await agentsOn(n)).length > 0;
    await moveStreamLeader(admin!, cluster.nodes, 'KV_ferry-desired', withAgents);
    const id = await startRollout(home, 'cl1-r', 'all', ['--strategy', 'phased', '--waves', '1,50%,100%']);
    // The canary wave is done and the next ones are being sent: kill that node.
    const before = await waitStatus(home, id, (s) => s.waves[0]?.state === 'completed', 60_000, 'the canary wave to complete');
    expect(before.state, 'the rollout is still running when the node is killed').toBe('running');
    // Still so, unless an election moved the leader meanwhile (then it is moved again).
    const victim = await moveStreamLeader(admin!, cluster.nodes, 'KV_ferry-desired', withAgents);
    const agentsOnVictim = await agentsOn(victim);
    expect(agentsOnVictim.length, `agents on ${victim.name}, the node to kill`).toBeGreaterThan(0);
    const killedAt = Date.now();
    await victim.kill();
    const survivors = cluster.nodes.filter((n) => n !== victim);

    const end = await waitRolloutEnd(home, id, 120_000);
    const endedMs = Date.now() - killedAt;
    expect(end.state, JSON.stringify(end)).toBe('completed');
    expect(end.hosts.map((h) => h.state)).toEqual(end.hosts.map(() => 'succeeded'));
    expect(end.hosts).toHaveLength(AGENTS);

    // Agents reconnect to the surviving nodes: all heartbeating again, all connected there.
    await waitFor(async () => {
      const list = await pollAgents(home);
      return joined.every((a) => isOnlineSince(list, a.id, killedAt));
    }, 60_000, { intervalMs: 500, message: 'agents did not come back online after the node was killed' });
    const onlineMs = Date.now() - killedAt;
    const names = (await Promise.all(survivors.map((n) => nodeConnections(n)))).flatMap((c) => c.names);
    for (const a of joined) expect(names, `agent ${a.id} on a surviving node`).toContain(`ferry-agent ${a.id}`);
    // Those that were on the killed node among them: they reconnected (to a survivor).
    for (const name of agentsOnVictim) expect(names, `${name}, on ${victim.name} when it was killed, now on a surviving node`).toContain(name);

    // No report lost: every agent's outbox is empty (each report acknowledged by the R3 stream),
    // and the stream holds exactly one final report per agent for this rollout.
    await waitFor(() => joined.every((a) => pendingReports(a.stateDir) === 0), 30_000, { intervalMs: 300, message: 'agents still have unsent reports' });
    const jsm = await jetstreamManager(admin!);
    const reports = await jsm.streams.info('FERRY_REPORTS');
    const finals = new Map<string, number>();
    for (let seq = reports.state.first_seq; seq <= reports.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage('FERRY_REPORTS', { seq }).catch(() => undefined);
      if (!m || !m.subject.includes('.status')) continue;
      const r = JSON.parse(new TextDecoder().decode(m.data)) as { agent: string; package?: string; state: string; operation: string };
      if (r.package === 'cl1' && r.state === 'succeeded') finals.set(r.agent, (finals.get(r.agent) ?? 0) + 1);
    }
    for (const a of joined) expect(finals.get(a.id), `final report of ${a.id}`).toBe(1);

    // No event lost: every event SQLite recorded (its outbox sequence counts them all; published
    // rows are pruned from the table once delivered) is published, and FERRY_EVENTS holds each
    // exactly once.
    const db = new Database(join(home, 'ferry.db'), { readonly: true, fileMustExist: true });
    let rows: { id: string; published_at: number | null }[] = [];
    await waitFor(() => {
      rows = db.prepare('SELECT id, published_at FROM event_outbox ORDER BY seq').all() as typeof rows;
      return rows.every((r) => r.published_at !== null);
    }, 30_000, { intervalMs: 300, message: 'events not yet published' });
    const recorded = (db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'event_outbox'").get() as { seq: number }).seq;
    db.close();
    const events = await jsm.streams.info('FERRY_EVENTS');
    const ids: string[] = [];
    for (let seq = events.state.first_seq; seq <= events.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage('FERRY_EVENTS', { seq });
      ids.push(m.header.get('Nats-Msg-Id'));
    }
    expect(recorded).toBeGreaterThan(0);
    expect(events.state.messages).toBe(recorded);
    expect(new Set(ids).size).toBe(recorded);
    for (const r of rows) expect(ids).toContain(r.id);

    // The killed node starts again on its store and catches up with every stream.
    const restartedAt = Date.now();
    await victim.start();
    await waitMetaLeader(cluster.nodes);
    // The survivor is read first, then the victim: the victim caught up when it has reached where
    // the survivor stood (a stream still written to, like the leader lease renewed every few
    // seconds, may have moved on since; two reads at once would race those writes), with the
    // same number of messages when it stands at the same place.
    let behind: string[] = [];
    await waitFor(async () => {
      const other = await nodeStreams(survivors[0]!);
      const mine = await nodeStreams(victim);
      behind = FERRY_STREAMS.filter((s) => {
        const [m, o] = [mine.get(s), other.get(s)];
        return !m || !o || m.lastSeq < o.lastSeq || (m.lastSeq === o.lastSeq && m.messages !== o.messages);
      }).map((s) => `${s} (${JSON.stringify(mine.get(s))} vs ${JSON.stringify(other.get(s))})`);
      return behind.length === 0;
    }, 60_000, { intervalMs: 500, message: () => `${victim.name} did not catch up: ${behind.join(', ')}` });
    // Figures for docs/scaling.md (printed, never asserted).
    process.stdout.write(`cluster failover: rollout ended ${endedMs} ms after the kill; agents seen online again by ${onlineMs} ms (${agentsOnVictim.length} had been on the killed node); ${recorded} events, ${reports.state.messages} reports; the restarted node caught up in ${Date.now() - restartedAt} ms\n`);
  }, 240_000);

  it('a revoked agent is cut off on every node of the cluster (the account update reaches every resolver)', async () => {
    const target = joined[AGENTS - 1]!;
    const onAnyNode = async (name: string) => (await Promise.all(cluster.nodes.filter((n) => n.running()).map((n) => nodeConnections(n)))).some((c) => c.names.includes(name));
    await waitFor(() => onAnyNode(`ferry-agent ${target.id}`), 30_000, { intervalMs: 300, message: 'the agent is not connected before its revocation' });
    await runFerry(home, ['agents', 'revoke', target.id, '--json']);
    // It keeps trying to reconnect (a daemon does), to any node: none may let it in.
    const since = Date.now();
    await waitFor(async () => !(await onAnyNode(`ferry-agent ${target.id}`)), 30_000, { intervalMs: 300, message: 'the revoked agent is still connected' });
    // Its reconnect attempts (a daemon keeps trying) are refused: wait for two refusals, then check again.
    const refusals = () => cluster.nodes.reduce((n, node) => n + node.logs().split(`ferry-agent ${target.id}" - authentication error`).length - 1, 0);
    const refusedBefore = refusals();
    await waitFor(() => refusals() >= refusedBefore + 2, 30_000, { intervalMs: 200, message: 'no refused reconnect attempt of the revoked agent' });
    expect(await onAnyNode(`ferry-agent ${target.id}`)).toBe(false);
    const list = await pollAgents(home);
    for (const a of joined.slice(0, -1)) expect(isOnlineSince(list, a.id, since), `${a.id} still online`).toBe(true);
  }, 180_000);

  it('stores made with one replica (a server that ran on one node first) get the cluster\'s three when the server starts again', async () => {
    const jsm = await jetstreamManager(admin!);
    await server.stop();
    for (const name of SCALED_STORES) {
      const info = await jsm.streams.info(name);
      await jsm.streams.update(name, { ...info.config, num_replicas: 1 });
    }
    for (const name of SCALED_STORES) expect((await jsm.streams.info(name)).config.num_replicas, name).toBe(1);
    server = await startServer(home, { args: ['--nats', cluster.urls.join(',')] });
    for (const name of SCALED_STORES) expect((await jsm.streams.info(name)).config.num_replicas, name).toBe(3);
    // The lease is held again, in the scaled bucket.
    const lease = (await jsm.streams.info('KV_ferry-leader')).state.messages;
    expect(lease).toBe(1);
  }, 180_000);

  it('bad input: a 2-node cluster and a wrong --nats URL each get one line with a stable code, and no file', async () => {
    const out = join(tempDir('ferry-cluster-bad-'), 'conf');
    const other = tempDir('ferry-home-bad-');
    const quiet = { allowFail: true, env: { FERRY_LOG_LEVEL: 'silent' } };
    // None of these changes anything: they run at once (those of the other data directory once it is made).
    const [[two, wrong, untrusted, syntax], tooMany, noCreds] = await Promise.all([
      (async () => {
        await runFerry(other, ['init']);
        return Promise.all([
          runFerry(home, ['nats', 'config', '--out', out, '--nodes', '2'], { allowFail: true }),
          runFerry(other, ['server', '--nats', 'nats://127.0.0.1:1'], quiet),
          // a cluster that does not trust this data directory's operator
          runFerry(other, ['server', '--nats', cluster.urls.join(',')], quiet),
          runFerry(other, ['server', '--nats', 'http://x'], { allowFail: true }),
        ]);
      })(),
      // more replicas than servers, and a --creds file that is not there: refused before any stream is touched
      runFerry(home, ['server', '--nats', cluster.urls.join(','), '--replicas', '5'], quiet),
      runFerry(home, ['server', '--nats', cluster.urls.join(','), '--creds', join(other, 'missing.creds')], quiet),
    ]);
    expect(two.code).not.toBe(0);
    expect(two.stderr.trim().split('\n')).toHaveLength(1);
    expect(two.stderr).toMatch(/^FERRY_INVALID_INPUT: a 2-node cluster/);
    expect(existsSync(out)).toBe(false);

    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^FERRY_SERVER_UNREACHABLE: cannot reach NATS at nats:\/\/127\.0\.0\.1:1/)]);
    // A cluster that does not trust this data directory's operator refuses it: also one line.
    expect(untrusted.code).not.toBe(0);
    expect(untrusted.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^FERRY_SERVER_UNREACHABLE: NATS at .* refused Ferry's credentials/)]);
    // More replicas than servers, and a --creds file that is not there: one line each.
    expect(tooMany.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^FERRY_INVALID_INPUT: --replicas 5 is more than the 3 JetStream server\(s\)/)]);
    expect(noCreds.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^FERRY_NOT_INITIALIZED: cannot read credentials/)]);
    expect(syntax.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^FERRY_INVALID_INPUT: --nats "http:\/\/x" is not a NATS URL/)]);
  }, 180_000);
});

