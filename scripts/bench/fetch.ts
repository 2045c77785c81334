// "Fetch and verify a 100 MiB package" (quick: 20 MiB). Random bytes are stored in an Object
// Store bucket with 1 MiB chunks (as the DML does), then read three ways, each warmed up once
// and timed three times (median):
//   ferry   — readObjectToFile: pipelined direct gets, native SHA-256, written and fsynced to a file
//   raw     — baseline: a JetStream ordered pull consumer on $O.<bucket>.C.<nuid>, counting bytes only
//   os.get  — the client's ObjectStore.get() with its default (pure-JS) SHA-256, reading every byte
// plus, for diagnosis only, readObjectToStream into a file without the fsync, and into a
// discarding sink (no disk at all).
// The paths run in interleaved rounds so that load from other processes hits them alike.
import { createWriteStream, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { getSha256Backend, setSha256Backend, type ObjectStore } from '@nats-io/obj';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { readObjectToFile, readObjectToStream } from '../../shared/nats/object-read.js';
import { startBenchNats } from './nats.js';
import type { BenchOptions, BenchResult } from './result.js';
import { cpuNote, createBucket, debug, interleave, loadNote, median, mibPerSec, MiB, putObject, randomStream, rawOrderedRead, round, tempDir } from './util.js';

const BUCKET = 'bench-fetch';
const OBJECT = 'payload@1.0.0';
const RUNS = 3;
const WARMUPS = 1;

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
            const r = await readObjectToFile(conn, { bucket: BUCKET, name: OBJECT, dest, expectedSize: size });
            if (r.size !== size || r.sha256 !== sha256) throw new Error('readObjectToFile returned the wrong object');
          },
          after: () => rmSync(dest, { force: true }),
        },
        noSync: {
          fn: async () => {
            const sink = createWriteStream(dest);
            await readObjectToStream(conn, { bucket: BUCKET, name: OBJECT, sink });
            sink.end();
            await finished(sink);
          },
          after: () => rmSync(dest, { force: true }),
        },
        noDisk: { fn: () => readObjectToStream(conn, { bucket: BUCKET, name: OBJECT, sink: discard() }) },
        raw: { fn: () => rawOrderedRead(conn, BUCKET, info) },
        osGet: { fn: () => osGetAll(os, size) },
      }, nats.process.pid),
    );
    const [ferryMs, noSyncMs, noDiskMs, rawMs, osGetMs] = [times.ferry.ms, times.noSync.ms, times.noDisk.ms, times.raw.ms, times.osGet.ms];

    const ferry = mibPerSec(size, median(ferryMs));
    const raw = mibPerSec(size, median(rawMs));
    const osGet = mibPerSec(size, median(osGetMs));
    const noDisk = mibPerSec(size, median(noDiskMs));
    const noSync = mibPerSec(size, median(noSyncMs));
    const runs = (ms: number[]) => ms.map((m) => round(mibPerSec(size, m), 0)).join('/');
    return [
      {
        name,
        metric: 'throughput vs raw JetStream',
        value: round(ferry, 1),
        unit: 'MiB/s',
        baseline: { name: 'raw ordered consumer, no hash, no disk', value: round(raw, 1) },
        ratio: round(ferry / raw),
        goal: '≥ 0.7× raw',
        met: ferry / raw >= 0.7,
        note:
          `readObjectToFile (direct gets, window 8, native SHA-256, file + fsync): runs ${runs(ferryMs)} MiB/s, ${cpuNote(times.ferry)}; ` +
          `raw: runs ${runs(rawMs)} MiB/s, ${cpuNote(times.raw)}; ${loadNote()}`,
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
        metric: 'throughput, file without fsync (diagnostic)',
        value: round(noSync, 1),
        unit: 'MiB/s',
        baseline: { name: 'raw ordered consumer, no hash, no disk', value: round(raw, 1) },
        ratio: round(noSync / raw),
        note: `readObjectToFile minus its final fsync and rename (readObjectToStream into a WriteStream); runs ${runs(noSyncMs)} MiB/s, ${cpuNote(times.noSync)}`,
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
    ];
  } finally {
    await nc?.close().catch(() => undefined);
    await nats.stop();
    tmp.remove();
  }
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
