// "Fetch and verify a 100 MiB package" (quick: 20 MiB). Random bytes are stored in an Object
// Store bucket with 1 MiB chunks (as the DML does), then read several ways, each warmed up once
// and timed three times (median):
//   ferry      — readObjectToFile as the agent calls it: pipelined direct gets, native SHA-256,
//                written to a file (no fsync: the agent's recovery discards interrupted downloads)
//   raw        — baseline: a JetStream ordered pull consumer on $O.<bucket>.C.<nuid>, counting bytes only
//   rawFile    — the same consumer, also hashing (SHA-256) and writing the file: the like-for-like baseline
//   os.get     — the client's ObjectStore.get() with its default (pure-JS) SHA-256, reading every byte
// plus, for diagnosis only, readObjectToFile with its final fsync, and readObjectToStream into a
// discarding sink (no disk at all). The paths run in interleaved rounds so that load from other
// processes hits them alike. Then the agent's V8 flags are checked against Node's defaults: the
// same download in child processes (fetch-child.js), alternating, timed inside the child.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { jetstream } from '@nats-io/jetstream';
import { getSha256Backend, setSha256Backend, type ObjectStore } from '@nats-io/obj';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { readObjectToFile, readObjectToStream } from '../../shared/nats/object-read.js';
import { AGENT_MALLOC_ENV, AGENT_NODE_FLAGS } from '../../packaging/bundle.js';
import { startBenchNats } from './nats.js';
import type { BenchOptions, BenchResult } from './result.js';
import { cpuNote, createBucket, debug, interleave, loadNote, median, mibPerSec, MiB, putObject, randomStream, rawOrderedRead, round, tempDir } from './util.js';

const BUCKET = 'bench-fetch';
const OBJECT = 'payload@1.0.0';
const RUNS = 3;
const WARMUPS = 1;
/** child-process runs per flag set: single cold downloads vary more than warm in-process ones */
const FLAG_RUNS = 5;

export async function run(opts: BenchOptions): Promise<BenchResult[]> {
  const mib = opts.quick ? 20 : 100;
  const size = mib * MiB;
  const name = `Fetch and verify a ${mib} MiB package`;
  const nats = await startBenchNats({ maxFileStoreMiB: mib * 2 + 256 });
  const tmp = tempDir('fetch');
  let nc: NatsConnection | undefined;
  try {
    nc = await connect({ servers: nats.url, name: 'bench-fetch' });
    const conn = nc;
    const os = await createBucket(conn, BUCKET);
    const info = await putObject(os, OBJECT, randomStream(size));
    const sha256 = Buffer.from(info.digest.slice('SHA-256='.length), 'base64url').toString('hex');
    debug(`fetch: stored ${mib} MiB`);
    if (info.size !== size) throw new Error(`stored ${info.size} bytes, expected ${size}`);

    const dest = join(tmp.path, 'package.ferry');
    const discard = () => new Writable({ write: (_c, _e, cb) => cb(), highWaterMark: MiB });
    const times = await withDefaultSha256(() =>
      interleave(RUNS, WARMUPS, {
        ferry: {
          fn: async () => {
            const r = await readObjectToFile(conn, { bucket: BUCKET, name: OBJECT, dest, expectedSize: size, expectedSha256: sha256, durable: false });
            if (r.size !== size || r.sha256 !== sha256) throw new Error('readObjectToFile returned the wrong object');
          },
          after: () => rmSync(dest, { force: true }),
        },
        withSync: {
          fn: async () => {
            await readObjectToFile(conn, { bucket: BUCKET, name: OBJECT, dest, expectedSize: size, durable: true });
          },
          after: () => rmSync(dest, { force: true }),
        },
        rawFile: {
          fn: async () => {
            if ((await rawOrderedReadToFile(conn, BUCKET, info, dest)) !== sha256) throw new Error('raw read hashed the wrong bytes');
          },
          after: () => rmSync(dest, { force: true }),
        },
        noDisk: { fn: () => readObjectToStream(conn, { bucket: BUCKET, name: OBJECT, sink: discard() }) },
        raw: { fn: () => rawOrderedRead(conn, BUCKET, info) },
        osGet: { fn: () => osGetAll(os, size) },
      }, nats.process.pid),
    );
    const [ferryMs, withSyncMs, rawFileMs, noDiskMs, rawMs, osGetMs] = [times.ferry.ms, times.withSync.ms, times.rawFile.ms, times.noDisk.ms, times.raw.ms, times.osGet.ms];

    const ferry = mibPerSec(size, median(ferryMs));
    const raw = mibPerSec(size, median(rawMs));
    const rawFile = mibPerSec(size, median(rawFileMs));
    const osGet = mibPerSec(size, median(osGetMs));
    const noDisk = mibPerSec(size, median(noDiskMs));
    const withSync = mibPerSec(size, median(withSyncMs));
    const runs = (ms: number[]) => ms.map((m) => round(mibPerSec(size, m), 0)).join('/');
    const flags = await compareFlags(nats.url, { bucket: BUCKET, object: OBJECT, dest, size, sha256 });
    const paced = await pacedDownload(conn, { dest, size, sha256, unpacedMiBs: ferry });
    return [
      paced,
      {
        name,
        metric: 'throughput vs raw JetStream',
        value: round(ferry, 1),
        unit: 'MiB/s',
        baseline: { name: 'raw ordered consumer, no hash, no disk', value: round(raw, 1) },
        ratio: round(ferry / raw),
        goal: '≥ 0.8× raw',
        met: ferry / raw >= 0.8,
        note:
          `readObjectToFile as the agent calls it (direct gets, window 8, native SHA-256, file, no fsync): runs ${runs(ferryMs)} MiB/s, ${cpuNote(times.ferry)}; ` +
          `raw: runs ${runs(rawMs)} MiB/s, ${cpuNote(times.raw)}; ${loadNote()}`,
      },
      {
        name,
        metric: 'throughput vs raw JetStream + SHA-256 + file write',
        value: round(ferry, 1),
        unit: 'MiB/s',
        baseline: { name: 'raw ordered consumer, hashing and writing the file', value: round(rawFile, 1) },
        ratio: round(ferry / rawFile),
        note: `the same work on both sides; raw + hash + file: runs ${runs(rawFileMs)} MiB/s, ${cpuNote(times.rawFile)}`,
      },
      {
        name,
        metric: 'throughput vs os.get()',
        value: round(ferry, 1),
        unit: 'MiB/s',
        baseline: { name: 'ObjectStore.get(), default JS SHA-256', value: round(osGet, 1) },
        ratio: round(ferry / osGet),
        goal: '≥ 5× os.get()',
        met: ferry / osGet >= 5,
        note: `os.get(): runs ${runs(osGetMs)} MiB/s, ${cpuNote(times.osGet)}`,
      },
      {
        name,
        metric: 'throughput with fsync (diagnostic)',
        value: round(withSync, 1),
        unit: 'MiB/s',
        baseline: { name: 'raw ordered consumer, no hash, no disk', value: round(raw, 1) },
        ratio: round(withSync / raw),
        note: `readObjectToFile with durable: true (the default; the agent passes false); runs ${runs(withSyncMs)} MiB/s, ${cpuNote(times.withSync)}`,
      },
      {
        name,
        metric: 'throughput, no disk (diagnostic)',
        value: round(noDisk, 1),
        unit: 'MiB/s',
        baseline: { name: 'raw ordered consumer, no hash, no disk', value: round(raw, 1) },
        ratio: round(noDisk / raw),
        note: `readObjectToStream into a discarding sink: direct gets + SHA-256 only; runs ${runs(noDiskMs)} MiB/s, ${cpuNote(times.noDisk)}`,
      },
      {
        name,
        metric: "throughput with the agent's V8 flags and malloc settings",
        value: round(mibPerSec(size, median(flags.agent)), 1),
        unit: 'MiB/s',
        baseline: { name: "Node's default V8 flags", value: round(mibPerSec(size, median(flags.defaults)), 1) },
        ratio: round(median(flags.defaults) / median(flags.agent)),
        goal: '≥ 0.95× default flags',
        met: median(flags.defaults) / median(flags.agent) >= 0.95,
        note: `readObjectToFile in fresh child processes (a cold download, as the agent's are), alternating, timed inside the child: ${AGENT_NODE_FLAGS.join(' ')} ${Object.entries(AGENT_MALLOC_ENV).map(([k, v]) => `${k}=${v}`).join(' ')}: runs ${runs(flags.agent)} MiB/s; defaults: runs ${runs(flags.defaults)} MiB/s`,
      },
    ];
  } finally {
    await nc?.close().catch(() => undefined);
    await nats.stop();
    tmp.remove();
  }
}

/**
 * `rollout start --max-rate`: the same download paced to a rate well under what the path reaches
 * unpaced (a quarter of it, at most 25 MiB/s), so that the figure is the pacing's and not the
 * machine's. The rate achieved is compared with the rate asked for; the issue's goal is ± 20%.
 */
async function pacedDownload(conn: NatsConnection, cfg: { dest: string; size: number; sha256: string; unpacedMiBs: number }): Promise<BenchResult> {
  const askedMiBs = Math.max(1, Math.min(25, Math.floor(cfg.unpacedMiBs / 4)));
  const achieved: number[] = [];
  for (let i = 0; i < 2; i++) {
    const t = performance.now();
    const r = await readObjectToFile(conn, { bucket: BUCKET, name: OBJECT, dest: cfg.dest, expectedSize: cfg.size, expectedSha256: cfg.sha256, durable: false, maxBytesPerSecond: askedMiBs * MiB });
    achieved.push(mibPerSec(cfg.size, performance.now() - t));
    rmSync(cfg.dest, { force: true });
    if (r.sha256 !== cfg.sha256) throw new Error('paced read returned the wrong object');
  }
  const rate = median(achieved);
  const ratio = rate / askedMiBs;
  return {
    name: `Fetch a ${Math.round(cfg.size / MiB)} MiB package at --max-rate`,
    metric: 'rate achieved vs --max-rate',
    value: round(rate, 1),
    unit: 'MiB/s',
    baseline: { name: `--max-rate ${askedMiBs}MiB/s (a quarter of the unpaced rate, at most 25)`, value: askedMiBs },
    ratio: round(ratio),
    goal: '0.8–1.2× the rate',
    met: ratio >= 0.8 && ratio <= 1.2,
    note: `readObjectToFile with maxBytesPerSecond, as the agent downloads under --max-rate: runs ${achieved.map((m) => round(m, 1)).join('/')} MiB/s; unpaced ${round(cfg.unpacedMiBs, 0)} MiB/s`,
  };
}

/** Baseline with the same work as Ferry's path: the raw ordered consumer, hashing every chunk and writing it (with backpressure). */
async function rawOrderedReadToFile(nc: NatsConnection, bucket: string, info: { nuid: string; size: number }, dest: string): Promise<string> {
  const js = jetstream(nc);
  const consumer = await js.consumers.get(`OBJ_${bucket}`, { filter_subjects: `$O.${bucket}.C.${info.nuid}` });
  const iter = await consumer.consume({ max_messages: 8 }); // as rawOrderedRead (util.ts)
  const hash = createHash('sha256');
  const sink = createWriteStream(dest);
  let bytes = 0;
  try {
    for await (const m of iter) {
      bytes += m.data.length;
      hash.update(m.data);
      if (!sink.write(m.data)) await new Promise<void>((r) => sink.once('drain', () => r()));
      if (bytes >= info.size) break;
    }
  } finally {
    await iter.close().catch(() => undefined);
    sink.end();
    await finished(sink);
  }
  if (bytes !== info.size) throw new Error(`raw read got ${bytes} bytes, expected ${info.size}`);
  return hash.digest('hex');
}

/** The same download in child processes with the agent's V8 flags and with none, alternating (one warm-up pair). */
async function compareFlags(url: string, cfg: { bucket: string; object: string; dest: string; size: number; sha256: string }): Promise<{ agent: number[]; defaults: number[] }> {
  const script = fileURLToPath(new URL('./fetch-child.js', import.meta.url));
  const once = (flags: readonly string[], env: Record<string, string>) =>
    new Promise<number>((resolve, reject) => {
      const child = spawn(process.execPath, [...flags, script, JSON.stringify({ url, ...cfg })], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.once('error', reject);
      child.once('close', () => {
        try {
          const r = JSON.parse(out.trim().split('\n').pop() ?? '') as { ok: boolean; ms: number; error?: string };
          if (!r.ok) throw new Error(r.error);
          resolve(r.ms);
        } catch (err) {
          reject(new Error(`fetch child failed: ${err instanceof Error ? err.message : String(err)}`));
        }
      });
    });
  const agent: number[] = [];
  const defaults: number[] = [];
  for (let i = 0; i < WARMUPS + FLAG_RUNS; i++) {
    const a = await once(AGENT_NODE_FLAGS, { ...AGENT_MALLOC_ENV });
    const d = await once([], {});
    if (i >= WARMUPS) {
      agent.push(a);
      defaults.push(d);
    }
    debug(`fetch flags round ${i + 1}: agent ${a.toFixed(0)} ms, defaults ${d.toFixed(0)} ms`);
  }
  return { agent, defaults };
}

/** Read every byte through ObjectStore.get() (which checks the digest at the end). */
async function osGetAll(os: ObjectStore, size: number): Promise<void> {
  const r = await os.get(OBJECT);
  if (!r) throw new Error('object not found');
  const reader = r.data.getReader();
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.length;
  }
  const err = await r.error;
  if (err) throw err;
  if (n !== size) throw new Error(`os.get read ${n} bytes, expected ${size}`);
}

/** Run with the library's default SHA-256 backend ("js"), restoring any other selection afterwards. */
async function withDefaultSha256<T>(fn: () => Promise<T>): Promise<T> {
  const before = getSha256Backend();
  if (before === 'js') return fn();
  setSha256Backend('js');
  try {
    return await fn();
  } finally {
    setSha256Backend(before);
  }
}
