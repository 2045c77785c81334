// What signed reports cost the server: the CPU of ingesting N inventory reports into the CMDB
// (ReportIngest.applyReports: decode, checks, SQLite writes, one transaction per 1,000) when the
// agents sign them (signature verified, replay counters kept) against the same reports from agents
// that never signed (the same-run baseline: ingest without verify). In this process, no NATS: the
// messages are made up front (the agents' signing is not the server's CPU), so the difference is the
// check itself. Interleaved rounds, each with new reports (new inventories, so the CMDB is written).
// Signed reports are verified two ways: on the ingest thread in line (verifyThreads 0), and on the
// verify threads ahead of each batch (the server's default: one thread a core). CPU counts every
// thread of this process, so threads save no CPU; they save wall time, the reports per second.
import { pino } from 'pino';
import { join } from 'node:path';
import { headers, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { ReportIngest, type ReportMsg } from '../../server/cmdb/ingest.js';
import { ReportVerifier } from '../../server/cmdb/report-auth.js';
import { CmdbStore } from '../../server/cmdb/store.js';
import { defaultVerifyThreads } from '../../server/cmdb/verify-pool.js';
import { openDatabase } from '../../server/db/open.js';
import { createNativeUser, nativeKeyPair } from '../../shared/nats/nkey-auth.js';
import { encodeMessage } from '../../shared/protocol/codec.js';
import { REPORT_COUNTER_HEADER, REPORT_SIG_HEADER, reportTranscript } from '../../shared/protocol/report-signature.js';
import { subjects } from '../../shared/protocol/subjects.js';
import { syntheticInventory } from '../../shared/sim-inventory.js';
import type { BenchOptions, BenchResult } from './result.js';
import { debug, interleave, loadNote, median, tempDir } from './util.js';

const AGENTS = 1000;
const BATCH = 1000;
/** 5,000 reports/s on one core: the inventory ingest goal (performance.md) with nothing else to do */
const GOAL_US = 200;

export async function run(opts: BenchOptions): Promise<BenchResult[]> {
  const n = opts.quick ? 4000 : 20_000;
  const runs = opts.quick ? 3 : 5;
  const dir = tempDir('reports');
  const keys = Array.from({ length: AGENTS }, (_, i) => ({ id: `bench-${i}`, ...createNativeUser() }));
  const ingestFor = (verifyThreads?: number) => {
    const db = openDatabase(join(dir.path, `ferry-${Math.random().toString(36).slice(2)}.db`));
    const cmdb = new CmdbStore(db);
    cmdb.transaction(() => keys.forEach((k) => cmdb.addAgent({ id: k.id, nkey: k.publicKey, hostname: k.id, tags: {} })));
    return { db, ingest: new ReportIngest(undefined as unknown as NatsConnection, cmdb, { onStatus: () => undefined }, pino({ level: 'silent' }), { verifyThreads }) };
  };
  const unsigned = ingestFor(0);
  const inline = ingestFor(0);
  const signed = ingestFor();
  const threads = defaultVerifyThreads();
  let round = 0;
  let counter = Date.now() * 1000;
  let seq = 0;
  const signUs: number[] = [];
  const make = (sign: boolean): ReportMsg[] => {
    const r = round;
    let signNs = 0n;
    const out = Array.from({ length: n }, (_, i) => {
      const k = keys[i % AGENTS]!;
      const data = encodeMessage({ agent: k.id, ts: Date.now(), inventory: { ...syntheticInventory(k.id, i), memoryMB: 1024 + r * 7 + (i % 5) }, installed: {} });
      let h: MsgHdrs | undefined;
      if (sign) {
        const c = ++counter;
        const t0 = process.hrtime.bigint();
        const sig = Buffer.from(nativeKeyPair(k.seed).sign(reportTranscript(k.id, 'inventory', c, data))).toString('base64');
        signNs += process.hrtime.bigint() - t0;
        h = headers();
        h.set(REPORT_COUNTER_HEADER, String(c));
        h.set(REPORT_SIG_HEADER, sig);
      }
      return { subject: subjects.inventory(k.id), data, seq: ++seq, headers: h, ack: () => undefined, nak: () => undefined } as ReportMsg;
    });
    if (sign) signUs.push(Number(signNs) / 1000 / n);
    return out;
  };
  const apply = async (ingest: ReportIngest, msgs: ReportMsg[]) => {
    for (let i = 0; i < msgs.length; i += BATCH) await ingest.applyReports(msgs.slice(i, i + BATCH));
  };
  // Every report is a new inventory (memoryMB changes every round): none is the same as the one
  // stored, as with real agents, which send an inventory only when it changed.
  let next = { unsigned: make(false), inline: make(true), signed: make(true) };
  try {
    const t = await interleave(runs, 1, {
      unsigned: { fn: async () => apply(unsigned.ingest, next.unsigned) },
      inline: { fn: async () => apply(inline.ingest, next.inline) },
      signed: {
        fn: async () => apply(signed.ingest, next.signed),
        after: () => {
          round++;
          next = { unsigned: make(false), inline: make(true), signed: make(true) };
        },
      },
    });
    const refused = [signed, inline].map((x) => Object.values(x.ingest.refusedCounts()).reduce((a, b) => a + b, 0)).reduce((a, b) => a + b, 0);
    if (refused) throw new Error(`${refused} signed reports were refused: the benchmark measures nothing`);
    const perReport = (cpu: number[]) => (median(cpu) * 1000) / n;
    const perSecond = (ms: number[]) => (n * 1000) / median(ms);
    const base = perReport(t.unsigned.cpu);
    const withVerify = perReport(t.signed.cpu);
    const inlineUs = perReport(t.inline.cpu);

    // The check alone, on the same kind of report: what every signed report adds at least.
    const verifier = new ReportVerifier();
    const msgs = make(true);
    const identities = new Map(keys.map((k) => [k.id, { nkey: k.publicKey, recent: [] as number[] }]));
    const c0 = process.cpuUsage();
    for (const m of msgs) {
      const id = m.subject.split('.')[2]!;
      const v = verifier.check(id, 'inventory', m.data, m.headers, identities.get(id)!);
      if (!v.ok || !v.signed) throw new Error('a signed report was refused');
      identities.get(id)!.recent = v.recent;
    }
    const c1 = process.cpuUsage(c0);
    const checkUs = (c1.user + c1.system) / msgs.length;
    const rates = { unsigned: perSecond(t.unsigned.ms), inline: perSecond(t.inline.ms), signed: perSecond(t.signed.ms) };
    debug(`reports: unsigned ${base.toFixed(1)} µs, signed ${withVerify.toFixed(1)} µs (${threads} threads), in line ${inlineUs.toFixed(1)} µs, check ${checkUs.toFixed(1)} µs, sign ${median(signUs).toFixed(1)} µs`);
    const perS = (x: number) => `${Math.round(x).toLocaleString('en')}/s`;
    return [
      {
        name: `Report ingest, signed by the agents (${n} inventory reports, ${AGENTS} agents)`,
        metric: 'server CPU per report',
        value: withVerify,
        unit: 'µs',
        baseline: { name: 'the same reports unsigned (agents from before signatures: no verify)', value: base },
        ratio: withVerify / base,
        goal: `≤ ${GOAL_US} µs (${Math.round(1e6 / GOAL_US).toLocaleString('en')} reports/s a core)`,
        met: withVerify <= GOAL_US,
        note: `+${(withVerify - base).toFixed(1)} µs a report, CPU of all threads; verified on ${threads} verify thread(s) ahead of each batch; verified in line instead: ${inlineUs.toFixed(1)} µs; the check alone (Ed25519 verify of the transcript, canonical S, replay counters) ${checkUs.toFixed(1)} µs; the agent's signing ${median(signUs).toFixed(1)} µs a report (transcript + native Ed25519, once per report, never while idle); median of ${runs} interleaved rounds, CPU of this process; ${loadNote()}`,
      },
      {
        name: `Report ingest, signed by the agents: reports per second (${n} inventory reports, ${AGENTS} agents)`,
        metric: 'throughput (wall)',
        value: rates.signed,
        unit: 'reports/s',
        baseline: { name: 'the same reports unsigned (no verify)', value: rates.unsigned },
        ratio: rates.signed / rates.unsigned,
        goal: '≥ 5,000/s',
        met: rates.signed >= 5000,
        note: `signatures verified on ${threads} verify thread(s) ahead of each batch of ${BATCH}; on the ingest thread in line: ${perS(rates.inline)}; every report a changed inventory; median of ${runs} interleaved rounds; ${loadNote()}`,
      },
    ];
  } finally {
    await signed.ingest.stop();
    unsigned.db.close();
    inline.db.close();
    signed.db.close();
    dir.remove();
  }
}
