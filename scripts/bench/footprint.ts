// "Agent footprint: RSS while installing a 1 GiB package" (quick: 256 MiB). The package holds
// incompressible data in 128 MiB files (so download, verification and extraction all stream
// the full volume); it is generated straight into a .ferry file (see writeIncompressiblePackage),
// stored in an Object Store bucket with 1 MiB chunks and deleted locally. A separate node
// process (footprint-child.js) then runs InstallMachine.install() of it and samples its own RSS
// every 50 ms; the kernel's VmHWM is reported alongside. Temp disk peaks at ~3× the package size
// (JetStream store, the download, the extracted tree) and is removed at the end.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AGENT_MALLOC_ENV, AGENT_NODE_FLAGS } from '../../packaging/bundle.js';
import { startBenchNats } from './nats.js';
import { recordFor, writeIncompressiblePackage } from './pkg.js';
import type { BenchOptions, BenchResult } from './result.js';
import { createBucket, debug, fileStream, loadNote, MiB, putObject, round, tempDir, timed } from './util.js';

const BUCKET = 'bench-dml';
const GOAL_MIB = 120;

interface ChildResult {
  ok: boolean;
  error?: string;
  ms: number;
  idleRss: number;
  peakRss: number;
  vmHwm: number;
  steps: string;
  peakByStep: Record<string, number>;
}

export async function run(opts: BenchOptions): Promise<BenchResult[]> {
  const mib = opts.quick ? 256 : 1024;
  const label = mib >= 1024 ? `${mib / 1024} GiB` : `${mib} MiB`;
  const nats = await startBenchNats({ maxFileStoreMiB: mib + 256 });
  const tmp = tempDir('footprint');
  let nc: NatsConnection | undefined;
  try {
    nc = await connect({ servers: nats.url, name: 'bench-footprint-admin' });
    const os = await createBucket(nc, BUCKET);
    const file = join(tmp.path, 'bench-footprint-1.0.0.ferry');
    const { ms: genMs, value: pkg } = await timed(() => writeIncompressiblePackage(file, 'bench-footprint', '1.0.0', mib * MiB, 128 * MiB));
    const object = `${pkg.manifest.name}@${pkg.manifest.version}`;
    const { ms: putMs } = await timed(() => putObject(os, object, fileStream(file)));
    rmSync(file);
    debug(`footprint: package ${(pkg.size / MiB).toFixed(0)} MiB generated in ${genMs.toFixed(0)} ms, stored in ${putMs.toFixed(0)} ms`);

    const cfg = { url: nats.url, bucket: BUCKET, record: recordFor(pkg, object), dir: join(tmp.path, 'agent') };
    const child = await runChild(cfg, 10 * 60_000);
    if (!child.ok) throw new Error(`footprint install failed: ${child.error}`);
    const peak = Math.max(child.peakRss, Number.isNaN(child.vmHwm) ? 0 : child.vmHwm);
    return [
      {
        name: `Agent footprint: RSS while installing a ${label} package`,
        metric: 'peak RSS',
        value: round(peak / MiB, 1),
        unit: 'MiB',
        goal: `≤ ${GOAL_MIB} MiB`,
        met: peak / MiB <= GOAL_MIB,
        note:
          `separate node process with the agent's V8 flags and malloc settings (${AGENT_NODE_FLAGS.join(' ')}, ${Object.entries(AGENT_MALLOC_ENV).map(([k, v]) => `${k}=${v}`).join(' ')}): ${round(child.idleRss / MiB, 1)} MiB connected and idle, ${round(child.peakRss / MiB, 1)} MiB peak sampled every 50 ms, ` +
          `${round(child.vmHwm / MiB, 1)} MiB VmHWM; peak by step: ${Object.entries(child.peakByStep ?? {}).filter(([, v]) => v > child.idleRss + 4 * MiB).map(([k, v]) => `${k} ${round(v / MiB, 0)} MiB`).join(', ')}; install took ${(child.ms / 1000).toFixed(1)} s (${child.steps}); ` +
          `package ${(pkg.size / MiB).toFixed(0)} MiB, ${pkg.manifest.files.length} files, incompressible; ${loadNote()}`,
      },
    ];
  } finally {
    await nc?.close().catch(() => undefined);
    await nats.stop();
    tmp.remove();
  }
}

function runChild(cfg: object, timeoutMs: number): Promise<ChildResult> {
  const script = fileURLToPath(new URL('./footprint-child.js', import.meta.url));
  return new Promise((resolve, reject) => {
    // The agent's V8 flags (as its launcher passes them), then FERRY_BENCH_CHILD_NODE_ARGS: extra
    // node flags for diagnosis, e.g. --cpu-prof or --expose-gc.
    const nodeArgs = [...AGENT_NODE_FLAGS, ...(process.env.FERRY_BENCH_CHILD_NODE_ARGS ?? '').split(/\s+/).filter(Boolean)];
    const child = spawn(process.execPath, [...nodeArgs, script, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...AGENT_MALLOC_ENV, ...process.env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const kill = () => child.kill('SIGKILL');
    process.once('exit', kill);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      process.off('exit', kill);
      const line = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as ChildResult);
      } catch {
        reject(new Error(`footprint child exited ${code ?? signal} without a result: ${err.trim() || out.trim()}`));
      }
    });
  });
}
