// The agent on its own: idle footprint of a real `ferry-agent run` process connected to a real
// server, and a local rollback of one host (no hooks) against the bare symlink swap it performs.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Objm } from '@nats-io/obj';
import { buildPackage } from '../../shared/package/mod.js';
import { connectNats } from '../../shared/nats/connect.js';
import { readCredsFile } from '../../shared/nats/creds.js';
import { cpuSeconds, median, memoryMiB, ROOT, startBenchServer, waitUntil } from './harness.js';
import { newInstaller, recordFor } from './pkg.js';
import type { BenchOptions, BenchResult } from './result.js';

export async function run(opts: BenchOptions): Promise<BenchResult[]> {
  return [...(await idleFootprint(opts)), ...(await localRollback())];
}

async function idleFootprint(opts: BenchOptions): Promise<BenchResult[]> {
  const server = await startBenchServer();
  const state = mkdtempSync(join(tmpdir(), 'ferry-bench-agent-'));
  const env = { ...process.env, FERRY_HOME: server.home, FERRY_LOG_LEVEL: 'warn' };
  try {
    const { token } = server.ferry(['token', 'create']) as { token: string };
    const join_ = spawnSync(process.execPath, [join(ROOT, 'bin/ferry-agent.js'), 'join', '--token', token, '--state-dir', state], { env, encoding: 'utf8' });
    if (join_.status !== 0) throw new Error(join_.stderr);
    const agent = spawn(process.execPath, [join(ROOT, 'bin/ferry-agent.js'), 'run', '--state-dir', state], { env, stdio: 'ignore' });
    try {
      await waitUntil(() => ((server.ferry(['agents', 'list']) as { online: boolean }[])[0]?.online ?? false), 30_000, 'the agent online');
      await new Promise((r) => setTimeout(r, 3000)); // settle after start-up (inventory, first polls)
      const windowS = opts.quick ? 10 : 30;
      const cpu0 = cpuSeconds(agent.pid!);
      const samples: number[] = [];
      for (let i = 0; i < windowS; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        samples.push(memoryMiB(agent.pid!).rss);
      }
      const cpuPct = ((cpuSeconds(agent.pid!) - cpu0) / windowS) * 100;
      const rss = median(samples);
      return [
        { name: 'Agent idle (ferry-agent run, connected)', metric: 'RSS', value: round(rss), unit: 'MiB', goal: '≤ 60 MiB', met: rss <= 60, note: `median of ${windowS} samples, 1/s` },
        { name: 'Agent idle (ferry-agent run, connected)', metric: 'CPU', value: round(cpuPct, 2), unit: '% of one core', note: `over ${windowS} s with 10 s heartbeats` },
      ];
    } finally {
      agent.kill('SIGTERM');
    }
  } finally {
    await server.stop();
    rmSync(state, { recursive: true, force: true });
  }
}

/** `ferry-agent rollback`'s operation (no hooks) vs. the bare symlink swap it is built on. */
async function localRollback(): Promise<BenchResult[]> {
  const server = await startBenchServer();
  const work = mkdtempSync(join(tmpdir(), 'ferry-bench-rb-'));
  const nc = await connectNats({ url: (JSON.parse(spawnSync('cat', [join(server.home, 'server.json')], { encoding: 'utf8' }).stdout) as { natsUrl: string }).natsUrl, creds: readCredsFile(join(server.home, 'keys/admin.creds')), name: 'bench' });
  try {
    const store = await new Objm(nc).create('bench-rb');
    const installer = newInstaller(nc, 'bench-rb', join(work, 'agent'));
    const times: number[] = [];
    for (let round = 0; round < 5; round++) {
      for (const v of [`1.${round}.0`, `1.${round}.1`]) {
        const src = join(work, `src-${v}`);
        mkdirSync(src, { recursive: true });
        writeFileSync(join(src, 'ferry.json'), JSON.stringify({ name: 'rb', version: v }));
        writeFileSync(join(src, 'app.txt'), v);
        const built = await buildPackage(src, join(work, `rb-${v}.ferry`));
        await store.putBlob({ name: `rb@${v}` }, new Uint8Array(await import('node:fs').then((f) => f.readFileSync(built.file))));
        const outcome = await installer.machine.install({ operation: `bench-${v}`, record: recordFor(built, `rb@${v}`), allowDowngrade: false });
        if (outcome !== 'done') throw new Error(`install ${v} ended ${outcome}`);
      }
      const t = performance.now();
      await installer.machine.rollbackToPrevious(`bench-rollback-${round}`, 'rb');
      times.push(performance.now() - t);
    }
    installer.close();
    // Baseline: what a rollback must do at least — swap the `current` symlink atomically.
    const dir = join(work, 'swap');
    mkdirSync(join(dir, 'a'), { recursive: true });
    mkdirSync(join(dir, 'b'));
    symlinkSync('a', join(dir, 'current'));
    const swaps: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      symlinkSync(i % 2 ? 'a' : 'b', join(dir, '.tmp'));
      renameSync(join(dir, '.tmp'), join(dir, 'current'));
      swaps.push(performance.now() - t);
    }
    const ms = median(times);
    const base = median(swaps);
    return [
      {
        name: 'Local rollback of one host (no hooks)',
        metric: 'time',
        value: round(ms, 2),
        unit: 'ms',
        baseline: { name: 'bare atomic symlink swap', value: round(base, 3) },
        ratio: round(ms / base, 1),
        note: 'includes the journal writes (fsync) and the report that make it crash-safe and visible to the server',
      },
    ];
  } finally {
    await nc.close();
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

function round(v: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
