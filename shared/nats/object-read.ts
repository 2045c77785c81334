// Reads NATS Object Store objects (ADR-20 layout) using only JetStream direct gets: no
// consumers are created, so agents need publish rights on `$JS.API.DIRECT.GET.OBJ_<bucket>[.>]`
// and nothing else. Chunks are fetched with a window of pipelined requests, written in order
// with the sink's backpressure respected, and hashed with node:crypto as they arrive. Bytes are
// untrusted until the whole object's SHA-256 matches the metadata (and the caller's expectation).
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import { errors as natsErrors, type Msg, type NatsConnection } from '@nats-io/transport-node';
import type { JetStreamManager } from '@nats-io/jetstream';
import { FerryError, toFerryError } from '../errors.js';
import { RatePacer } from './pacer.js';

export interface ObjectReadOptions {
  bucket: string;
  name: string;
  /** Direct get requests in flight (default 8). */
  window?: number;
  /** Per request, in milliseconds (default 10 000). */
  timeoutMs?: number;
  onProgress?: (bytesDone: number, total: number) => void;
  /** pace the requests so the object arrives at about this many bytes per second (a WAN link is not saturated) */
  maxBytesPerSecond?: number;
  /** pace with this (shared) pacer instead: several reads held to one rate together (takes precedence over maxBytesPerSecond) */
  pacer?: RatePacer | undefined;
  /** the JetStream API to read through (default `$JS.API`; `$JS.<domain>.API` reads another domain's stream) */
  apiPrefix?: string;
}

export interface ObjectMeta {
  name: string;
  nuid: string;
  size: number;
  chunks: number;
  /** As stored, e.g. `SHA-256=<base64url>`. */
  digest: string;
  /** The digest decoded to lowercase hex. */
  sha256Hex: string;
  /** Bytes per chunk as stored (every chunk but the last), when the metadata says. */
  chunkSize?: number;
}

export interface ObjectReadResult {
  size: number;
  /** Lowercase hex. */
  sha256: string;
}

const DEFAULT_WINDOW = 8;
const DEFAULT_TIMEOUT_MS = 10_000;

export function objectStreamName(bucket: string): string {
  return `OBJ_${bucket}`;
}

/** Metadata subject, encoded exactly as @nats-io/obj does (btoa of the name → base64url, padded). */
export function objectMetaSubject(bucket: string, name: string): string {
  // The JS client uses btoa(name): one byte per UTF-16 unit, so only names ≤ U+00FF are encodable
  // there. For those we match it byte for byte; for anything wider we use UTF-8 (what Go does).
  const latin1 = /^[\u0000-\u00ff]*$/.test(name);
  const b64 = Buffer.from(name, latin1 ? 'latin1' : 'utf8').toString('base64');
  return `$O.${bucket}.M.${b64.replace(/\+/g, '-').replace(/\//g, '_')}`;
}

/** Make sure a stream answers direct gets (buckets made by @nats-io/obj already do). */
export async function enableDirectGet(jsm: JetStreamManager, stream: string): Promise<void> {
  try {
    const info = await jsm.streams.info(stream);
    if (info.config.allow_direct) return;
    await jsm.streams.update(stream, { ...info.config, allow_direct: true });
  } catch (err) {
    const message = oneLine(err);
    const code = /stream not found/i.test(message) ? 'FERRY_NOT_FOUND' : 'FERRY_NATS_FAILED';
    throw new FerryError(code, `cannot enable direct get on stream ${stream}: ${message}`, { cause: err });
  }
}

export async function readObjectMeta(
  nc: NatsConnection,
  bucket: string,
  name: string,
  timeoutMs = DEFAULT_TIMEOUT_MS,
  apiPrefix = '$JS.API',
): Promise<ObjectMeta> {
  const stream = objectStreamName(bucket);
  const what = `metadata of object "${name}" in bucket ${bucket}`;
  const msg = await directGet(nc, `${apiPrefix}.DIRECT.GET.${stream}.${objectMetaSubject(bucket, name)}`, undefined, timeoutMs, what);
  if (!msg) throw new FerryError('FERRY_NOT_FOUND', `object "${name}" not found in bucket ${bucket}`);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(Buffer.from(msg.data).toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new FerryError('FERRY_NATS_FAILED', `${what} is not valid JSON`);
  }
  if (raw === null || typeof raw !== 'object') throw new FerryError('FERRY_NATS_FAILED', `${what} is not an object`);
  if (raw.deleted === true) throw new FerryError('FERRY_NOT_FOUND', `object "${name}" in bucket ${bucket} is deleted`);
  const options = raw.options as { link?: unknown; max_chunk_size?: unknown } | undefined;
  if (options?.link) throw new FerryError('FERRY_NOT_FOUND', `object "${name}" in bucket ${bucket} is a link; links are not followed`);
  const { nuid, size, chunks, digest } = raw;
  const count = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (raw.name !== name || typeof nuid !== 'string' || !/^[A-Za-z0-9]+$/.test(nuid) || !count(size) || !count(chunks) || typeof digest !== 'string') {
    throw new FerryError('FERRY_NATS_FAILED', `${what} is malformed`);
  }
  const chunkSize = options?.max_chunk_size;
  return {
    name,
    nuid,
    size: size as number,
    chunks: chunks as number,
    digest,
    sha256Hex: decodeDigest(digest, what),
    ...(typeof chunkSize === 'number' && Number.isSafeInteger(chunkSize) && chunkSize > 0 ? { chunkSize } : {}),
  };
}

export async function readObjectToFile(
  nc: NatsConnection,
  /**
   * durable (default true): fsync before the rename. The agent passes false: a download that a
   * crash interrupts is discarded by its recovery anyway, and the fsync cost ~40% of the time.
   */
  opts: ObjectReadOptions & { dest: string; expectedSha256?: string; expectedSize?: number; durable?: boolean },
): Promise<ObjectReadResult> {
  const part = `${opts.dest}.part`;
  const sink = createWriteStream(part, { flags: 'w' });
  try {
    await once(sink, 'ready'); // surfaces open errors (e.g. a missing directory) before any request
    const result = await readObjectToStream(nc, { ...opts, sink });
    sink.end();
    await finished(sink);
    if (opts.durable !== false) {
      const fh = await open(part, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    await rename(part, opts.dest);
    return result;
  } catch (err) {
    sink.destroy();
    await finished(sink).catch(() => undefined);
    await rm(part, { force: true }).catch(() => undefined);
    throw toFerryError(err);
  }
}

/** Core reader: writes the object's bytes to `sink` in order (does not end it). */
export async function readObjectToStream(
  nc: NatsConnection,
  opts: ObjectReadOptions & { sink: Writable; expectedSha256?: string; expectedSize?: number },
): Promise<ObjectReadResult> {
  const { bucket, name, sink, onProgress } = opts;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const window = Math.max(1, Math.floor(opts.window ?? DEFAULT_WINDOW));
  const expectedSha = opts.expectedSha256?.toLowerCase();
  const label = `object "${name}" in bucket ${bucket}`;
  const apiPrefix = opts.apiPrefix ?? '$JS.API';
  const meta = await readObjectMeta(nc, bucket, name, timeoutMs, apiPrefix);
  if (opts.expectedSize !== undefined && opts.expectedSize !== meta.size) {
    throw new FerryError('FERRY_DIGEST_MISMATCH', `${label}: size ${meta.size} does not match the expected ${opts.expectedSize}`);
  }
  if (expectedSha !== undefined && expectedSha !== meta.sha256Hex) {
    throw new FerryError('FERRY_DIGEST_MISMATCH', `${label}: stored digest ${meta.sha256Hex} does not match the expected ${expectedSha}`);
  }

  const api = `${apiPrefix}.DIRECT.GET.${objectStreamName(bucket)}`;
  const chunkSubject = `$O.${bucket}.C.${meta.nuid}`;
  const hash = createHash('sha256');
  let sinkError: unknown;
  const onSinkError = (err: unknown) => (sinkError ??= err);
  sink.on('error', onSinkError);
  const fetch = (seq: number, index: number) =>
    directGet(nc, api, JSON.stringify({ seq, next_by_subj: chunkSubject }), timeoutMs, `chunk ${index + 1}/${meta.chunks} of ${label}`);
  type Pending = { seq: number; reply: Promise<Msg | null>; charged: number };
  const inflight: Pending[] = [];
  const discard = () => {
    for (const p of inflight) p.reply.catch(() => undefined);
    inflight.length = 0;
  };

  let bytes = 0;
  let received = 0;
  let lastSeq = 0; // sequence of the last accepted chunk
  let nextSeq = 1; // sequence to ask for next
  let width = 1; // the first chunk's position is unknown, so it is fetched alone
  // Paced: a chunk is asked for only once the bytes asked for before it (by this read and by any
  // other sharing the pacer) are paid for at the rate; it is charged its expected size, corrected
  // to the real size when it arrives — never faster than the rate.
  const pacer = opts.pacer ?? (opts.maxBytesPerSecond ? new RatePacer(opts.maxBytesPerSecond) : undefined);
  const chunkBytes = (index: number) =>
    meta.chunkSize ? Math.max(0, Math.min(meta.chunkSize, meta.size - index * meta.chunkSize)) : Math.ceil(meta.size / Math.max(1, meta.chunks));
  try {
    while (received < meta.chunks) {
      while (inflight.length < width && received + inflight.length < meta.chunks) {
        const index = received + inflight.length;
        let charged = 0;
        if (pacer) {
          if (pacer.delay() > 0 && inflight.length > 0) break; // take what is due first
          charged = chunkBytes(index);
          await pacer.acquire(charged);
        }
        inflight.push({ seq: nextSeq, reply: fetch(nextSeq, index), charged });
        nextSeq += 1;
      }
      const head = inflight.shift()!;
      const msg = await head.reply;
      if (!msg) {
        throw new FerryError('FERRY_NOT_FOUND', `${label}: chunk ${received + 1}/${meta.chunks} is missing (object replaced or deleted during the read?)`);
      }
      const seq = Number(msg.headers?.get('Nats-Sequence'));
      if (msg.headers?.get('Nats-Subject') !== chunkSubject || !Number.isSafeInteger(seq) || seq < head.seq || seq <= lastSeq) {
        throw new FerryError('FERRY_NATS_FAILED', `${label}: unexpected direct get reply for chunk ${received + 1} (sequence ${seq})`);
      }
      // Valid: head.seq was lastSeq + 1, so this is the first chunk after the previous one.
      bytes += msg.data.length;
      pacer?.take(msg.data.length - head.charged);
      if (bytes > meta.size) throw new FerryError('FERRY_DIGEST_MISMATCH', `${label}: more data than the ${meta.size} bytes recorded`);
      hash.update(msg.data);
      await writeChunk(sink, msg.data, () => sinkError);
      received += 1;
      lastSeq = seq;
      onProgress?.(bytes, meta.size);
      if (received === 1) {
        nextSeq = seq + 1; // found the first chunk: assume the rest follow it contiguously
        width = window;
      } else if (seq !== head.seq) {
        // A gap: chunks interleave with another put, so speculative replies are worthless;
        // go on one at a time from the last good sequence, widening again while contiguous.
        discard();
        nextSeq = seq + 1;
        width = 1;
      } else {
        width = Math.min(window, width * 2);
      }
    }
  } catch (err) {
    discard();
    throw err;
  } finally {
    sink.off('error', onSinkError);
  }

  const sha256 = hash.digest('hex');
  if (bytes !== meta.size) {
    throw new FerryError('FERRY_DIGEST_MISMATCH', `${label}: read ${bytes} bytes but the metadata records ${meta.size}`);
  }
  if (sha256 !== meta.sha256Hex) {
    throw new FerryError('FERRY_DIGEST_MISMATCH', `${label}: content SHA-256 ${sha256} does not match the stored digest ${meta.sha256Hex}`);
  }
  if (expectedSha !== undefined && sha256 !== expectedSha) {
    throw new FerryError('FERRY_DIGEST_MISMATCH', `${label}: content SHA-256 ${sha256} does not match the expected ${expectedSha}`);
  }
  return { size: bytes, sha256 };
}

async function writeChunk(sink: Writable, data: Uint8Array, failed: () => unknown): Promise<void> {
  const check = () => {
    const err = failed();
    if (err !== undefined) throw new FerryError('FERRY_INTERNAL', `write failed: ${oneLine(err)}`, { cause: err });
    if (sink.destroyed || sink.writableEnded) throw new FerryError('FERRY_INTERNAL', 'write failed: destination closed');
  };
  check();
  if (sink.write(data)) return;
  await new Promise<void>((resolve, reject) => {
    const done = (err?: unknown) => {
      sink.off('drain', onDrain).off('error', onError).off('close', onClose);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onDrain = () => done();
    const onError = (err: unknown) => done(err);
    const onClose = () => done(new Error('destination closed'));
    sink.on('drain', onDrain).on('error', onError).on('close', onClose);
  }).catch(() => undefined);
  check();
}

/** One direct get request; null when the message does not exist (404). */
export async function directGet(nc: NatsConnection, subject: string, body: string | undefined, timeoutMs: number, what: string): Promise<Msg | null> {
  let msg: Msg;
  try {
    msg = await nc.request(subject, body, { timeout: timeoutMs });
  } catch (err) {
    if (err instanceof natsErrors.TimeoutError) {
      throw new FerryError('FERRY_TIMEOUT', `timed out after ${timeoutMs}ms waiting for ${what}`, {
        cause: err,
        hint: 'the bucket may not exist, the stream may lack allow_direct, or the account may lack permission',
      });
    }
    throw new FerryError('FERRY_NATS_FAILED', `direct get of ${what} failed: ${oneLine(err)}`, { cause: err });
  }
  const code = msg.headers?.code ?? 0;
  if (code === 404) return null;
  if (code !== 0 && code !== 200) {
    throw new FerryError('FERRY_NATS_FAILED', `direct get of ${what} failed: ${code} ${oneLine(msg.headers?.description ?? '')}`);
  }
  return msg;
}

function decodeDigest(digest: string, what: string): string {
  const value = digest.startsWith('SHA-256=') ? digest.slice('SHA-256='.length) : undefined;
  if (value !== undefined && /^[0-9a-fA-F]{64}$/.test(value)) return value.toLowerCase();
  if (value !== undefined && /^[A-Za-z0-9\-_+/]{43}=?$/.test(value)) {
    return Buffer.from(value.replace(/\+/g, '-').replace(/\//g, '_'), 'base64url').toString('hex');
  }
  throw new FerryError('FERRY_NATS_FAILED', `${what} has an unsupported digest ${JSON.stringify(digest)}`);
}

function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
}
