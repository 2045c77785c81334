// The part of a restore that needs a running NATS, done by `ferry server` when it starts on a
// restored data directory (one with a restore/ directory): every DML package missing from the
// Object Store is uploaded again from restore/packages/ after its SHA-256 is checked against the
// database, the stored desired states are written back to the KV bucket (agents read them from
// there), and restore/ is removed. Safe to run again after a crash half-way: packages already
// back are skipped.
import { Objm } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { sha256File } from '../../shared/crypto/file-hash.js';
import { createReadStream, existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { FerryError } from '../../shared/errors.js';
import { BUCKETS } from '../../shared/protocol/subjects.js';
import type { Db } from '../db/open.js';
import type { DesiredStatePublisher } from '../desired/publisher.js';
import { OBJECT_CHUNK_BYTES } from '../dml/service.js';
import { storeFileContent, storesContent } from '../dml/content.js';
import type { SignedEnvelope, SigningKeyPair } from '../../shared/crypto/sign.js';
import type { Manifest } from '../../shared/package/mod.js';
import type { DmlRecord } from '../../shared/protocol/messages.js';
import { packagePath } from './manifest.js';
import { RESTORE_DIR } from './restore.js';

export interface CompleteRestoreOptions {
  dataDir: string;
  db: Db;
  nc: NatsConnection;
  desired: DesiredStatePublisher;
  log: Logger;
  /** with it, each package uploaded again also gets its files by content and its file index back (delta installs) */
  signing?: SigningKeyPair;
}

/** Finish a pending restore; returns undefined when there is none. */
export async function completeRestore(opts: CompleteRestoreOptions): Promise<{ uploaded: number; present: number; desired: number } | undefined> {
  const restoreDir = join(opts.dataDir, RESTORE_DIR);
  if (!existsSync(restoreDir)) return undefined;
  const store = await new Objm(opts.nc).open(BUCKETS.dml);
  const rows = opts.db.prepare('SELECT name, version, sha256, size, object, manifest, record FROM packages ORDER BY name, version').all() as { name: string; version: string; sha256: string; size: number; object: string; manifest: string; record: string }[];
  let uploaded = 0;
  let present = 0;
  for (const r of rows) {
    const info = await store.info(r.object);
    if (info && !info.deleted) {
      if (hexDigest(info.digest) !== r.sha256) throw new FerryError('FERRY_DIGEST_MISMATCH', `DML object ${r.object} already in the Object Store differs from the restored database`);
      present++;
      continue;
    }
    const file = join(restoreDir, packagePath(r.name, r.version));
    if (!existsSync(file)) throw new FerryError('FERRY_NOT_FOUND', `restore: ${r.object} is neither in the Object Store nor in ${restoreDir}`, { hint: 'restore the backup again' });
    const digest = (await sha256File(file)).sha256;
    if (digest !== r.sha256) throw new FerryError('FERRY_DIGEST_MISMATCH', `restore: ${file} has sha256 ${digest}, the DML says ${r.sha256}`);
    const put = await store.put(
      { name: r.object, options: { max_chunk_size: OBJECT_CHUNK_BYTES } },
      Readable.toWeb(createReadStream(file, { highWaterMark: OBJECT_CHUNK_BYTES })) as ReadableStream<Uint8Array>,
    );
    if (hexDigest(put.digest) !== r.sha256 || put.size !== r.size) throw new FerryError('FERRY_DIGEST_MISMATCH', `restore: uploading ${r.object} stored different bytes`);
    if (opts.signing && storesContent(opts.db, r.name, r.version)) {
      const record = JSON.parse((JSON.parse(r.record) as SignedEnvelope).payload) as DmlRecord;
      await storeFileContent(store, opts.signing, { file, manifest: JSON.parse(r.manifest) as Manifest, record, tmpDir: restoreDir, chunkBytes: OBJECT_CHUNK_BYTES });
    }
    uploaded++;
  }
  const agents = (opts.db.prepare('SELECT agent_id FROM desired').all() as { agent_id: string }[]).map((r) => r.agent_id);
  await opts.desired.send(opts.desired.stored(agents));
  await rm(restoreDir, { recursive: true, force: true });
  opts.log.info({ uploaded, present, desired: agents.length }, 'restore completed: DML objects and desired states are back');
  return { uploaded, present, desired: agents.length };
}

/** `SHA-256=<base64url>` (the Object Store's digest) as lowercase hex. */
function hexDigest(digest: string): string {
  const b64 = digest.replace(/^SHA-256=/i, '');
  return Buffer.from(b64, 'base64url').toString('hex');
}

