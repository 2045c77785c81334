// Helpers shared by the data-path benchmarks: object upload, the raw-consumer baseline,
// timing, RSS sampling, data generation and temp directories.
import { randomFillSync } from 'node:crypto';
import { createReadStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { jetstream } from '@nats-io/jetstream';
import { getSha256Backend, Objm, setSha256Backend, type ObjectInfo, type ObjectStore } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';

export const MiB = 1024 * 1024;
/** Like the DML (server/dml/service.ts OBJECT_CHUNK_BYTES). */
export const CHUNK_BYTES = MiB;

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export const round = (x: number, digits = 2): number => Number(x.toFixed(digits));

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, value };
}

const liveDirs = new Set<string>();
let exitHook = false;

/** A fresh temporary directory (in `base`, the system's by default); removed by remove(), or at process exit if still there. */
export function tempDir(prefix: string, base = tmpdir()): { path: string; remove(): void } {
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
    });
  }
  const path = mkdtempSync(join(base, `ferry-bench-${prefix}-`));
  liveDirs.add(path);
  return {
    path,
    remove: () => {
      rmSync(path, { recursive: true, force: true });
      liveDirs.delete(path);
    },
  };
}

/** Create the bucket like DmlService.open() does (Objm.create; file storage, direct gets allowed). */
export async function createBucket(nc: NatsConnection, bucket: string): Promise<ObjectStore> {
  return new Objm(nc).create(bucket, { description: 'ferry benchmark bucket' });
}

/**
 * Put an object with 1 MiB chunks. Uses the native SHA-256 backend for the upload only (setup
 * speed; the benchmarks measure reads), then restores whatever backend was selected before.
 */
export async function putObject(os: ObjectStore, name: string, data: ReadableStream<Uint8Array>): Promise<ObjectInfo> {
  const before = getSha256Backend();
  setSha256Backend('native');
  try {
    return await os.put({ name, options: { max_chunk_size: CHUNK_BYTES } }, data);
  } finally {
    setSha256Backend(before);
  }
}

export function fileStream(file: string): ReadableStream<Uint8Array> {
  return Readable.toWeb(createReadStream(file, { highWaterMark: CHUNK_BYTES })) as ReadableStream<Uint8Array>;
}

/** `size` pseudo-random, incompressible bytes as a web stream of 1 MiB chunks. */
export function randomStream(size: number): ReadableStream<Uint8Array> {
  let left = size;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (left <= 0) return controller.close();
      const n = Math.min(CHUNK_BYTES, left);
      left -= n;
      controller.enqueue(randomFillSync(Buffer.allocUnsafe(n)));
    },
  });
}

/**
 * Write `size` moderately compressible bytes: 64 KiB blocks of half random bytes and half
 * log-like text (gzip -6 shrinks the whole to roughly 55 %, doing real work on both halves).
 */
export async function writeMixedFile(file: string, size: number, seed: number): Promise<void> {
  const fh = await open(file, 'wx');
  const block = Buffer.allocUnsafe(64 * 1024);
  const half = block.length / 2;
  try {
    let done = 0;
    let line = seed * 1_000_000;
    while (done < size) {
      randomFillSync(block, 0, half);
      let off = half;
      while (off < block.length) {
        const text = `2024-05-01T12:${String(line % 60).padStart(2, '0')}:00Z host-${line % 97} service=api level=info msg="request served" id=${line} status=200 bytes=${(line * 7919) % 65536}\n`;
        off += block.write(text, off, 'latin1');
        line++;
      }
      const n = Math.min(block.length, size - done);
      await fh.write(block, 0, n);
      done += n;
    }
  } finally {
    await fh.close();
  }
}

/**
 * Baseline reader: a raw JetStream ordered (pull) consumer over the object's chunk subject,
 * counting bytes only — no hashing, no disk, no ordering checks beyond the library's own.
 * The consumer is ephemeral: the server removes it once idle.
 */
export async function rawOrderedRead(nc: NatsConnection, bucket: string, info: { nuid: string; size: number }): Promise<number> {
  const js = jetstream(nc);
  const consumer = await js.consumers.get(`OBJ_${bucket}`, { filter_subjects: `$O.${bucket}.C.${info.nuid}` });
  // 8 messages per pull = 8 MiB in flight, like Ferry's window of 8 direct gets. (With the
  // default, 100 messages = 100 MiB per pull, repeated 100 MiB reads stalled for good: the server
  // reported 100 delivered, the client had 70. 8 was also the fastest of 8/16/32 messages and
  // 16/32 MiB per pull.)
  const iter = await consumer.consume({ max_messages: 8 });
  let bytes = 0;
  try {
    for await (const m of iter) {
      bytes += m.data.length;
      if (bytes >= info.size) break;
    }
  } finally {
    await iter.close().catch(() => undefined);
  }
  if (bytes !== info.size) throw new Error(`raw read got ${bytes} bytes, expected ${info.size}`);
  return bytes;
}

/** CPU time in ms (user + system, plus reaped children) of a process, from /proc/<pid>/stat. */
export function cpuMs(pid: number | 'self' = 'self'): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
    const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]); // utime stime cutime cstime
    return (ticks * 1000) / CLOCK_TICKS;
  } catch {
    return Number.NaN; // not Linux
  }
}
const CLOCK_TICKS = 100; // sysconf(_SC_CLK_TCK) on Linux

export interface Timings {
  /** wall-clock milliseconds per timed run */
  ms: number[];
  /** CPU ms of this process (and children it waited for) per run */
  cpu: number[];
  /** CPU ms of the nats-server per run, when its pid was given */
  serverCpu: number[];
}

/**
 * Time several paths in interleaved rounds (A B C, A B C, …) so that load from other processes
 * on the machine hits every path alike; the first `warmups` rounds are discarded. CPU time is
 * recorded too: on a busy machine it is steadier than wall time.
 */
export async function interleave<K extends string>(
  runs: number,
  warmups: number,
  paths: Record<K, { fn: () => Promise<unknown>; after?: () => Promise<void> | void }>,
  serverPid?: number,
): Promise<Record<K, Timings>> {
  const keys = Object.keys(paths) as K[];
  const out = Object.fromEntries(keys.map((k) => [k, { ms: [], cpu: [], serverCpu: [] } as Timings])) as Record<K, Timings>;
  for (let i = 0; i < warmups + runs; i++) {
    for (const k of keys) {
      const c0 = cpuMs();
      const s0 = serverPid ? cpuMs(serverPid) : Number.NaN;
      const { ms } = await timed(paths[k].fn);
      const cpu = cpuMs() - c0;
      const serverCpu = serverPid ? cpuMs(serverPid) - s0 : Number.NaN;
      if (i >= warmups) {
        out[k].ms.push(ms);
        out[k].cpu.push(cpu);
        out[k].serverCpu.push(serverCpu);
      }
      await paths[k].after?.();
      debug(`${k} round ${i + 1}: ${ms.toFixed(0)} ms, cpu ${cpu.toFixed(0)} ms, server cpu ${serverCpu.toFixed(0)} ms`);
    }
  }
  return out;
}

/** e.g. "cpu 310 ms + server 190 ms" (medians) */
export function cpuNote(t: Timings): string {
  const server = median(t.serverCpu);
  return `cpu ${Math.round(median(t.cpu))} ms${Number.isNaN(server) ? '' : ` + server ${Math.round(server)} ms`}`;
}

export interface LoadSample {
  /** highest 1-minute load average seen while the figure was measured */
  max: number;
  cores: number;
  /** the load was above the core count: other work competed with the figure */
  busy: boolean;
}

/**
 * Samples the 1-minute load average every second (and at start and stop): stop() gives the
 * highest, and whether it exceeded the number of cores (a busy machine — figures then move).
 * The benchmark's own processes count too, as they would for any load-average reading.
 */
export function loadTracker(): { stop(): LoadSample } {
  const cores = availableParallelism();
  let max = loadavg()[0]!;
  const timer = setInterval(() => (max = Math.max(max, loadavg()[0]!)), 1000);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      max = Math.max(max, loadavg()[0]!);
      return { max: round(max, 1), cores, busy: max > cores };
    },
  };
}

/** Load average and CPU count, to judge how busy the machine was. */
export function loadNote(): string {
  return `load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} on ${availableParallelism()} CPUs`;
}

/** Samples process.memoryUsage().rss every `everyMs`; stop() returns the peak in bytes. */
export function rssSampler(everyMs = 50): { stop(): number } {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, process.memoryUsage().rss);
    },
  };
}

export const mibPerSec = (bytes: number, ms: number): number => bytes / MiB / (ms / 1000);

/** Progress lines on stderr when FERRY_BENCH_DEBUG is set. */
export function debug(msg: string): void {
  if (process.env.FERRY_BENCH_DEBUG) process.stderr.write(`[bench ${new Date().toISOString().slice(11, 23)}] ${msg}\n`);
}
