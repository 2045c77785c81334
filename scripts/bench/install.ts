// "Install a 100 MiB package" (quick: 20 MiB). A real package is built with buildPackage from
// 100 MiB of moderately compressible data (half random, half log-like text, in 4 files), stored
// in an Object Store bucket with 1 MiB chunks, and installed by an InstallMachine wired like the
// agent's (journal in a temp state dir, fresh install root each run, fetch = readObjectToFile).
// Baseline: `sha256sum FILE && tar -xzf FILE -C DIR` of the same .ferry file from local disk.
// A third, diagnostic path runs the same download and verifying extraction without the journal
// and the install machine (what the machine itself costs). The paths alternate (one
// warm-up round, then three; median). The process's RSS is sampled every 50 ms during the
// Ferry installs.
import { execFile } from 'node:child_process';
import { createWriteStream, mkdirSync, rmSync } from 'node:fs';
import { finished } from 'node:stream/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { readObjectToStream } from '../../shared/nats/object-read.js';
import { extractPackage, readPackageManifest } from '../../shared/package/mod.js';
import { startBenchNats } from './nats.js';
import { installOnce, newInstaller, recordFor, buildMixedPackage, stepBreakdown } from './pkg.js';
import type { BenchOptions, BenchResult } from './result.js';
import { cpuNote, createBucket, debug, loadNote, fileStream, interleave, median, MiB, putObject, round, rssSampler, tempDir, timed } from './util.js';

const execFileP = promisify(execFile);

/**
 * Between timed runs: delete a run's output and write back what it left dirty (sync), so no path
 * pays for the disk writes of the one before it (each writes 100+ MiB; the order is fixed).
 */
async function settle(dir: string): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  await execFileP('sync');
}
const BUCKET = 'bench-dml';
const RUNS = 3;
const WARMUPS = 1;

export async function run(opts: BenchOptions): Promise<BenchResult[]> {
  const mib = opts.quick ? 20 : 100;
  const name = `Install a ${mib} MiB package`;
  const nats = await startBenchNats({ maxFileStoreMiB: mib * 2 + 256 });
  const tmp = tempDir('install');
  let nc: NatsConnection | undefined;
  try {
    nc = await connect({ servers: nats.url, name: 'bench-install' });
    const conn = nc;
    const os = await createBucket(conn, BUCKET);
    const { ms: buildMs, value: pkg } = await timed(() => buildMixedPackage(tmp.path, 'bench-install', '1.0.0', mib * MiB));
    const object = `${pkg.manifest.name}@${pkg.manifest.version}`;
    await putObject(os, object, fileStream(pkg.file));
    const record = recordFor(pkg, object);
    debug(`install: built ${mib} MiB → ${(pkg.size / MiB).toFixed(1)} MiB in ${buildMs.toFixed(0)} ms`);

    let run = 0;
    let peakRss = 0;
    let rssBefore = 0;
    const breakdowns: string[] = [];
    const times = await interleave(RUNS, WARMUPS, {
      ferry: {
        fn: async () => {
          const inst = newInstaller(conn, BUCKET, join(tmp.path, `agent-${run}`));
          rssBefore = Math.max(rssBefore, process.memoryUsage().rss);
          const sampler = rssSampler(50);
          try {
            await installOnce(inst, record);
          } finally {
            peakRss = Math.max(peakRss, sampler.stop());
            inst.close();
          }
          const end = performance.now();
          breakdowns.push(stepBreakdown(inst.steps, end));
        },
        after: () => settle(join(tmp.path, `agent-${run}`)),
      },
      bare: {
        // The agent's work without its machinery: download (no fsync), read the manifest, one
        // verifying extraction (extractPackage checks every rule and file hash and removes the
        // directory on failure). No journal, no state machine, no hooks.
        fn: async () => {
          const dir = join(tmp.path, `bare-${run}`);
          mkdirSync(dir);
          const file = join(dir, 'download.ferry');
          const sink = createWriteStream(file);
          const r = await readObjectToStream(conn, { bucket: BUCKET, name: object, sink, expectedSha256: record.sha256, expectedSize: record.size });
          sink.end();
          await finished(sink);
          if (r.sha256 !== record.sha256) throw new Error('digest mismatch');
          const manifest = await readPackageManifest(file);
          if (manifest.name !== record.name) throw new Error('wrong package');
          await extractPackage(file, join(dir, 'staging'));
        },
        after: () => settle(join(tmp.path, `bare-${run}`)),
      },
      baseline: {
        fn: async () => {
          const dir = join(tmp.path, `tar-${run}`);
          mkdirSync(dir);
          const { stdout } = await execFileP('sha256sum', [pkg.file]);
          if (stdout.split(/\s/)[0] !== pkg.sha256) throw new Error('sha256sum disagrees with buildPackage');
          await execFileP('tar', ['-xzf', pkg.file, '-C', dir]);
        },
        after: async () => {
          await settle(join(tmp.path, `tar-${run}`));
          run++;
        },
      },
    }, nats.process.pid);
    const ferryMs = median(times.ferry.ms);
    const baseMs = median(times.baseline.ms);
    const ratio = ferryMs / baseMs;
    const bareMs = median(times.bare.ms);
    const stepsOfMedian = breakdowns.slice(WARMUPS)[times.ferry.ms.indexOf(ferryMs)] ?? breakdowns.at(-1) ?? '';
    return [
      {
        name,
        metric: 'install time',
        value: Math.round(ferryMs),
        unit: 'ms',
        baseline: { name: 'sha256sum + tar -xzf from local disk', value: Math.round(baseMs) },
        ratio: round(ratio),
        goal: '≤ 1.0× baseline (idle machine)',
        met: ratio <= 1.0,
        note:
          `package ${(pkg.size / MiB).toFixed(1)} MiB compressed (${mib} MiB payload, 4 files, built in ${(buildMs / 1000).toFixed(1)} s); ` +
          `Ferry includes the download over NATS; runs ${times.ferry.ms.map(Math.round).join('/')} ms (${cpuNote(times.ferry)}) vs ${times.baseline.ms.map(Math.round).join('/')} ms (${cpuNote(times.baseline)}, incl. the child processes); ` +
          `median run: ${stepsOfMedian}; ${loadNote()}`,
      },
      {
        name,
        metric: 'the same download and verifying extraction without the journal and install machine (diagnostic)',
        value: Math.round(bareMs),
        unit: 'ms',
        baseline: { name: 'sha256sum + tar -xzf from local disk', value: Math.round(baseMs) },
        ratio: round(bareMs / baseMs),
        note: `readObjectToStream to a file (no fsync) + readPackageManifest + extractPackage, no journal; runs ${times.bare.ms.map(Math.round).join('/')} ms (${cpuNote(times.bare)})`,
      },
      {
        name,
        metric: 'peak RSS during install',
        value: round(peakRss / MiB, 1),
        unit: 'MiB',
        note: `whole benchmark process, sampled every 50 ms; ${round(rssBefore / MiB, 1)} MiB just before the installs (see the footprint benchmark for a clean child process)`,
      },
    ];
  } finally {
    await nc?.close().catch(() => undefined);
    await nats.stop();
    tmp.remove();
  }
}
