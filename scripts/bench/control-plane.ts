// Control-plane benchmarks with a simulated fleet: big-bang and phased rollouts, a fleet
// rollback, and CMDB inventory ingest — each against a same-run baseline of the bare NATS
// traffic the operation needs (the floor no implementation can beat).
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { headers } from '@nats-io/transport-node';
import { existsSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulatedFleet } from '../../agent/sim/fleet.js';
import { syntheticInventory } from '../../shared/sim-inventory.js';
import { startFleetProcesses } from '../../agent/sim/fleet-procs.js';
import { agentPaths, loadIdentity } from '../../agent/config.js';
import { nativeKeyPair } from '../../shared/nats/nkey-auth.js';
import { REPORT_COUNTER_HEADER, REPORT_SIG_HEADER, reportTranscript } from '../../shared/protocol/report-signature.js';
import { buildPackage } from '../../shared/package/mod.js';
import { REPORT_CONSUMER, REPORT_STREAM, subjects } from '../../shared/protocol/subjects.js';
import { encodeMessage } from '../../shared/protocol/codec.js';
import { AdminClient } from '../../server/cli/client.js';
import type { RolloutStatusDoc } from '../../server/rollouts/service.js';
import { cpuSeconds, memoryMiB, startBenchServer, waitUntil, type BenchServer } from './harness.js';
import type { BenchOptions, BenchResult } from './result.js';
import { printIdleCpu, printTimeline, sampleCpu, timelineWanted } from './timeline.js';

const AWS_IOT_HOSTS_PER_S = 1000 / 60;

export async function run(opts: BenchOptions): Promise<BenchResult[]> {
  // Full mode simulates the 10,000 agents the scale-out issue asks for (~5–9 minutes on 2 cores,
  // most of it joining); FERRY_BENCH_AGENTS sets another size, --quick takes 300.
  const n = Number(process.env.FERRY_BENCH_AGENTS ?? (opts.quick ? 300 : 10_000));
  // Metrics on: the ingest figure checks that no signed report was refused.
  const server = await startBenchServer({ FERRY_OFFLINE_AFTER_MS: '600000', FERRY_METRICS_LISTEN: '127.0.0.1:0' });
  const work = mkdtempSync(join(tmpdir(), 'ferry-bench-cp-'));
  let fleet: { dir: string; ids: string[]; pids?: number[]; stop(): Promise<void> } | undefined;
  const client = await AdminClient.connect({ dataDir: server.home });
  const results: BenchResult[] = [];
  try {
    // A few spare uses: the simulator joins again when a busy process loses a join reply.
    const { token } = server.ferry(['token', 'create', '--uses', String(Math.ceil(n * 1.1) + 10), '--ttl', '2h']) as { token: string };
    const joinStart = Date.now();
    // Past ~2,500 agents one process runs out of descriptors (EMFILE at ~5,000): spread them.
    const procs = Number(process.env.FERRY_BENCH_SIM_PROCS ?? Math.ceil(n / 2500));
    const simOptions = { token, count: n, heartbeatMs: 15_000, desiredPollMs: 600_000, concurrency: 25 };
    fleet = procs > 1 ? await startFleetProcesses({ ...simOptions, processes: procs }) : await startSimulatedFleet(simOptions);
    await waitUntil(async () => ((await client.request('agents.list', { target: 'sim=true' })) as { online: boolean }[]).filter((a) => a.online).length >= n, 300_000, `${n} agents online`);
    const joinS = (Date.now() - joinStart) / 1000;
    results.push({ name: `Join ${n} simulated agents`, metric: 'joins/s', value: n / joinS, unit: 'joins/s', note: `${joinS.toFixed(1)} s in all (a user JWT signed per join, no NATS reload), ${procs} simulator process(es)` });

    for (const v of ['1.0.0', '1.1.0']) await addPackage(server, work, v);
    server.ferry(['release', 'create', 'bench-1', '--package', 'bench-app@1.0.0']);
    server.ferry(['release', 'create', 'bench-2', '--package', 'bench-app@1.1.0']);

    const pids = [server.process.pid!, server.natsPid()!];
    // The simulated agents' own CPU (their processes, or this one): on one machine they compete
    // with the server for the same cores, which bounds the wall time as much as the server does.
    const simPids = fleet.pids ?? [process.pid];
    if (timelineWanted()) await printIdleCpu({ server: [server.process.pid!], nats: [server.natsPid()!], sim: simPids }, 10_000);
    const floor = await trafficFloor(client, n);
    // Counted from here: the floor's own traffic is not the rollouts' work.
    const cpuBefore = pids.map(cpuSeconds);
    const simCpuBefore = simPids.map(cpuSeconds);
    const rolloutsStart = Date.now();
    // FERRY_BENCH_TIMELINE=1: where each rollout's wall time went (scripts/bench/timeline.ts).
    const traced = async <T>(label: string, fn: () => Promise<T>, id: (r: T) => string, operation?: (r: T) => string): Promise<T> => {
      const cpu = timelineWanted() ? sampleCpu({ server: [server.process.pid!], nats: [server.natsPid()!], sim: simPids }) : undefined;
      const since = Date.now();
      const r = await fn();
      if (cpu) printTimeline(label, server.home, fleet!.dir, id(r), cpu.stop(), operation?.(r), operation ? since : undefined);
      return r;
    };
    const bigBang = await traced('big-bang', () => timedRollout(client, { release: 'bench-1', target: 'sim=true', strategy: 'big-bang' }), (r) => r.id);
    results.push(rolloutResult(`Big-bang rollout of a small package to ${n} agents`, n, bigBang.ms, floor, '≤ 20 s'));
    const phased = await traced('phased', () => timedRollout(client, { release: 'bench-2', target: 'sim=true', strategy: 'phased', waves: ['1', '10%', '50%', '100%'] }), (r) => r.id);
    results.push(rolloutResult(`Phased rollout (4 waves, no soak) to ${n} agents`, n, phased.ms, floor, '≤ 30 s'));
    const rollbackStart = Date.now();
    const rolledBack = await traced(
      'fleet rollback',
      async () => {
        await client.request('rollout.action', { id: phased.id, action: 'rollback' });
        return waitEnd(client, phased.id);
      },
      () => phased.id,
      () => `${phased.id}:rollback`,
    );
    const rollbackMs = rolledBack.endedAt ? Date.parse(rolledBack.endedAt) - rollbackStart : Date.now() - rollbackStart;
    results.push({ ...rolloutResult(`Fleet rollback of ${n} agents`, n, rollbackMs, floor), note: `ended ${rolledBack.state}` });
    const cpuEach = pids.map((pid, i) => cpuSeconds(pid) - cpuBefore[i]!);
    const cpu = cpuEach[0]! + cpuEach[1]!;
    const simCpu = simPids.map((pid, i) => cpuSeconds(pid) - simCpuBefore[i]!).reduce((a, b) => a + b, 0);
    const wallS = (Date.now() - rolloutsStart) / 1000;
    const hostOps = 3 * n;
    const mem = memoryMiB(server.process.pid!);
    results.push({
      name: 'Server during the three rollouts',
      metric: 'CPU time',
      value: cpu,
      unit: 's',
      note:
        `ferry server ${cpuEach[0]!.toFixed(1)} s + nats-server ${cpuEach[1]!.toFixed(1)} s (${((cpu * 1000) / hostOps).toFixed(2)} ms a host a rollout: ` +
        `${(hostOps / cpu).toFixed(0)} hosts/s per core for the server side alone); the simulated agents ${simCpu.toFixed(1)} s; ` +
        `all three used ${((cpu + simCpu) / wallS).toFixed(2)} of the ${cpus().length} cores over ${wallS.toFixed(0)} s; ferry server peak RSS ${mem.peak.toFixed(0)} MiB`,
    });
    results.push({ name: 'Server peak memory', metric: 'peak RSS', value: mem.peak, unit: 'MiB', note: `nats-server peak ${memoryMiB(server.natsPid()!).peak.toFixed(0)} MiB` });

    const ingested = await ingest(client, agentSeeds(fleet.dir), opts.quick ? 5_000 : 20_000);
    const refused = await refusedReports(server.home);
    if (refused) throw new Error(`the server refused ${refused} of the signed reports: the ingest figure would measure refusals`);
    results.push(ingested);
  } finally {
    await client.close().catch(() => undefined);
    await fleet?.stop();
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  }
  return results;
}

export async function addPackage(server: BenchServer, work: string, version: string): Promise<void> {
  const src = join(work, `src-${version}`);
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'ferry.json'), JSON.stringify({ name: 'bench-app', version }));
  writeFileSync(join(src, 'app.txt'), `bench-app ${version}\n`.repeat(100));
  const file = join(work, `bench-app-${version}.ferry`);
  await buildPackage(src, file);
  server.ferry(['dml', 'add', file]);
}

export async function timedRollout(client: AdminClient, req: { release: string; target: string; strategy: 'big-bang' | 'phased'; waves?: string[] }): Promise<{ id: string; ms: number }> {
  const started = (await client.request('rollout.start', { ...req, hostTimeoutMs: 600_000 })) as RolloutStatusDoc;
  const end = await waitEnd(client, started.id);
  if (end.state !== 'completed') throw new Error(`rollout ${end.id} ended ${end.state}: ${end.reason ?? ''}`);
  return { id: started.id, ms: Date.parse(end.endedAt!) - Date.parse(end.startedAt ?? end.createdAt) };
}

async function waitEnd(client: AdminClient, id: string): Promise<RolloutStatusDoc> {
  for (;;) {
    // The figure is the server's own startedAt → endedAt. It is polled with the rollout list (a
    // count per rollout), not the status (every host: ~40 ms of the server's CPU at 2,000 hosts,
    // a sixth of what it spent on the rollout): the full status is read once, at the end.
    const list = (await client.request('rollout.list', {})) as { id: string; state: string }[];
    const state = list.find((r) => r.id === id)?.state;
    if (state && ['completed', 'aborted', 'rolled-back', 'halted'].includes(state)) {
      const s = (await client.request('rollout.status', { id })) as RolloutStatusDoc;
      if (s.state !== 'halted' || s.endedAt) return s;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

function rolloutResult(name: string, n: number, ms: number, floorMs: number, goal?: string): BenchResult {
  const s = ms / 1000;
  return {
    name,
    metric: 'wall time',
    value: s,
    unit: 's',
    baseline: { name: 'bare NATS traffic of a rollout (KV put + command + acked report per host)', value: floorMs / 1000 },
    ratio: ms / floorMs,
    ...(goal ? { goal, met: s <= Number(goal.replace(/[^\d.]/g, '')) } : {}),
    note: `${(n / s).toFixed(0)} hosts/s = ${(n / s / AWS_IOT_HOSTS_PER_S).toFixed(0)}× AWS IoT Jobs' 1,000 devices/min`,
  };
}

/** The bare traffic a rollout needs: one KV put and one command per host, one acked report back. */
export async function trafficFloor(client: AdminClient, n: number): Promise<number> {
  const kv = await new Kvm(client.nc).create('bench-floor', { history: 1 });
  const js = jetstream(client.nc);
  const jsm = await jetstreamManager(client.nc);
  await jsm.streams.add({ name: 'BENCH_FLOOR', subjects: ['bench.floor.>'] });
  const payload = new Uint8Array(2048);
  const started = Date.now();
  const queue = Array.from({ length: n }, (_, i) => i);
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
        await kv.put(`a${i}`, payload);
        client.nc.publish(`bench.cmd.a${i}`, payload);
        await js.publish(`bench.floor.a${i}`, payload.subarray(0, 512));
      }
    }),
  );
  const ms = Date.now() - started;
  await jsm.streams.delete('BENCH_FLOOR');
  await kv.destroy();
  return ms;
}

/** Reports the server refused so far as not the agent's (ferry_reports_refused_total; duplicates, which redelivery makes, aside). */
async function refusedReports(home: string): Promise<number> {
  const { metricsUrl } = JSON.parse(readFileSync(join(home, 'server.json'), 'utf8')) as { metricsUrl: string };
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith('ferry_reports_refused_total{') && !l.includes('"duplicate"')).reduce((n, l) => n + Number(l.split(' ')[1]), 0);
}

/** The simulated agents' ids and nkey seeds, from their state directories under `dir` (any depth). */
function agentSeeds(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const paths = agentPaths(join(d, e.name));
      if (existsSync(paths.identity) && existsSync(paths.seed)) out.set(loadIdentity(paths).agentId, readFileSync(paths.seed, 'utf8').trim());
      else walk(join(d, e.name));
    }
  };
  walk(dir);
  return out;
}

/** Inventory reports per second into the CMDB, vs. publishing and acking them raw. Signed, as the agents sign theirs. */
async function ingest(client: AdminClient, seeds: Map<string, string>, count: number): Promise<BenchResult> {
  const js = jetstream(client.nc);
  const jsm = await jetstreamManager(client.nc);
  const agents = [...seeds.keys()];
  // Counters above those the agents used (they count from the clock in µs), one a report.
  const firstCounter = Date.now() * 1000 + 1e9;
  const reports = Array.from({ length: count }, (_, i) => {
    const agent = agents[i % agents.length]!;
    const inventory = { ...syntheticInventory(agent, i), memoryMB: 4096 + (i % 7) };
    const data = encodeMessage({ agent, ts: Date.now(), inventory, installed: {} });
    const h = headers();
    h.set(REPORT_COUNTER_HEADER, String(firstCounter + i));
    h.set(REPORT_SIG_HEADER, Buffer.from(nativeKeyPair(seeds.get(agent)!).sign(reportTranscript(agent, 'inventory', firstCounter + i, data))).toString('base64'));
    return { subject: subjects.inventory(agent), data, headers: h };
  });
  const publishAll = async (subjectOf: (i: number) => string) => {
    const queue = reports.map((_, i) => i);
    await Promise.all(
      Array.from({ length: 128 }, async () => {
        for (let i = queue.shift(); i !== undefined; i = queue.shift()) await js.publish(subjectOf(i), reports[i]!.data, { headers: reports[i]!.headers });
      }),
    );
  };
  const start = Date.now();
  await publishAll((i) => reports[i]!.subject);
  await waitUntil(async () => {
    const info = await jsm.consumers.info(REPORT_STREAM, REPORT_CONSUMER);
    return info.num_pending === 0 && info.num_ack_pending === 0;
  }, 300_000, 'the server to ingest every report');
  const ferryMs = Date.now() - start;

  // Baseline: the same messages through a stream and a durable consumer that only acks.
  await jsm.streams.add({ name: 'BENCH_INGEST', subjects: ['bench.ingest.>'] });
  await jsm.consumers.add('BENCH_INGEST', { durable_name: 'raw', ack_policy: 'explicit' as never, max_ack_pending: 10_000 });
  const baseStart = Date.now();
  const consumer = await js.consumers.get('BENCH_INGEST', 'raw');
  const messages = await consumer.consume({ max_messages: 1000 });
  let acked = 0;
  const done = (async () => {
    for await (const m of messages) {
      m.ack();
      if (++acked === count) break;
    }
  })();
  await publishAll((i) => `bench.ingest.${i % 1000}`);
  await done;
  const baseMs = Date.now() - baseStart;
  await jsm.streams.delete('BENCH_INGEST');
  const rate = count / (ferryMs / 1000);
  return {
    name: `Inventory ingest into the CMDB (${count} signed reports)`,
    metric: 'throughput',
    value: rate,
    unit: 'reports/s',
    baseline: { name: 'publish + durable consume + ack, no processing', value: count / (baseMs / 1000) },
    ratio: rate / (count / (baseMs / 1000)),
    goal: '≥ 5,000/s',
    met: rate >= 5000,
  };
}
