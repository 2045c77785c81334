import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, headers, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { createUser } from '@nats-io/nkeys';
import { startTestNats, type TestNats } from '../../test/helpers/nats.js';
import { FerryError } from '../errors.js';
import {
  enableDirectGet,
  objectMetaSubject,
  objectStreamName,
  readObjectMeta,
  readObjectToFile,
  readObjectToStream,
} from './object-read.js';
import { RatePacer } from './pacer.js';

const MiB = 1024 * 1024;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function expectFerry(p: Promise<unknown>, code: string): Promise<FerryError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FerryError);
  expect((err as FerryError).code).toBe(code);
  expect((err as FerryError).message).not.toContain('\n');
  return err as FerryError;
}

/** First sequence holding a chunk of the object, by direct get (test-side inspection). */
async function firstChunkSeq(nc: NatsConnection, bucket: string, nuid: string): Promise<number> {
  const m = await nc.request(`$JS.API.DIRECT.GET.${objectStreamName(bucket)}`, JSON.stringify({ seq: 1, next_by_subj: `$O.${bucket}.C.${nuid}` }));
  return Number(m.headers?.get('Nats-Sequence'));
}

describe('object-read (plain server)', () => {
  let server: TestNats;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let os: ObjectStore;
  let dir: string;

  beforeAll(async () => {
    server = await startTestNats();
    nc = await connect({ servers: server.url });
    js = jetstream(nc);
    os = await new Objm(js).create('files');
    dir = mkdtempSync(join(tmpdir(), 'ferry-objread-'));
  });
  afterAll(async () => {
    await nc?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('buckets made by @nats-io/obj allow direct get; enableDirectGet turns it on otherwise', async () => {
    const jsm = await jetstreamManager(nc);
    expect((await jsm.streams.info(objectStreamName('files'))).config.allow_direct).toBe(true);
    await jsm.streams.add({ name: 'PLAIN', subjects: ['plain.>'], allow_direct: false });
    expect((await jsm.streams.info('PLAIN')).config.allow_direct).toBe(false);
    await enableDirectGet(jsm, 'PLAIN');
    await enableDirectGet(jsm, 'PLAIN'); // idempotent
    expect((await jsm.streams.info('PLAIN')).config.allow_direct).toBe(true);
    await expectFerry(enableDirectGet(jsm, 'NOPE'), 'FERRY_NOT_FOUND');
  });

  const cases: Array<[string, number, number]> = [
    ['empty', 0, 128 * 1024],
    ['one byte', 1, 128 * 1024],
    ['exactly one chunk', 128 * 1024, 128 * 1024],
    ['several chunks', 5 * 128 * 1024 + 17, 128 * 1024],
    ['20 MiB in 1 MiB chunks', 20 * MiB + 3, MiB],
  ];
  for (const [label, size, chunk] of cases) {
    it(`round-trips ${label} (${size} bytes)`, async () => {
      const data = randomBytes(size);
      const name = `obj/${label}`;
      const info = await os.putBlob({ name, options: { max_chunk_size: chunk } }, data);
      const meta = await readObjectMeta(nc, 'files', name);
      expect(meta).toMatchObject({ name, nuid: info.nuid, size, chunks: info.chunks, digest: info.digest, sha256Hex: sha256(data) });

      const dest = join(dir, `out-${size}`);
      const progress: number[] = [];
      const started = performance.now();
      const res = await readObjectToFile(nc, { bucket: 'files', name, dest, expectedSize: size, expectedSha256: sha256(data).toUpperCase(), onProgress: (d) => progress.push(d) });
      const secs = (performance.now() - started) / 1000;
      if (size >= MiB) console.log(`object-read: ${(size / MiB).toFixed(1)} MiB in ${secs.toFixed(3)}s = ${(size / MiB / secs).toFixed(0)} MiB/s`);
      expect(res).toEqual({ size, sha256: sha256(data) });
      expect(Buffer.compare(readFileSync(dest), data)).toBe(0);
      expect(existsSync(`${dest}.part`)).toBe(false);
      expect(progress.length).toBe(info.chunks);
      if (size > 0) expect(progress.at(-1)).toBe(size);
    });
  }

  it('reads with window 1 and respects a slow sink’s backpressure', async () => {
    const data = randomBytes(16 * 64 * 1024);
    await os.putBlob({ name: 'slow', options: { max_chunk_size: 64 * 1024 } }, data);
    const parts: Buffer[] = [];
    let maxQueued = 0;
    const sink = new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _enc, cb) {
        parts.push(Buffer.from(chunk));
        setTimeout(cb, 5);
      },
    });
    const origWrite = sink.write.bind(sink);
    sink.write = ((chunk: Buffer) => {
      const ok = origWrite(chunk);
      maxQueued = Math.max(maxQueued, sink.writableLength);
      return ok;
    }) as typeof sink.write;
    for (const window of [8, 1]) {
      parts.length = 0;
      const res = await readObjectToStream(nc, { bucket: 'files', name: 'slow', sink, window });
      expect(res.sha256).toBe(sha256(data));
      await new Promise((r) => setTimeout(r, 10));
      expect(Buffer.compare(Buffer.concat(parts), data)).toBe(0);
    }
    expect(maxQueued).toBeLessThanOrEqual(64 * 1024);
  });

  it('--max-rate: never more bytes than the rate allows (plus the chunk in flight), and the bytes are right', async () => {
    const chunk = 256 * 1024;
    // 10 MiB and one byte at 4 MiB/s: 41 chunks, the last (one byte) asked for after 40 full ones took
    // 2.5 s. A short last chunk must not speed up the others (pacing by an average chunk did).
    const data = randomBytes(40 * chunk + 1);
    await os.putBlob({ name: 'paced', options: { max_chunk_size: chunk } }, data);
    const rate = 4 * MiB;
    const started = Date.now();
    const overRate: string[] = [];
    const dest = join(dir, 'paced.out');
    const res = await readObjectToFile(nc, {
      bucket: 'files',
      name: 'paced',
      dest,
      maxBytesPerSecond: rate,
      onProgress: (bytes) => {
        const allowed = (rate * (Date.now() - started)) / 1000 + chunk;
        if (bytes > allowed) overRate.push(`${bytes} bytes after ${Date.now() - started} ms`);
      },
    });
    const elapsed = Date.now() - started;
    expect(overRate).toEqual([]);
    expect(elapsed).toBeGreaterThanOrEqual((40 * chunk * 1000) / rate);
    expect(res.sha256).toBe(sha256(data));
    expect(Buffer.compare(readFileSync(dest), data)).toBe(0);
  });

  it('--max-rate with a shared pacer: many one-chunk objects together keep to the rate (each read alone never waited)', async () => {
    const size = 64 * 1024;
    const objects = Array.from({ length: 12 }, (_, i) => ({ name: `small/${i}`, data: randomBytes(size) }));
    for (const o of objects) await os.putBlob({ name: o.name, options: { max_chunk_size: MiB } }, o.data);
    const rate = MiB;
    const pacer = new RatePacer(rate);
    const started = Date.now();
    let total = 0;
    const overRate: string[] = [];
    for (const o of objects) {
      const before = total;
      const res = await readObjectToFile(nc, {
        bucket: 'files',
        name: o.name,
        dest: join(dir, 'small.out'),
        pacer,
        onProgress: (bytes) => {
          // Never more than the rate allows plus the one request in flight.
          const allowed = (rate * (Date.now() - started)) / 1000 + size;
          if (before + bytes > allowed) overRate.push(`${before + bytes} bytes after ${Date.now() - started} ms`);
        },
      });
      expect(res.sha256).toBe(sha256(o.data));
      total += res.size;
    }
    expect(overRate).toEqual([]);
    // The last object is asked for only once the eleven before it are paid for.
    expect(Date.now() - started).toBeGreaterThanOrEqual(((total - size) * 1000) / rate);
  });

  it('reads objects whose chunks interleave with another put', async () => {
    const a = randomBytes(40 * 32 * 1024 + 5);
    const b = randomBytes(40 * 32 * 1024 + 9);
    const [ia, ib] = await Promise.all([
      os.putBlob({ name: 'inter/a', options: { max_chunk_size: 32 * 1024 } }, a),
      os.putBlob({ name: 'inter/b', options: { max_chunk_size: 32 * 1024 } }, b),
    ]);
    // Prove the chunks really interleave: b's first chunk sits inside a's span (or vice versa).
    const [sa, sb] = [await firstChunkSeq(nc, 'files', ia.nuid), await firstChunkSeq(nc, 'files', ib.nuid)];
    expect(Math.abs(sa - sb)).toBeLessThan(Math.max(ia.chunks, ib.chunks));
    for (const [name, data] of [['inter/a', a], ['inter/b', b]] as const) {
      for (const window of [8, 3, 1]) {
        const dest = join(dir, `inter-${window}`);
        const res = await readObjectToFile(nc, { bucket: 'files', name, dest, window });
        expect(res.sha256).toBe(sha256(data));
        expect(Buffer.compare(readFileSync(dest), data)).toBe(0);
      }
    }
  });

  it('encodes names exactly like @nats-io/obj', async () => {
    for (const name of ['plain', 'with space/and.dots', 'héllo wörld', '??>>']) {
      const data = randomBytes(100);
      await os.putBlob({ name }, data);
      expect((await readObjectMeta(nc, 'files', name)).sha256Hex).toBe(sha256(data));
    }
    expect(objectMetaSubject('b', 'plain')).toBe('$O.b.M.cGxhaW4=');
  });

  it('rejects a tampered metadata digest and an unexpected sha256, leaving no files', async () => {
    const data = randomBytes(300 * 1024);
    const info = await os.putBlob({ name: 'tamper', options: { max_chunk_size: 128 * 1024 } }, data);
    const dest = join(dir, 'tampered');

    await expectFerry(readObjectToFile(nc, { bucket: 'files', name: 'tamper', dest, expectedSha256: sha256(randomBytes(8)) }), 'FERRY_DIGEST_MISMATCH');
    expect(existsSync(dest) || existsSync(`${dest}.part`)).toBe(false);
    await expectFerry(readObjectToFile(nc, { bucket: 'files', name: 'tamper', dest, expectedSize: data.length + 1 }), 'FERRY_DIGEST_MISMATCH');

    const raw = await nc.request(`$JS.API.DIRECT.GET.OBJ_files.${objectMetaSubject('files', 'tamper')}`);
    const meta = raw.json<Record<string, unknown>>();
    const h = headers();
    h.set('Nats-Rollup', 'sub');
    const wrong = `SHA-256=${createHash('sha256').update('not it').digest('base64url')}=`;
    await js.publish(objectMetaSubject('files', 'tamper'), JSON.stringify({ ...meta, digest: wrong }), { headers: h });
    expect((await os.info('tamper'))?.digest).toBe(wrong);
    const err = await expectFerry(readObjectToFile(nc, { bucket: 'files', name: 'tamper', dest }), 'FERRY_DIGEST_MISMATCH');
    expect(err.message).toContain(sha256(data));
    expect(existsSync(dest) || existsSync(`${dest}.part`)).toBe(false);

    // Metadata claiming fewer bytes than the chunks hold stops the read early.
    await js.publish(objectMetaSubject('files', 'tamper'), JSON.stringify({ ...meta, size: 1000 }), { headers: h });
    await expectFerry(readObjectToFile(nc, { bucket: 'files', name: 'tamper', dest }), 'FERRY_DIGEST_MISMATCH');
    // Metadata claiming more chunks than exist: the missing chunk is reported.
    await js.publish(objectMetaSubject('files', 'tamper'), JSON.stringify({ ...meta, chunks: info.chunks + 1 }), { headers: h });
    await expectFerry(readObjectToFile(nc, { bucket: 'files', name: 'tamper', dest }), 'FERRY_NOT_FOUND');
    expect(existsSync(dest) || existsSync(`${dest}.part`)).toBe(false);
  });

  it('reports missing and deleted objects as FERRY_NOT_FOUND, a missing bucket as FERRY_TIMEOUT', async () => {
    const dest = join(dir, 'missing');
    await expectFerry(readObjectToFile(nc, { bucket: 'files', name: 'no-such-object', dest }), 'FERRY_NOT_FOUND');
    expect(existsSync(`${dest}.part`)).toBe(false);
    await os.putBlob({ name: 'gone' }, randomBytes(10));
    await os.delete('gone');
    await expectFerry(readObjectMeta(nc, 'files', 'gone'), 'FERRY_NOT_FOUND');
    await expectFerry(readObjectMeta(nc, 'no-bucket', 'x', 300), 'FERRY_TIMEOUT');
    await os.putBlob({ name: 'here' }, randomBytes(10));
    await expectFerry(readObjectToFile(nc, { bucket: 'files', name: 'here', dest: join(dir, 'no-dir', 'x') }), 'FERRY_INTERNAL');
  });
});

describe('object-read (restricted reader)', () => {
  const admin = createUser();
  const reader = createUser();
  let server: TestNats;
  let adminNc: NatsConnection;
  let readerNc: NatsConnection;
  let dir: string;

  beforeAll(async () => {
    server = await startTestNats({
      config: `accounts { A { jetstream: enabled, users: [
        { nkey: ${admin.getPublicKey()} },
        { nkey: ${reader.getPublicKey()}, permissions: {
            publish: { allow: ["$JS.API.INFO", "$JS.API.DIRECT.GET.OBJ_dml", "$JS.API.DIRECT.GET.OBJ_dml.>"] },
            subscribe: { allow: ["_INBOX_reader.>"] } } }
      ] } }`,
    });
    adminNc = await connect({ servers: server.url, authenticator: nkeyAuthenticator(admin.getSeed()) });
    readerNc = await connect({ servers: server.url, authenticator: nkeyAuthenticator(reader.getSeed()), inboxPrefix: '_INBOX_reader' });
    dir = mkdtempSync(join(tmpdir(), 'ferry-objread-'));
  });
  afterAll(async () => {
    await readerNc?.close();
    await adminNc?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads with direct gets only and cannot create a consumer', async () => {
    const os = await new Objm(jetstream(adminNc)).create('dml');
    const data = randomBytes(3 * MiB + 11);
    await os.putBlob({ name: 'pkg.tgz', options: { max_chunk_size: 256 * 1024 } }, data);

    const dest = join(dir, 'pkg.tgz');
    const res = await readObjectToFile(readerNc, { bucket: 'dml', name: 'pkg.tgz', dest, expectedSha256: sha256(data) });
    expect(res).toEqual({ size: data.length, sha256: sha256(data) });
    expect(Buffer.compare(readFileSync(dest), data)).toBe(0);

    const jsm = await jetstreamManager(readerNc, { timeout: 1000 });
    await expect(jsm.consumers.add('OBJ_dml', { filter_subject: '$O.dml.C.>' })).rejects.toThrow(/timeout|permission/i);
    const before = (await jetstreamManager(adminNc)).consumers.list('OBJ_dml');
    expect((await before.next()).length).toBe(0);
  });
});
