// The DML's content-addressed side, for file-level deltas: every payload file of an accepted
// package is stored once per distinct content as `sha256/<hex>` in the DML bucket (shared by every
// version that has it), and each version gets a signed file index (`index/<name>@<version>`:
// manifest, directories, bound to the signed record's artifact SHA-256). The package object and
// its record are unchanged; agents that cannot use a delta download the package as before.
import { createReadStream, mkdtempSync, readdirSync, rmSync } from 'node:fs';
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
import { extractPackage, type Manifest } from '../../shared/package/mod.js';
import type { DmlRecord } from '../../shared/protocol/messages.js';

const OBJECT_INDEX_CHUNK_BYTES = 1024 * 1024;

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
  const work = mkdtempSync(join(opts.tmpDir, 'dml-content-'));
  try {
    const dir = join(work, 'payload');
    await extractPackage(opts.file, dir); // verifies every file against the manifest again
    const seen = new Set<string>();
    for (const f of manifest.files) {
      if (f.size === 0 || seen.has(f.sha256)) continue;
      seen.add(f.sha256);
      const name = contentObjectName(f.sha256);
      const have = await store.info(name);
      if (have && have.size === f.size && !have.deleted) {
        result.shared += 1;
        continue;
      }
      await store.put(
        { name, options: { max_chunk_size: opts.chunkBytes } },
        Readable.toWeb(createReadStream(join(dir, f.path), { highWaterMark: opts.chunkBytes })) as ReadableStream<Uint8Array>,
      );
      result.added += 1;
      result.addedBytes += f.size;
    }
    const index: FileIndex = { kind: FILE_INDEX_KIND, name: record.name, version: record.version, sha256: record.sha256, size: record.size, dirs: listDirs(dir), manifest };
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

/** Every directory under `root`, relative, sorted (empty ones included). */
function listDirs(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const child = rel ? `${rel}/${e.name}` : e.name;
      out.push(child);
      walk(child);
    }
  };
  walk('');
  return out.sort();
}
