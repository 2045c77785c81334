// What a 3-node NATS cluster (every stream R3) costs the control plane: the same big-bang rollout
// to the same simulated fleet, on the embedded single nats-server (the same-run baseline) and on
// a cluster from `ferry nats config`, each with the bare NATS traffic of the rollout beside it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulatedFleet } from '../../agent/sim/fleet.js';
import { AdminClient } from '../../server/cli/client.js';
import { addPackage, timedRollout, trafficFloor } from './control-plane.js';
import { cpuSeconds, startBenchServer, waitUntil } from './harness.js';
import type { BenchOptions, BenchResult } from './result.js';

interface Run {
  rolloutMs: number;
  floorMs: number;
  cpuS: number;
}

async function measure(n: number, clusterNodes: number | undefined): Promise<Run> {
  const server = await startBenchServer({ FERRY_OFFLINE_AFTER_MS: '600000' }, clusterNodes ? { clusterNodes } : {});
  const work = mkdtempSync(join(tmpdir(), 'ferry-bench-cluster-'));
  let fleet: Awaited<ReturnType<typeof startSimulatedFleet>> | undefined;
  const client = await AdminClient.connect({ dataDir: server.home });
  try {
    const { token } = server.ferry(['token', 'create', '--uses', String(Math.ceil(n * 1.1) + 10), '--ttl', '2h']) as { token: string };
    fleet = await startSimulatedFleet({ token, count: n, heartbeatMs: 15_000, desiredPollMs: 600_000, concurrency: 25 });
    await waitUntil(async () => ((await client.request('agents.list', { target: 'sim=true' })) as { online: boolean }[]).filter((a) => a.online).length >= n, 300_000, `${n} agents online`);
    await addPackage(server, work, '1.0.0');
    server.ferry(['release', 'create', 'bench-1', '--package', 'bench-app@1.0.0']);
    const pids = [server.process.pid!, ...server.natsPids()];
    const cpuBefore = pids.map(cpuSeconds).reduce((a, b) => a + b, 0);
    const floorMs = await trafficFloor(client, n);
    const { ms } = await timedRollout(client, { release: 'bench-1', target: 'sim=true', strategy: 'big-bang' });
    return { rolloutMs: ms, floorMs, cpuS: pids.map(cpuSeconds).reduce((a, b) => a + b, 0) - cpuBefore };
  } finally {
    await client.close().catch(() => undefined);
    await fleet?.stop();
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

export async function run(opts: BenchOptions): Promise<BenchResult[]> {
  const n = Number(process.env.FERRY_BENCH_CLUSTER_AGENTS ?? (opts.quick ? 200 : 1000));
  const single = await measure(n, undefined);
  const cluster = await measure(n, 3);
  const row = (r: Run, what: string, base?: Run): BenchResult => ({
    name: `Big-bang rollout to ${n} agents, ${what}`,
    metric: 'wall time',
    value: r.rolloutMs / 1000,
    unit: 's',
    ...(base ? { baseline: { name: 'the same rollout on the embedded single nats-server (R1)', value: base.rolloutMs / 1000 }, ratio: r.rolloutMs / base.rolloutMs } : {}),
    note: `${(n / (r.rolloutMs / 1000)).toFixed(0)} hosts/s; bare NATS traffic of the rollout ${(r.floorMs / 1000).toFixed(1)} s (${(r.rolloutMs / r.floorMs).toFixed(1)}×); server + nats CPU ${r.cpuS.toFixed(1)} s`,
  });
  return [row(single, 'embedded nats-server (R1)'), row(cluster, '3-node NATS cluster on this host (R3)', single)];
}
