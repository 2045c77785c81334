// Join throughput: M real `joinServer` calls (each its own NATS connection with the token's
// enrolment credential, the challenge, the HMAC-proved join and the sealed reply) from this
// process, 50 in flight, into a real `ferry server` that holds 0 agents and then 9 × M agents
// (filled with the same real joins: agents in the CMDB with issued JWTs; they do not stay
// connected). Each figure stands beside a baseline measured just before it on the same
// nats-server: M × (connect + two request/replies of similar sizes + close) against a trivial
// responder, i.e. the bare NATS cost of a join's traffic. The joining code is warmed up first on
// a throwaway server (see warmUp).
import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
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
  /** CPU ms: this process, ferry server, nats-server */
  cpu: { bench: number; server: number; nats: number };
  loadNote: string;
}

export async function run(opts: BenchOptions): Promise<BenchResult[]> {
  const m = Number(process.env.FERRY_BENCH_JOINS ?? (opts.quick ? 200 : 1000));
  const big = 9 * m;
  if (process.env.NOWARM !== "1") await warmUp(Math.min(m, 300));
  const server = await startBenchServer({ FERRY_OFFLINE_AFTER_MS: '600000' });
  const dir = tempDir('joins');
  const admin = await AdminClient.connect({ dataDir: server.home });
  const echo = admin.nc.subscribe('bench.join.echo.*', {
    callback: (_e, msg) => void msg.respond(new Uint8Array(Number(msg.subject.split('.').pop()))),
  });
  const results: BenchResult[] = [];
  try {
    const { token } = server.ferry(['token', 'create', '--uses', String(big + m + 100), '--ttl', '4h']) as { token: string };
    const pids = { server: server.process.pid!, nats: server.natsPid()! };
    let next = 0;
    const joinMany = (n: number, concurrency = IN_FLIGHT) => measure(pids, n, concurrency, async () => joinOne(dir.path, token, next++));

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
        note: `${cpuPer(p)}; baseline ${cpuPer(bare)}${p.retries ? `; ${p.retries} joins retried` : ''}; ${p.loadNote}`,
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
    echo.unsubscribe();
    await admin.close().catch(() => undefined);
    await server.stop();
    dir.remove();
  }
  return results;
}

/**
 * This process plays every joining host, so its own code must be compiled by V8 before the first
 * figure, as each real host's would be by then, or "0 agents" measures the JIT instead of the
 * server. Warm it on a throwaway server: the measured one starts cold, with an empty CMDB.
 */
async function warmUp(n: number): Promise<void> {
  const server = await startBenchServer({ FERRY_OFFLINE_AFTER_MS: '600000' });
  const dir = tempDir('joins-warm-up');
  try {
    const { token } = server.ferry(['token', 'create', '--uses', String(n), '--ttl', '1h']) as { token: string };
    let next = 0;
    await measure({ server: server.process.pid!, nats: server.natsPid()! }, n, IN_FLIGHT, async () => joinOne(dir.path, token, next++));
  } finally {
    await server.stop();
    dir.remove();
  }
}

const perSec = (p: Phase) => p.joins / (p.ms / 1000);
const cpuPer = (p: Phase) =>
  `CPU ms per join: bench process ${(p.cpu.bench / p.joins).toFixed(2)}, ferry server ${(p.cpu.server / p.joins).toFixed(2)}, nats-server ${(p.cpu.nats / p.joins).toFixed(2)}`;

async function joinOne(dir: string, token: string, i: number): Promise<number> {
  const hostname = `bench-${String(i).padStart(5, '0')}`;
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

async function measure(pids: { server: number; nats: number }, n: number, concurrency: number, one: () => Promise<number>): Promise<Phase> {
  const c0 = { bench: cpuMs(), server: cpuMs(pids.server), nats: cpuMs(pids.nats) };
  const t0 = process.hrtime.bigint();
  let left = n;
  let retries = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (left > 0) {
        left--;
        retries += await one();
      }
    }),
  );
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = { bench: cpuMs() - c0.bench, server: cpuMs(pids.server) - c0.server, nats: cpuMs(pids.nats) - c0.nats };
  const load = loadNote();
  debug(`${n} in ${ms.toFixed(0)} ms (${((n * 1000) / ms).toFixed(0)}/s), cpu ${JSON.stringify(cpu)}, ${load}`);
  return { joins: n, ms, retries, cpu, loadNote: load };
}

/** M × (connect with the admin's JWT + two request/replies of a join's sizes + close). */
async function bareNats(server: BenchServer, pids: { server: number; nats: number }, n: number): Promise<Phase> {
  const paths = dataPaths(server.home);
  const url = (JSON.parse(readFileSync(paths.runtime, 'utf8')) as RuntimeInfo).natsUrl;
  const creds = readCredsFile(paths.adminCreds);
  return measure(pids, n, IN_FLIGHT, async () => {
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
