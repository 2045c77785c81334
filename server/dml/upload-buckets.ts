// Each operator's own upload bucket (`ferry dml add`): made when an operator who may upload is
// added (and at start, for every active one), deleted when they are revoked (and at start, for
// anyone no longer active); the shared bucket of older versions is deleted at start, with whatever
// was pending in it. The server reads an upload from its caller's bucket only, then purges it.
import { Objm } from '@nats-io/obj';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { FerryError } from '../../shared/errors.js';
import { objectMetaSubject, objectStreamName, readObjectToFile, type ObjectReadResult } from '../../shared/nats/object-read.js';
import { LEGACY_UPLOAD_BUCKET, UPLOAD_STREAM_PREFIX, uploadBucket } from '../../shared/protocol/subjects.js';
import { scaleStream, withStoreRetry } from '../nats/replicas.js';

const isNotFound = (err: unknown) => /stream not found/i.test(String((err as Error)?.message ?? err));

export class UploadBuckets {
  private replicas = 1;

  constructor(
    private readonly nc: NatsConnection,
    private readonly log?: Logger,
  ) {}

  /**
   * At start: a bucket for each operator who may upload, none for anybody else, and the shared
   * bucket of older versions gone. `replicas`: copies JetStream keeps (existing buckets are scaled).
   */
  async open(uploaders: readonly string[], replicas = 1): Promise<void> {
    this.replicas = replicas;
    const jsm = await jetstreamManager(this.nc);
    for (const name of uploaders) await this.ensure(name);
    const keep = new Set(uploaders.map((n) => objectStreamName(uploadBucket(n))));
    const stale: string[] = [];
    for await (const name of jsm.streams.names()) {
      if (name === objectStreamName(LEGACY_UPLOAD_BUCKET) || (name.startsWith(UPLOAD_STREAM_PREFIX) && !keep.has(name))) stale.push(name);
    }
    for (const stream of stale) {
      await deleteStream(jsm, stream);
      this.log?.info({ stream }, stream === objectStreamName(LEGACY_UPLOAD_BUCKET) ? 'deleted the shared upload bucket of older versions (uploads pending in it are dropped)' : 'deleted the upload bucket of an operator who is gone');
    }
  }

  /** The operator's own bucket, made if missing. */
  async ensure(operator: string): Promise<void> {
    const bucket = uploadBucket(operator);
    await withStoreRetry(() => new Objm(this.nc).create(bucket, { description: `Ferry uploads of operator ${operator} awaiting verification`, replicas: this.replicas }));
    await scaleStream(this.nc, objectStreamName(bucket), this.replicas);
  }

  /** The operator's bucket and whatever is pending in it, gone (revocation). */
  async remove(operator: string): Promise<void> {
    await deleteStream(await jetstreamManager(this.nc), objectStreamName(uploadBucket(operator)));
  }

  /** An upload of this operator's, into `dest` (FERRY_NOT_FOUND when their bucket holds no such upload). */
  read(operator: string, upload: string, dest: string): Promise<ObjectReadResult> {
    return readObjectToFile(this.nc, { bucket: uploadBucket(operator), name: upload, dest });
  }

  /** Purge an upload (its metadata and chunks) from the operator's bucket; no tombstone is left. */
  async discard(operator: string, upload: string): Promise<void> {
    const bucket = uploadBucket(operator);
    const stream = objectStreamName(bucket);
    // (metadata that is not an object's — the uploader's own doing — still goes, with the metadata purge)
    const info = await (await new Objm(this.nc).open(bucket)).info(upload).catch(() => null);
    const jsm = await jetstreamManager(this.nc);
    if (info) await jsm.streams.purge(stream, { filter: `$O.${bucket}.C.${info.nuid}` });
    await jsm.streams.purge(stream, { filter: objectMetaSubject(bucket, upload) });
  }
}

async function deleteStream(jsm: JetStreamManager, stream: string): Promise<void> {
  try {
    await jsm.streams.delete(stream);
  } catch (err) {
    if (isNotFound(err)) return;
    throw new FerryError('FERRY_NATS_FAILED', `cannot delete stream ${stream}: ${String((err as Error)?.message ?? err)}`, { cause: err });
  }
}
