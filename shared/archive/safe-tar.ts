// Streams a gzip tar file through node-tar's Parser without trusting it: the one reading loop
// behind `.ferry` packages (shared/package/read.ts) and server backups. The caller decides what
// each entry may be; this module owns the mechanics every hardened reader needs.
//
// node-tar's Parser is used only as a synchronous tokenizer: we gunzip ourselves (so we can
// measure the compression ratio and refuse nested compression, which Parser would happily
// sniff and unpack), feed it one chunk at a time, and run the disk work that chunk produced
// before reading the next. Because entries are consumed synchronously, the queue never holds
// more than one chunk's work.

import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { ReadEntry } from 'tar';
import { FerryError } from '../errors.js';
import { archiveUnsafe, quoted } from './entries.js';

/** Small archives legitimately compress far better than 200:1 (a few headers, lots of padding). */
const RATIO_GRACE_BYTES = 1024 * 1024;

/** What an entry handler can do to the read in progress. */
export interface TarReading {
  /** Queue disk work; it runs in order before the next chunk is read. Its errors are the destination's, not the archive's. */
  queue(work: () => Promise<void>): void;
  /** Record a problem with the archive; the first one wins, later entries are skipped and the read stops. */
  fail(e: unknown): void;
  /** Stop reading: whatever follows is ignored. */
  stop(): void;
  readonly failed: boolean;
}

/** Limits on inflation, checked before the parser sees a byte. */
export interface InflationGuard {
  /** inflated:compressed ratio above which the archive is refused as a likely gzip bomb */
  maxRatio: number;
  /** inflated bytes above which the archive is refused */
  maxBytes: number;
  /** the error for a tar that is itself gzipped */
  nestedGzip(): FerryError;
}

export interface GzipTarOptions {
  /** read and inflate this many bytes at a time */
  chunkBytes: number;
  /** called for each entry in order, unless the read has failed or stopped; may throw a FerryError */
  onEntry(entry: ReadEntry, reading: TarReading): void;
  /** the error for a parser error or any non-Ferry problem an entry handler reports */
  corrupt(detail: string): FerryError;
  /** the error for a file that cannot be read or inflated at all (missing, not gzip, I/O error) */
  unreadable(e: NodeJS.ErrnoException): FerryError;
  inflation?: InflationGuard;
}

/**
 * Reads `file` to its end-of-archive marker (or until stopped), handing each entry to
 * `onEntry` and running the work it queues. Throws the archive's first problem as a
 * FerryError, or a queued job's own error unchanged.
 */
export async function readGzipTar(file: string, options: GzipTarOptions): Promise<void> {
  let failure: FerryError | undefined;
  let stopped = false;
  const work: Array<() => Promise<void>> = [];
  const reading: TarReading = {
    queue: (job) => void work.push(job),
    fail: (e) => {
      failure ??= e instanceof FerryError ? e : options.corrupt(e instanceof Error ? e.message : String(e));
    },
    stop: () => {
      stopped = true;
    },
    get failed() {
      return failure !== undefined;
    },
  };

  // node-tar is loaded on first use: a daemon that reads no package never loads it.
  const { Parser } = await import('tar');
  const parser = new Parser({ strict: true, zstd: false, brotli: false });
  parser.on('entry', (entry: ReadEntry) => {
    try {
      if (!failure && !stopped) options.onEntry(entry, reading);
    } catch (e) {
      reading.fail(e);
    }
    // Entries start paused and the parser waits for each to end: always let them flow.
    entry.resume();
  });
  parser.on('ignoredEntry', (entry: ReadEntry) => {
    reading.fail(archiveUnsafe(entry.meta ? `oversized ${entry.type} header before ${quoted(entry.path)}` : `entry ${quoted(entry.path)} has unsupported type ${entry.type}`));
  });
  parser.on('error', (e: Error) => reading.fail(options.corrupt(e.message)));
  // Anything after the end-of-archive marker is ignored by every tar; stop reading there
  // rather than let the parser buffer trailing bytes.
  parser.on('eof', () => reading.stop());

  // Errors of queued work (ENOSPC, EACCES…) are the destination's fault, not the archive's:
  // keep them apart so they are not reported as a corrupt archive.
  let workError: unknown;
  const drain = async (): Promise<void> => {
    while (work.length > 0) {
      if (failure) throw failure;
      await work.shift()!().catch((e: unknown) => {
        throw (workError = e);
      });
    }
    if (failure) throw failure;
  };

  let compressed = 0;
  let inflated = 0;
  const checkInflation = (chunk: Buffer, guard: InflationGuard): void => {
    if (inflated === 0 && chunk.length >= 2 && chunk[0] === 0x1f && chunk[1] === 0x8b) throw guard.nestedGzip();
    inflated += chunk.length;
    if (inflated > RATIO_GRACE_BYTES && inflated / compressed > guard.maxRatio) {
      throw archiveUnsafe(`decompression ratio over ${guard.maxRatio}:1 after ${inflated} bytes (likely a gzip bomb)`);
    }
    if (inflated > guard.maxBytes) throw archiveUnsafe(`archive inflates beyond ${guard.maxBytes} bytes`);
  };

  try {
    await pipeline(
      createReadStream(file, { highWaterMark: options.chunkBytes }),
      async function* countCompressed(src: AsyncIterable<Buffer>) {
        for await (const c of src) {
          compressed += c.length;
          yield c;
        }
      },
      createGunzip({ chunkSize: options.chunkBytes }),
      async function feed(src: AsyncIterable<Buffer>) {
        for await (const c of src) {
          if (options.inflation) checkInflation(c, options.inflation);
          parser.write(c);
          await drain();
          if (stopped) return;
        }
        parser.end();
        await drain();
      },
    );
  } catch (e) {
    if (failure) throw failure;
    if (e instanceof FerryError || e === workError) throw e;
    // Once stopped, the rest of the file is irrelevant (and closing it early may complain).
    if (!stopped) throw options.unreadable(e as NodeJS.ErrnoException);
  }
  if (failure) throw failure;
}
