// "Fan-out: 100 agents fetch the same 20 MiB package at once" (quick: 20 agents, 10 MiB).
// Every agent has its own NATS connection; all start together. Ferry: readObjectToFile on each
// (direct gets, native SHA-256, to its own file, fsynced; files deleted after each round).
// Baseline: one raw JetStream ordered consumer per connection on the same chunk subject,
// counting bytes only. Aggregate throughput = agents × size / wall time until the last one
// finishes. The two alternate; full mode runs each twice (median of 2 = mean), quick three times.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { readObjectToFile } from '../../shared/nats/object-read.js';
import { startBenchNats } from './nats.js';
import type { BenchOptions, BenchResult } from './result.js';
import { cpuNote, createBucket, debug, loadNote, interleave, median, mibPerSec, MiB, putObject, randomStream, rawOrderedRead, round, rssSampler, tempDir } from './util.js';

const BUCKET = 'bench-fanout';
const OBJECT = 'payload@1.0.0';

export async function run(opts: BenchOptions): Promise<BenchResult[]> {
  const agents = opts.quick ? 20 : 100;
  const mib = opts.quick ? 10 : 20;
  const size = mib * MiB;
  const name = `Fan-out: ${agents} agents fetch the same ${mib} MiB package at once`;
  const nats = await startBenchNats({ maxFileStoreMiB: mib * 2 + 256 });
  const tmp = tempDir('fanout');
  const conns: NatsConnection[] = [];
  try {
    const admin = await connect({ servers: nats.url, name: 'bench-fanout-admin' });
    conns.push(admin);
    const os = await createBucket(admin, BUCKET);
    const info = await putObject(os, OBJECT, randomStream(size));
    for (let i = 0; i < agents; i++) conns.push(await connect({ servers: nats.url, name: `bench-agent-${i}` }));
    const fleet = conns.slice(1);
    debug(`fanout: ${agents} connections, ${mib} MiB stored`);

    let peakRss = 0;
    const files = fleet.map((_, i) => join(tmp.path, `agent-${i}.ferry`));
    const runs = opts.quick ? 3 : 2;
    const times = await interleave(runs, 0, {
      ferry: {
        fn: async () => {
          const sampler = rssSampler(50);
          try {
            // All agents share this process's one event loop (real agents each have their own), so a
            // chunk may wait longer than an agent's 10 s timeout on a busy machine: allow a minute.
            await Promise.all(fleet.map((nc, i) => readObjectToFile(nc, { bucket: BUCKET, name: OBJECT, dest: files[i]!, expectedSize: size, timeoutMs: 60_000 })));
          } finally {
            peakRss = Math.max(peakRss, sampler.stop());
          }
        },
        after: () => {
          for (const f of files) rmSync(f, { force: true });
        },
      },
      raw: { fn: () => Promise.all(fleet.map((nc) => rawOrderedRead(nc, BUCKET, info))) },
    }, nats.process.pid);
    const total = agents * size;
    const ferry = mibPerSec(total, median(times.ferry.ms));
    const raw = mibPerSec(total, median(times.raw.ms));
    const list = (ms: number[]) => ms.map((m) => round(mibPerSec(total, m), 0)).join('/');
    return [
      {
        name,
        metric: 'aggregate throughput',
        value: round(ferry, 1),
        unit: 'MiB/s',
        baseline: { name: `${agents} raw ordered consumers, no hash, no disk`, value: round(raw, 1) },
        ratio: round(ferry / raw),
        note:
          `${agents} connections in one process against one nats-server on this machine; ${(total / MiB).toFixed(0)} MiB per round; ` +
          `Ferry rounds ${list(times.ferry.ms)} MiB/s (${times.ferry.ms.map((m) => (m / 1000).toFixed(1)).join('/')} s, ${cpuNote(times.ferry)}), ` +
          `raw ${list(times.raw.ms)} MiB/s (${cpuNote(times.raw)}); peak RSS during Ferry rounds ${round(peakRss / MiB, 0)} MiB; ${loadNote()}`,
      },
    ];
  } finally {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    await nats.stop();
    tmp.remove();
  }
}
