// Join throughput: M real `joinServer` calls (each its own NATS connection with the token's
// enrolment credential, the challenge, the HMAC-proved join, the sealed reply and the host's state
// files) from this process, 50 in flight, into a real `ferry server` that holds 0 agents and then
// 9 × M agents (filled with the same real joins: agents in the CMDB with issued JWTs; they do not
// stay connected). Each figure stands beside a baseline measured just before it on the same
// nats-server: M × (connect + two request/replies of similar sizes + close) against a trivial
// responder, i.e. the bare NATS cost of a join's traffic. Both code paths are warmed up first on a
// throwaway server (see warmUp); the joining hosts' state directories are kept until the end and
// live on tmpfs when there is one (see stateRoot).
import Database from 'better-sqlite3';
import { accessSync, constants, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { agentPaths } from '../../agent/config.js';
import { joinServer } from '../../agent/enroll/join.js';
import { AdminClient } from '../../server/cli/client.js';
import { dataPaths, type RuntimeInfo } from '../../server/config.js';
import { FerryError } from '../../shared/errors.js';
import { connectNats } from '../../shared/nats/connect.js';
import { readCredsFile } from '../../shared/nats/creds.js';
import { startBenchServer, type BenchServer } from './harness.js';
import type { BenchOptions, BenchResult } from './result.js';
import { cpuMs, debug, loadNote, tempDir } from './util.js';

const IN_FLIGHT = 50;
/** this process's GC pauses so far, in ms (shown with FERRY_BENCH_DEBUG) */
let gcMs = 0;
new PerformanceObserver((list) => list.getEntries().forEach((e) => (gcMs += e.duration))).observe({ entryTypes: ['gc'] });
const GOAL_RATE = 500;
const GOAL_RATIO = 1.2;
/** roughly the sizes of a join's messages: challenge (~100 B) → trust document; join (~600 B) → sealed JWT */
const BARE_SIZES = [
  [120, 1400],
  [640, 1100],
] as const;

interface Phase {
  joins: number;
  ms: number;
  retries: number;
  /** CPU ms: this process (its system share apart), ferry server, nats-server */
  cpu: { bench: number; benchSys: number; server: number; nats: number };
  loadNote: string;
}

export async function run(opts: BenchOptions): Promise<BenchResult[]> {
  const m = Number(process.env.FERRY_BENCH_JOINS ?? (opts.quick ? 200 : 1000));
  const warm = Number(process.env.FERRY_BENCH_JOINS_WARM ?? (opts.quick ? 1000 : 2000));
  const big = 9 * m;
  const states = stateRoot(); // removed at the end (or at exit, if the warm-up fails)
  if (warm > 0) await warmUp(warm, states.path);
  const server = await startBenchServer({ FERRY_OFFLINE_AFTER_MS: '600000' });
  const echo = await echoResponder(server);
  const results: BenchResult[] = [];
  try {
    const { token } = server.ferry(['token', 'create', '--uses', String(big + m + 100), '--ttl', '4h']) as { token: string };
    const pids = { server: server.process.pid!, nats: server.natsPid()! };
    let next = 0;
    const joinMany = (n: number) => measure(pids, n, async () => joinOne(states.path, token, `bench-${String(next++).padStart(5, '0')}`));

    const bare0 = await bareNats(server, pids, m);
    const empty = await joinMany(m);
    const fill = await joinMany(big - m);
    const bare9 = await bareNats(server, pids, m);
    const full = await joinMany(m);
    const agents = joinedWithJwt(server);
    if (agents !== big + m) throw new Error(`expected ${big + m} agents with issued JWTs in the CMDB, found ${agents}`);

    const row = (label: string, p: Phase, bare: Phase): BenchResult => {
      const rate = perSec(p);
      const bareRate = perSec(bare);
      return {
        name: `Join ${p.joins} agents into a server that has ${label} agents (${IN_FLIGHT} in flight)`,
        metric: 'joins/s',
        value: rate,
        unit: 'joins/s',
        baseline: { name: `bare NATS: connect + 2 request/replies + close, ${IN_FLIGHT} in flight`, value: bareRate },
        ratio: rate / bareRate,
        goal: `≥ ${GOAL_RATE} joins/s`,
        met: rate >= GOAL_RATE,
        note: `${cpuPer(p)}; baseline ${cpuPer(bare)}${p.retries ? `; ${p.retries} joins retried` : ''}; hosts' state in ${states.kind}; ${p.loadNote}`,
      };
    };
    const r0 = row('0', empty, bare0);
    const r9 = row(big.toLocaleString('en'), full, bare9);
    results.push(r0, r9);
    results.push({
      name: `Join rate with 0 agents ÷ with ${big.toLocaleString('en')}`,
      metric: 'slowdown',
      value: r0.value / r9.value,
      unit: '×',
      goal: `≤ ${GOAL_RATIO}`,
      met: r0.value / r9.value <= GOAL_RATIO,
      note: `bare NATS baselines of the two: ${(perSec(bare0) / perSec(bare9)).toFixed(2)}×`,
    });
    results.push({
      name: `Fill: ${fill.joins} more agents (same joins, ${IN_FLIGHT} in flight)`,
      metric: 'joins/s (diagnostic)',
      value: perSec(fill),
      unit: 'joins/s',
      note: `${cpuPer(fill)}${fill.retries ? `; ${fill.retries} joins retried` : ''}; ${fill.loadNote}`,
    });
  } finally {
    await echo.close();
    await server.stop();
    states.remove();
  }
  return results;
}

/**
 * Where the joining hosts keep their state directories (each join makes five inodes: the
 * directory, trust.json, seed, identity.json, apps/). A real host makes them once, on its own
 * disk; here one process plays every host, the 50 joins in flight sharing its event loop, on the
 * disk the servers use. On an ext4 without a journal (this machine's), allocating an inode skips
 * every free inode deleted in the last minute (six while its inode table block is dirty), looking
 * each one up (ext4 `recently_deleted()`): after the clean-up of a warm-up, of an earlier run or
 * of another program's temp files, a join's inodes cost this process up to 3 ms of system CPU.
 * That is the bench machine's file system, not the server's join rate, so the states go to tmpfs
 * (/dev/shm) when there is one; FERRY_BENCH_JOINS_STATE_DIR=DIR puts them in DIR (a disk) instead.
 */
function stateRoot(): { path: string; kind: string; remove(): void } {
  const chosen = process.env.FERRY_BENCH_JOINS_STATE_DIR;
  if (chosen) return { ...tempDir('join-states', chosen), kind: chosen };
  try {
    accessSync('/dev/shm', constants.W_OK);
    return { ...tempDir('join-states', '/dev/shm'), kind: 'tmpfs (/dev/shm)' };
  } catch {
    return { ...tempDir('join-states'), kind: 'the temp directory' };
  }
}

/**
 * This process plays every joining host, so its own code must be compiled by V8 before the first
 * figure, as each real host's would be by then, or "0 agents" measures the JIT instead of the
 * server. Both paths are warmed, on a throwaway server (the measured one starts cold, with an
 * empty CMDB): the bare one too, whose first 1,000 rounds otherwise cost up to twice the CPU of
 * later ones, and for 2,000 rounds (1,000 in quick mode), as after 300 the joins' CPU was still
 * falling. FERRY_BENCH_JOINS_WARM=N sets the rounds (0: none). Its state directories stay until
 * the end: deleting them just before the measured joins made those joins' inodes dear (above).
 */
async function warmUp(n: number, stateDir: string): Promise<void> {
  const server = await startBenchServer({ FERRY_OFFLINE_AFTER_MS: '600000' });
  const echo = await echoResponder(server);
  try {
    const { token } = server.ferry(['token', 'create', '--uses', String(n), '--ttl', '1h']) as { token: string };
    const pids = { server: server.process.pid!, nats: server.natsPid()! };
    let next = 0;
    await measure(pids, n, async () => joinOne(stateDir, token, `warm-${String(next++).padStart(5, '0')}`));
    await bareNats(server, pids, n);
  } finally {
    await echo.close();
    await server.stop();
  }
}

const perSec = (p: Phase) => p.joins / (p.ms / 1000);
const cpuPer = (p: Phase) =>
  `CPU ms per join: bench process ${(p.cpu.bench / p.joins).toFixed(2)} (system ${(p.cpu.benchSys / p.joins).toFixed(2)}), ferry server ${(p.cpu.server / p.joins).toFixed(2)}, nats-server ${(p.cpu.nats / p.joins).toFixed(2)}`;

async function joinOne(dir: string, token: string, hostname: string): Promise<number> {
  // As the simulator does: a busy process can lose a join reply; join again with a fresh identity.
  for (let attempt = 1; ; attempt++) {
    const paths = agentPaths(join(dir, `${hostname}-${attempt}`));
    try {
      await joinServer({ paths, token, tags: { bench: 'join' }, hostname }); // its state directory is removed at the end, untimed
      return attempt - 1;
    } catch (err) {
      if (attempt >= 3 || !(err instanceof FerryError) || err.code !== 'FERRY_SERVER_UNREACHABLE') throw err;
    }
  }
}

async function measure(pids: { server: number; nats: number }, n: number, one: () => Promise<number>): Promise<Phase> {
  // This process's own CPU (process.cpuUsage): /proc's figure would add any child reaped meanwhile.
  const own0 = process.cpuUsage();
  const gc0 = gcMs;
  const c0 = { server: cpuMs(pids.server), nats: cpuMs(pids.nats) };
  const t0 = process.hrtime.bigint();
  let left = n;
  let retries = 0;
  await Promise.all(
    Array.from({ length: Math.min(IN_FLIGHT, n) }, async () => {
      while (left > 0) {
        left--;
        retries += await one();
      }
    }),
  );
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const own = process.cpuUsage(own0);
  const cpu = { bench: (own.user + own.system) / 1000, benchSys: own.system / 1000, server: cpuMs(pids.server) - c0.server, nats: cpuMs(pids.nats) - c0.nats };
  const load = loadNote();
  debug(`${n} in ${ms.toFixed(0)} ms (${((n * 1000) / ms).toFixed(0)}/s), cpu ${JSON.stringify(cpu)}, GC pauses ${(gcMs - gc0).toFixed(0)} ms, ${load}`);
  return { joins: n, ms, retries, cpu, loadNote: load };
}

/** A trivial responder on the server's NATS (the admin's connection): replies with as many bytes as the subject's last token says. */
async function echoResponder(server: BenchServer): Promise<{ close(): Promise<void> }> {
  const admin = await AdminClient.connect({ dataDir: server.home });
  const sub = admin.nc.subscribe('bench.join.echo.*', {
    callback: (_e, msg) => void msg.respond(new Uint8Array(Number(msg.subject.split('.').pop()))),
  });
  return {
    close: async () => {
      sub.unsubscribe();
      await admin.close().catch(() => undefined);
    },
  };
}

/** M × (connect with the admin's JWT + two request/replies of a join's sizes + close). */
async function bareNats(server: BenchServer, pids: { server: number; nats: number }, n: number): Promise<Phase> {
  const paths = dataPaths(server.home);
  const url = (JSON.parse(readFileSync(paths.runtime, 'utf8')) as RuntimeInfo).natsUrl;
  const creds = readCredsFile(paths.adminCreds);
  return measure(pids, n, async () => {
    const nc = await connectNats({ url, creds, name: 'bench bare', timeoutMs: 5000, attempts: 3 });
    try {
      for (const [req, rep] of BARE_SIZES) await nc.request(`bench.join.echo.${rep}`, new Uint8Array(req), { timeout: 60_000 });
    } finally {
      await nc.close();
    }
    return 0;
  });
}

/** Agents in the server's CMDB that were issued a user JWT (read-only look at its database). */
function joinedWithJwt(server: BenchServer): number {
  const db = new Database(dataPaths(server.home).db, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM agents WHERE jwt_issued_at IS NOT NULL AND revoked_at IS NULL').get() as { n: number }).n;
  } finally {
    db.close();
  }
}
