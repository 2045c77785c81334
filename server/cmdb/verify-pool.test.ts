// Report signatures verified on worker threads (verify-pool.ts) ahead of an ingest batch: real
// threads, real keys and signatures, real SQLite; no NATS (the batch is handed to applyReports as
// the benchmark does). A forged report verified on a thread is refused like one verified in line.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { headers, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { Prefix } from '@nats-io/nkeys';
import { Codec } from '@nats-io/nkeys/lib/codec.js';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { syntheticInventory } from '../../shared/sim-inventory.js';
import { createNativeUser, nativeKeyPair } from '../../shared/nats/nkey-auth.js';
import { encodeMessage } from '../../shared/protocol/codec.js';
import { REPORT_COUNTER_HEADER, REPORT_SIG_HEADER, reportTranscript } from '../../shared/protocol/report-signature.js';
import { subjects } from '../../shared/protocol/subjects.js';
import { tempDir } from '../../test/helpers/fleet.js';
import { malleate } from '../../test/helpers/hostile.js';
import { openDatabase } from '../db/open.js';
import { ReportIngest, type ReportMsg } from './ingest.js';
import { CmdbStore } from './store.js';
import { VerifyPool } from './verify-pool.js';

const agent = createNativeUser();
const other = createNativeUser();

describe('VerifyPool', () => {
  const pool = new VerifyPool(2);
  afterAll(() => pool.close());

  it('answers each signature in order, across threads: good ones true, forged ones false', async () => {
    const key = Codec.decode(Prefix.User, new TextEncoder().encode(agent.publicKey));
    const message = (i: number) => new TextEncoder().encode(`report ${i}`);
    const sign = (seed: string, i: number) => new Uint8Array(nativeKeyPair(seed).sign(message(i)));
    const jobs = Array.from({ length: 40 }, (_, i) => {
      const kind = i % 5;
      let sig = sign(agent.seed, i);
      if (kind === 1) sig = sign(other.seed, i); // another key
      if (kind === 2) sig = new Uint8Array(Buffer.from(malleate(Buffer.from(sig).toString('base64')), 'base64')); // S + L
      if (kind === 3) sig = sig.subarray(0, 40); // truncated
      return { nkey: agent.publicKey, key, message: kind === 4 ? message(i + 1) : message(i), sig };
    });
    const ok = await pool.verify(jobs);
    expect(ok).toEqual(jobs.map((_, i) => i % 5 === 0));
    // A key that is not a point on the curve verifies nothing (and does not kill the thread).
    expect(await pool.verify([{ ...jobs[0]!, nkey: 'not-a-key', key: new Uint8Array(32).fill(0xff) }])).toEqual([false]);
    expect(await pool.verify(jobs.slice(0, 1))).toEqual([true]);
  });
});

describe('ReportIngest with verify threads', () => {
  function setup() {
    const db = openDatabase(join(tempDir('ferry-verify-pool-'), 'ferry.db'));
    const cmdb = new CmdbStore(db);
    cmdb.addAgent({ id: 'a-1', nkey: agent.publicKey, hostname: 'a-1', tags: {} });
    const ingest = new ReportIngest(undefined as unknown as NatsConnection, cmdb, { onStatus: () => undefined }, pino({ level: 'silent' }), { verifyThreads: 2 });
    return { db, cmdb, ingest };
  }
  let seq = 0;
  const acked: number[] = [];
  function report(counter: number, memoryMB: number, o: { seed?: string; sig?: (s: string) => string } = {}): ReportMsg {
    const data = encodeMessage({ agent: 'a-1', ts: 1, inventory: { ...syntheticInventory('a-1', 0), memoryMB }, installed: {} });
    const sig = Buffer.from(nativeKeyPair(o.seed ?? agent.seed).sign(reportTranscript('a-1', 'inventory', counter, data))).toString('base64');
    const h: MsgHdrs = headers();
    h.set(REPORT_COUNTER_HEADER, String(counter));
    h.set(REPORT_SIG_HEADER, (o.sig ?? ((s) => s))(sig));
    const s = ++seq;
    return { subject: subjects.inventory('a-1'), data, seq: s, headers: h, ack: () => acked.push(s), nak: () => undefined } as ReportMsg;
  }

  it('a batch: forged reports verified on the threads are refused and change nothing; the real ones apply in counter order', async () => {
    const { db, cmdb, ingest } = setup();
    try {
      await ingest.applyReports([report(10, 1000), report(11, 6666, { seed: other.seed }), report(12, 1200), report(13, 6666, { sig: malleate })]);
      expect(ingest.verifyThreadsRunning).toBe(2);
      expect(ingest.refusedCounts()['bad-signature']).toBe(2);
      expect(cmdb.getAgent('a-1')!.inventory!.memoryMB).toBe(1200);
      expect(cmdb.reportIdentity('a-1')!.recent).toEqual([10, 12]);

      // In one batch: a forged report takes a counter first, the agent's own with that counter
      // follows (verified in line: the batch's look-ahead took it for a duplicate), then a replay.
      await ingest.applyReports([report(20, 6666, { seed: other.seed }), report(20, 2000), report(12, 6666), report(21, 2100)]);
      expect(ingest.refusedCounts()).toMatchObject({ 'bad-signature': 3, duplicate: 1 });
      expect(cmdb.getAgent('a-1')!.inventory!.memoryMB).toBe(2100);
      expect(cmdb.reportIdentity('a-1')!.recent).toEqual([10, 12, 20, 21]);
    } finally {
      await ingest.stop();
      db.close();
    }
    expect(ingest.verifyThreadsRunning).toBe(0);
  });

  it('after stop() no thread is left: a process that used the pool exits by itself', async () => {
    const mod = pathToFileURL(join(process.cwd(), 'dist/server/cmdb/verify-pool.js')).href;
    // Closed, and (a server stopped without close) not closed: neither holds the process open.
    // Two threads, one job: one thread never had work (an unref() before it ran did not hold).
    // Eight times each: an awaited close() of idle threads was cut short about 1 run in 15 (exit 13).
    for (const close of Array.from({ length: 16 }, (_, i) => i % 2 === 0)) {
      const code = `
        const { VerifyPool } = await import(${JSON.stringify(mod)});
        const pool = new VerifyPool(2);
        const ok = await pool.verify([{ nkey: 'k', key: new Uint8Array(32), message: new Uint8Array(1), sig: new Uint8Array(64) }]);
        if (pool.threads !== 2 || ok[0] !== false) process.exit(3);
        ${close ? 'await pool.close(); if (pool.threads !== 0) process.exit(4);' : ''}
      `;
      const child = await new Promise<{ code: number | null; signal: string | null; stderr: string }>((resolve) => {
        execFile(process.execPath, ['--input-type=module', '-e', code], { timeout: 60_000, encoding: 'utf8' }, (err, _stdout, stderr) => {
          const e = err as (Error & { code?: number; signal?: string }) | null;
          resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, stderr });
        });
      });
      expect({ close, ...child }).toEqual({ close, code: 0, signal: null, stderr: '' });
    }
  }, 130_000);
});
