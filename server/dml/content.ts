// The DML's content-addressed side, for file-level deltas: every payload file of an accepted
// package is stored once per distinct content as `sha256/<hex>` in the DML bucket (shared by every
// version that has it), and each version gets a signed file index (`index/<name>@<version>`:
// manifest, directories, bound to the signed record's artifact SHA-256). The package object and
// its record are unchanged; agents that cannot use a delta download the package as before.
// A package's first version is stored whole only (see storesContent): no host can keep an earlier
// version to build a delta from, and a site's mirror then carries one copy of it, not two.
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { ObjectStore } from '@nats-io/obj';
import { Writable } from 'node:stream';
import type { NatsConnection } from '@nats-io/transport-node';
import { keyFingerprint, signEnvelope, type SignedEnvelope, type SigningKeyPair } from '../../shared/crypto/sign.js';
import { FerryError } from '../../shared/errors.js';
import { readObjectToStream } from '../../shared/nats/object-read.js';
import { BUCKETS } from '../../shared/protocol/subjects.js';
import { contentObjectName, fileIndexObjectName, FILE_INDEX_KIND, type FileIndex } from '../../shared/package/delta.js';
import type { Manifest, ManifestFile } from '../../shared/package/mod.js';
import { scanArchive } from '../../shared/package/read.js';
import type { DmlRecord } from '../../shared/protocol/messages.js';
import type { Db } from '../db/open.js';

const OBJECT_INDEX_CHUNK_BYTES = 1024 * 1024;

/**
 * Whether a version gets its files by content and a file index: only when the DML holds another
 * version of the package. A delta needs a kept version on the host, so the first version never is
 * one's target; storing it by content would only double its bytes in the DML and on every site's
 * link. From the second version on every file is stored (deduplicated), so a host can also fetch
 * one kept file that was modified on disk instead of the whole package.
 */
export function storesContent(db: Db, name: string, version: string): boolean {
  return db.prepare('SELECT 1 FROM packages WHERE name = ? AND version != ? LIMIT 1').get(name, version) !== undefined;
}

export interface StoredContent {
  /** distinct contents that were new to the DML */
  added: number;
  /** distinct contents the DML already had (from other versions) */
  shared: number;
  /** bytes of the new contents */
  addedBytes: number;
}

/**
 * Store the payload files of a verified package by content, and its signed file index.
 * Idempotent: contents already stored are skipped, an existing index is left as it is.
 */
export async function storeFileContent(
  store: ObjectStore,
  signing: SigningKeyPair,
  opts: { file: string; manifest: Manifest; record: DmlRecord; tmpDir: string; chunkBytes: number },
): Promise<StoredContent> {
  const { manifest, record } = opts;
  const indexName = fileIndexObjectName(record.name, record.version);
  const result: StoredContent = { added: 0, shared: 0, addedBytes: 0 };
  if (await store.info(indexName)) return result;
  // Which contents are new to the DML: only those are written out while the package is scanned.
  const wanted = new Map<string, number>();
  for (const f of manifest.files) {
    if (f.size === 0 || wanted.has(f.sha256)) continue;
    const have = await store.info(contentObjectName(f.sha256));
    if (have && have.size === f.size && !have.deleted) {
      result.shared += 1;
      wanted.set(f.sha256, -1);
    } else wanted.set(f.sha256, f.size);
  }
  const work = mkdtempSync(join(opts.tmpDir, 'dml-content-'));
  try {
    const dirs = new Set<string>();
    const ancestors = (p: string) => {
      const segs = p.split('/');
      for (let i = 1; i < segs.length; i++) dirs.add(segs.slice(0, i).join('/'));
    };
    let out: FileHandle | undefined;
    const written = new Set<string>();
    // The scanner checks every rule and every file's hash against the manifest (as at `dml add`).
    await scanArchive(opts.file, {}, {
      sink: {
        async directory(rel) {
          dirs.add(rel);
          ancestors(rel);
        },
        async beginFile(f: ManifestFile) {
          ancestors(f.path);
          if ((wanted.get(f.sha256) ?? -1) >= 0 && !written.has(f.sha256)) {
            written.add(f.sha256);
            out = await open(join(work, f.sha256), 'wx', 0o600);
          }
        },
        async data(chunk) {
          if (!out) return;
          let off = 0;
          while (off < chunk.length) off += (await out.write(chunk, off, chunk.length - off)).bytesWritten;
        },
        async endFile() {
          await out?.close();
          out = undefined;
        },
      },
    });
    for (const [sha256, size] of wanted) {
      if (size < 0) continue;
      await store.put(
        { name: contentObjectName(sha256), options: { max_chunk_size: opts.chunkBytes } },
        Readable.toWeb(createReadStream(join(work, sha256), { highWaterMark: opts.chunkBytes })) as ReadableStream<Uint8Array>,
      );
      result.added += 1;
      result.addedBytes += size;
    }
    const index: FileIndex = { kind: FILE_INDEX_KIND, name: record.name, version: record.version, sha256: record.sha256, size: record.size, dirs: [...dirs].sort(), manifest };
    const envelope = signEnvelope(signing, index);
    await store.putBlob({ name: indexName, options: { max_chunk_size: opts.chunkBytes } }, Buffer.from(JSON.stringify(envelope), 'utf8'));
    return result;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * After a key rotation: sign a version's file index again with the current key (read with direct
 * gets, no consumer). False when there is no index or it already carries the current key.
 */
export async function resignFileIndex(nc: NatsConnection, store: ObjectStore, signing: SigningKeyPair, name: string, version: string): Promise<boolean> {
  const object = fileIndexObjectName(name, version);
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk);
      done();
    },
  });
  try {
    await readObjectToStream(nc, { bucket: BUCKETS.dml, name: object, sink });
  } catch (err) {
    if (err instanceof FerryError && err.code === 'FERRY_NOT_FOUND') return false;
    throw err;
  }
  const envelope = JSON.parse(Buffer.concat(chunks).toString('utf8')) as SignedEnvelope;
  if (envelope.key === keyFingerprint(signing.publicKey)) return false;
  const next = signEnvelope(signing, JSON.parse(envelope.payload));
  await store.putBlob({ name: object, options: { max_chunk_size: OBJECT_INDEX_CHUNK_BYTES } }, Buffer.from(JSON.stringify(next), 'utf8'));
  return true;
}
