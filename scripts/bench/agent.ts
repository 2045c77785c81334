// The agent on its own: idle footprint of the packaged `ferry-agent run` connected to a real
// server, and a local rollback of one host (no hooks) against the bare symlink swap it performs.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Objm } from '@nats-io/obj';
import { buildPackage } from '../../shared/package/mod.js';
import { connectNats } from '../../shared/nats/connect.js';
import { readCredsFile } from '../../shared/nats/creds.js';
import { AGENT_NODE_FLAGS, stageBundle } from '../../packaging/bundle.js';
import { cpuSeconds, median, ROOT, startBenchServer, waitUntil } from './harness.js';
import { newInstaller, recordFor } from './pkg.js';
import type { BenchOptions, BenchResult } from './result.js';

export async function run(opts: BenchOptions): Promise<BenchResult[]> {
  return [...(await idleFootprint(opts)), ...(await localRollback())];
}

/** RSS of a process and its split into anonymous memory and file-backed pages (mostly the node binary), in MiB. */
function rssParts(pid: number): { rss: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
}

/**
 * Idle footprint of the agent as the packages ship it: the bundle (stageBundle, as `npm run
 * package` stages it) run through its launcher — bundled node, V8 flags, one bundled module —
 * connected to a real server. Sampled in the same seconds: the bare bundled node with the same
 * flags (what the runtime alone costs), the agent run from a checkout the old way (system node,
 * unbundled dist/, default flags), and the supervisor the systemd unit runs above `run`.
 */
async function idleFootprint(opts: BenchOptions): Promise<BenchResult[]> {
  const server = await startBenchServer();
  const work = mkdtempSync(join(tmpdir(), 'ferry-bench-agent-'));
  const env = { ...process.env, FERRY_HOME: server.home, FERRY_LOG_LEVEL: 'warn' };
  const children: ChildProcess[] = [];
  try {
    const bundle = stageBundle('agent', join(work, 'ferry-agent'));
    const launcher = join(bundle.dir, 'bin', 'ferry-agent');
    const joinAgent = (cmd: string[], state: string, hostname: string) => {
      const { token } = server.ferry(['token', 'create']) as { token: string };
      const r = spawnSync(cmd[0]!, [...cmd.slice(1), 'join', '--token', token, '--state-dir', state], { env: { ...env, FERRY_HOSTNAME: hostname }, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(r.stderr);
      return (JSON.parse(readFileSync(join(state, 'identity.json'), 'utf8')) as { agentId: string }).agentId;
    };
    const start = (cmd: string[], args: string[]) => {
      const c = spawn(cmd[0]!, [...cmd.slice(1), ...args], { env, stdio: 'ignore' });
      children.push(c);
      return c;
    };
    const checkoutCmd = [process.execPath, join(ROOT, 'bin/ferry-agent.js')];
    const states = { packaged: join(work, 'packaged'), checkout: join(work, 'checkout'), service: join(work, 'service') };
    const ids = {
      packaged: joinAgent([launcher], states.packaged, 'bench-packaged'),
      checkout: joinAgent(checkoutCmd, states.checkout, 'bench-checkout'),
      service: joinAgent([launcher], states.service, 'bench-service'),
    };
    const agent = start([launcher], ['run', '--state-dir', states.packaged]);
    const checkout = start(checkoutCmd, ['run', '--state-dir', states.checkout]);
    const supervisor = start([launcher], ['supervise', '--state-dir', states.service]);
    const bare = start([join(bundle.dir, 'bin', 'node'), ...AGENT_NODE_FLAGS, '-e', 'setInterval(() => {}, 60_000)'], []);
    await waitUntil(() => {
      const online = new Set((server.ferry(['agents', 'list']) as { id: string; online: boolean }[]).filter((a) => a.online).map((a) => a.id));
      return Object.values(ids).every((id) => online.has(id));
    }, 60_000, 'the agents online');
    await new Promise((r) => setTimeout(r, 3000)); // settle after start-up (inventory, first polls)
    const supervised = (JSON.parse(readFileSync(join(states.service, 'runtime.json'), 'utf8')) as { pid: number }).pid;
    const windowS = opts.quick ? 10 : 30;
    const cpu0 = cpuSeconds(agent.pid!);
    const samples: Record<'agent' | 'bare' | 'checkout' | 'supervisor' | 'supervised', { rss: number; anon: number; file: number }[]> = { agent: [], bare: [], checkout: [], supervisor: [], supervised: [] };
    for (let i = 0; i < windowS; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      samples.agent.push(rssParts(agent.pid!));
      samples.bare.push(rssParts(bare.pid!));
      samples.checkout.push(rssParts(checkout.pid!));
      samples.supervisor.push(rssParts(supervisor.pid!));
      samples.supervised.push(rssParts(supervised));
    }
    const cpuPct = ((cpuSeconds(agent.pid!) - cpu0) / windowS) * 100;
    const med = (k: keyof typeof samples, part: 'rss' | 'anon' | 'file' = 'rss') => round(median(samples[k].map((x) => x[part])));
    const split = (k: keyof typeof samples) => `${med(k, 'anon')} MiB anonymous + ${med(k, 'file')} MiB file-backed`;
    const name = 'Agent idle (packaged ferry-agent run, connected)';
    const bareBase = { name: `bare bundled node, same V8 flags (${split('bare')})`, value: med('bare') };
    return [
      {
        name,
        metric: 'RSS',
        value: med('agent'),
        unit: 'MiB',
        baseline: bareBase,
        ratio: round(med('agent') / med('bare'), 2),
        goal: '≤ 50 MiB',
        met: med('agent') <= 50,
        note: `median of ${windowS} samples, 1/s: ${split('agent')}; launcher flags ${AGENT_NODE_FLAGS.join(' ')}`,
      },
      { name, metric: 'CPU', value: round(cpuPct, 2), unit: '% of one core', goal: '~0 %', met: cpuPct < 0.5, note: `over ${windowS} s with 10 s heartbeats` },
      {
        name,
        metric: 'RSS from a checkout (diagnostic)',
        value: med('checkout'),
        unit: 'MiB',
        baseline: bareBase,
        ratio: round(med('checkout') / med('bare'), 2),
        note: `node bin/ferry-agent.js run with the system's node, unbundled dist/, default V8 flags (how the agent ran before it was bundled): ${split('checkout')}`,
      },
      {
        name,
        metric: 'RSS of the service: supervisor + run (diagnostic)',
        value: round(med('supervisor') + med('supervised')),
        unit: 'MiB',
        baseline: bareBase,
        note: `ferry-agent supervise (what the systemd unit runs) ${med('supervisor')} MiB (${split('supervisor')}) + its ferry-agent run ${med('supervised')} MiB`,
      },
    ];
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
    await server.stop();
    rmSync(work, { recursive: true, force: true });
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
