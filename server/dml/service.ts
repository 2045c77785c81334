// The Definitive Media Library: accepts uploaded packages, verifies them, stores them immutably
// in the Object Store under name@version, signs a record binding name, version, SHA-256 and size,
// and indexes them in SQLite. Content for a name@version never changes once accepted.
import { Objm, type ObjectStore } from '@nats-io/obj';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { scaleStream, withStoreRetry } from '../nats/replicas.js';
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { NatsConnection } from '@nats-io/transport-node';
import { FerryError } from '../../shared/errors.js';
import { signEnvelope, type SignedEnvelope } from '../../shared/crypto/sign.js';
import type { KeyRing } from '../keys.js';
import { BUCKETS } from '../../shared/protocol/subjects.js';
import type { DmlRecord } from '../../shared/protocol/messages.js';
import { verifyPackageArchive, type Manifest } from '../../shared/package/mod.js';
import type { UploadBuckets } from './upload-buckets.js';
import type { Db } from '../db/open.js';
import { resignFileIndex, storeFileContent, storesContent } from './content.js';
import { BUNDLE_FORMAT, type BundleExport, type BundleIndex } from './bundle.js';
import { KeyedLock } from '../util/keyed-lock.js';

export type PackageState = 'draft' | 'authorized' | 'retired';

export interface DmlPackage {
  name: string;
  version: string;
  digest: string;
  size: number;
  state: PackageState;
  createdAt: string;
  authorizedAt?: string;
  authorizedBy?: string;
  evidence?: string;
  retiredAt?: string;
  retiredBy?: string;
  retireReason?: string;
  manifest: Manifest;
  record: SignedEnvelope;
}

interface PackageRow {
  name: string;
  version: string;
  sha256: string;
  size: number;
  object: string;
  manifest: string;
  record: string;
  state: PackageState;
  created_at: number;
  authorized_at: number | null;
  authorized_by: string | null;
  evidence: string | null;
  retired_at: number | null;
  retired_by: string | null;
  retire_reason: string | null;
}

export const OBJECT_CHUNK_BYTES = 1024 * 1024;

/**
 * The DML stream's max_msg_size: above every message it holds (a chunk is at most max_payload),
 * because nats-server 2.9 sizes a rate-limited consumer's burst by it (consumer.go setRateLimit:
 * the stream's max_msg_size, else the account's payload limit, else max_payload) and never
 * delivers a message larger than the burst: a 1 MiB chunk with its subject and reply subject is
 * larger than max_payload. A site's --max-rate is such a consumer (server/sites/mirror-consumers.ts).
 */
export const DML_MAX_MSG_SIZE = OBJECT_CHUNK_BYTES + 64 * 1024;

async function ensureMaxMsgSize(jsm: JetStreamManager, stream: string, size: number): Promise<void> {
  const info = await jsm.streams.info(stream);
  if (info.config.max_msg_size !== size) await jsm.streams.update(stream, { ...info.config, max_msg_size: size });
}

export class DmlService {
  private dml?: ObjectStore;
  /** one package's adds one after another (see addFromUpload) */
  private readonly adds = new KeyedLock();

  constructor(
    private readonly db: Db,
    private readonly nc: NatsConnection,
    private readonly keys: KeyRing,
    private readonly tmpDir: string,
    /** operators' own upload buckets (`ferry dml add`), opened by the caller */
    private readonly uploads?: UploadBuckets,
  ) {}

  /** `replicas`: copies JetStream keeps (server/nats/replicas.ts); existing buckets are scaled to it. */
  async open(replicas = 1): Promise<void> {
    const objm = new Objm(this.nc);
    this.dml = await withStoreRetry(() => objm.create(BUCKETS.dml, { description: 'Ferry DML: signed release packages', replicas }));
    const jsm = await jetstreamManager(this.nc);
    await scaleStream(jsm, `OBJ_${BUCKETS.dml}`, replicas);
    await ensureMaxMsgSize(jsm, `OBJ_${BUCKETS.dml}`, DML_MAX_MSG_SIZE);
  }

  /**
   * Verify an object the operator `uploader` put into their own upload bucket and accept it into
   * the DML (idempotent for identical content). Another operator's uploads are out of reach: the
   * name is looked up in the caller's bucket only.
   */
  async addFromUpload(uploader: string, uploadName: string): Promise<{ pkg: DmlPackage; added: boolean }> {
    const uploads = this.uploads;
    if (!uploads) throw new FerryError('FERRY_INTERNAL', 'this DML takes no uploads (no upload buckets)');
    const work = mkdtempSync(join(this.tmpDir, 'dml-add-'));
    const file = join(work, 'package.ferry');
    try {
      const { sha256, size } = await uploads.read(uploader, uploadName, file);
      const manifest = await verifyPackageArchive(file);
      // One package's adds one at a time: a version decides from the others whether it gets a file
      // index (storesContent), and two adds of one version must not both store it.
      return await this.adds.run(manifest.name, () => this.accept(file, manifest, sha256, size));
    } finally {
      rmSync(work, { recursive: true, force: true });
      await uploads.discard(uploader, uploadName).catch(() => undefined);
    }
  }

  /** Accept a verified package file into the DML (idempotent for identical content). */
  private async accept(file: string, manifest: Manifest, sha256: string, size: number): Promise<{ pkg: DmlPackage; added: boolean }> {
    const existing = this.get(manifest.name, manifest.version);
    if (existing) {
      if (existing.digest !== sha256) {
        throw new FerryError('FERRY_CONFLICT', `${manifest.name}@${manifest.version} is already in the DML with different content`, {
          hint: 'the DML is immutable: build it with a new version number',
        });
      }
      // Packages added before file-level deltas get their content stored on a repeated add.
      await this.storeContent(file, manifest, JSON.parse(existing.record.payload) as DmlRecord);
      return { pkg: existing, added: false };
    }
    const object = `${manifest.name}@${manifest.version}`;
    const info = await this.store().put(
      { name: object, options: { max_chunk_size: OBJECT_CHUNK_BYTES } },
      Readable.toWeb(createReadStream(file, { highWaterMark: OBJECT_CHUNK_BYTES })) as ReadableStream<Uint8Array>,
    );
    if (info.size !== size) throw new FerryError('FERRY_INTERNAL', `stored ${info.size} bytes of ${object}, expected ${size}`);
    const record: DmlRecord = { name: manifest.name, version: manifest.version, sha256, size, object, signedAt: new Date().toISOString() };
    const envelope = signEnvelope(this.keys.signing, record);
    await this.storeContent(file, manifest, record);
    this.db
      .prepare('INSERT INTO packages (name, version, sha256, size, object, manifest, record, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(manifest.name, manifest.version, sha256, size, object, JSON.stringify(manifest), JSON.stringify(envelope), 'draft', Date.now());
    return { pkg: this.get(manifest.name, manifest.version)!, added: true };
  }

  /** The package's files by content and its signed file index, for agents' delta installs (content.ts). */
  private async storeContent(file: string, manifest: Manifest, record: DmlRecord): Promise<void> {
    if (!storesContent(this.db, record.name, record.version)) return;
    await storeFileContent(this.store(), this.keys.signing, { file, manifest, record, tmpDir: this.tmpDir, chunkBytes: OBJECT_CHUNK_BYTES });
  }

  /** An offline bundle's signed index and records (retired packages are never exported). */
  exportBundle(refs: { name: string; version: string }[]): BundleExport {
    const seen = new Set<string>();
    const packages = refs.map(({ name, version }) => {
      const p = this.require(name, version);
      if (seen.has(`${name}@${version}`)) throw new FerryError('FERRY_INVALID_INPUT', `${name}@${version} is named twice`);
      seen.add(`${name}@${version}`);
      if (p.state === 'retired') throw new FerryError('FERRY_CONFLICT', `${name}@${version} is retired: it is never deployed again, so it is not exported`);
      const row = this.db.prepare('SELECT object FROM packages WHERE name = ? AND version = ?').get(name, version) as { object: string };
      return { name, version, object: row.object, sha256: p.digest, size: p.size, record: p.record };
    });
    const index: BundleIndex = { format: BUNDLE_FORMAT, createdAt: new Date().toISOString(), packages: packages.map(({ name, version, sha256, size }) => ({ name, version, sha256, size })) };
    return { trust: this.keys.trust, index: signEnvelope(this.keys.signing, index), packages };
  }

  get(name: string, version: string): DmlPackage | undefined {
    const row = this.db.prepare('SELECT * FROM packages WHERE name = ? AND version = ?').get(name, version) as PackageRow | undefined;
    return row && toPackage(row);
  }

  require(name: string, version: string): DmlPackage {
    const pkg = this.get(name, version);
    if (!pkg) throw new FerryError('FERRY_NOT_FOUND', `${name}@${version} is not in the DML`, { hint: 'add it with: ferry dml add FILE' });
    return pkg;
  }

  list(): DmlPackage[] {
    return (this.db.prepare('SELECT * FROM packages ORDER BY name, created_at').all() as PackageRow[]).map(toPackage);
  }

  /**
   * draft → authorized: fit for production. Evidence is free text, or the id of a rollout that
   * completed (checked by the caller, which knows the rollouts).
   */
  authorize(name: string, version: string, actor: string, evidence?: string): DmlPackage {
    const pkg = this.require(name, version);
    if (pkg.state === 'retired') throw new FerryError('FERRY_CONFLICT', `${name}@${version} is retired and cannot be authorized`, { hint: 'retirement is final: build and add a new version' });
    if (pkg.state === 'authorized') return pkg; // idempotent: the first authorization stands
    this.db
      .prepare("UPDATE packages SET state = 'authorized', authorized_at = ?, authorized_by = ?, evidence = ? WHERE name = ? AND version = ?")
      .run(Date.now(), actor, evidence ?? null, name, version);
    return this.require(name, version);
  }

  /** → retired: never deployed again. Hosts that have it keep it; the bytes stay in the DML. */
  retire(name: string, version: string, actor: string, reason?: string): DmlPackage {
    const pkg = this.require(name, version);
    if (pkg.state === 'retired') return pkg; // idempotent: the first retirement stands
    this.db
      .prepare("UPDATE packages SET state = 'retired', retired_at = ?, retired_by = ?, retire_reason = ? WHERE name = ? AND version = ?")
      .run(Date.now(), actor, reason ?? null, name, version);
    return this.require(name, version);
  }

  /** Refuse a package that may not be deployed (anything retired). */
  requireDeployable(name: string, version: string): DmlPackage {
    const pkg = this.require(name, version);
    if (pkg.state === 'retired') {
      throw new FerryError('FERRY_CONFLICT', `${name}@${version} is retired and cannot be deployed${pkg.retireReason ? ` (${pkg.retireReason})` : ''}`, {
        hint: 'use a newer version of the package',
      });
    }
    return pkg;
  }

  /** After a key rotation: sign every record again with the current online key. */
  resignRecords(): number {
    const rows = this.db.prepare('SELECT name, version, record FROM packages').all() as { name: string; version: string; record: string }[];
    const update = this.db.prepare('UPDATE packages SET record = ? WHERE name = ? AND version = ?');
    let n = 0;
    this.db.transaction(() => {
      for (const r of rows) {
        const env = JSON.parse(r.record) as SignedEnvelope;
        if (env.key === this.keys.signingFingerprint) continue;
        update.run(JSON.stringify(signEnvelope(this.keys.signing, JSON.parse(env.payload))), r.name, r.version);
        n++;
      }
    })();
    return n;
  }

  /** After a key rotation: every file index signed again with the current online key. */
  async resignFileIndexes(): Promise<number> {
    const rows = this.db.prepare('SELECT name, version FROM packages').all() as { name: string; version: string }[];
    let n = 0;
    for (const r of rows) if (await resignFileIndex(this.nc, this.store(), this.keys.signing, r.name, r.version)) n++;
    return n;
  }

  private store(): ObjectStore {
    if (!this.dml) throw new FerryError('FERRY_INTERNAL', 'DML not opened');
    return this.dml;
  }
}

function toPackage(r: PackageRow): DmlPackage {
  return {
    name: r.name,
    version: r.version,
    digest: r.sha256,
    size: r.size,
    state: r.state,
    createdAt: new Date(r.created_at).toISOString(),
    ...(r.authorized_at ? { authorizedAt: new Date(r.authorized_at).toISOString() } : {}),
    ...(r.authorized_by ? { authorizedBy: r.authorized_by } : {}),
    ...(r.evidence ? { evidence: r.evidence } : {}),
    ...(r.retired_at ? { retiredAt: new Date(r.retired_at).toISOString() } : {}),
    ...(r.retired_by ? { retiredBy: r.retired_by } : {}),
    ...(r.retire_reason ? { retireReason: r.retire_reason } : {}),
    manifest: JSON.parse(r.manifest) as Manifest,
    record: JSON.parse(r.record) as SignedEnvelope,
  };
}
