// What a delta install reads from the DML (besides whole packages): a version's signed file index
// and one file's content by its SHA-256. Both are Object Store objects in the DML bucket, read with
// direct gets like a package (no new subjects or permissions). Kept to these two functions so that
// where the bytes come from (the hub, a site's mirror) can change in one place.
import { Writable } from 'node:stream';
import type { NatsConnection } from '@nats-io/transport-node';
import { openTrusted, type TrustDoc } from '../../shared/crypto/trust.js';
import { FerryError } from '../../shared/errors.js';
import { readObjectMeta, readObjectToFile, readObjectToStream } from '../../shared/nats/object-read.js';
import type { RatePacer } from '../../shared/nats/pacer.js';
import { contentObjectName, fileIndexObjectName, fileIndexSchema, MAX_FILE_INDEX_BYTES } from '../../shared/package/delta.js';
import { parseManifest, type Manifest } from '../../shared/package/manifest.js';
import { BUCKETS, jsApiPrefix } from '../../shared/protocol/subjects.js';
import { signedEnvelopeSchema, type DmlRecord } from '../../shared/protocol/messages.js';

export interface VerifiedFileIndex {
  manifest: Manifest;
  dirs: string[];
}

/**
 * Fetch one file's content by its SHA-256 to `dest`; the bytes are checked against the hash (and
 * size) the caller took from the signed manifest, and `dest` appears only when they match. A
 * rollout's --max-rate comes as the install's pacer, shared by all its reads.
 */
export async function fetchFileContent(
  nc: NatsConnection,
  file: { sha256: string; size: number },
  dest: string,
  opts: { pacer?: RatePacer | undefined; apiPrefixes?: string[] } = {},
): Promise<void> {
  const apis = opts.apiPrefixes ?? [jsApiPrefix()];
  for (let i = 0; ; i++) {
    try {
      await readObjectToFile(nc, {
        bucket: BUCKETS.dml,
        name: contentObjectName(file.sha256),
        dest,
        expectedSha256: file.sha256,
        expectedSize: file.size,
        durable: false,
        apiPrefix: apis[i]!,
        ...(opts.pacer ? { pacer: opts.pacer } : {}),
      });
      return;
    } catch (err) {
      // a site's mirror that lacks (all of) it: the next source (the hub)
      if (i === apis.length - 1) throw err;
    }
  }
}

/**
 * The signed file index of the package a verified record names, or null when the DML has none (a
 * package added before deltas). Its signature is checked against the keys the host trusts for
 * packages, and it must name the record's exact artifact (name, version, SHA-256, size).
 */
export async function fetchFileIndex(
  nc: NatsConnection,
  trust: TrustDoc,
  record: DmlRecord,
  apiPrefixes: string[] = [jsApiPrefix()],
  pacer?: RatePacer,
): Promise<VerifiedFileIndex | null> {
  const name = fileIndexObjectName(record.name, record.version);
  let size: number | undefined;
  let apiPrefix = apiPrefixes[0]!;
  for (const api of apiPrefixes) {
    try {
      size = (await readObjectMeta(nc, BUCKETS.dml, name, undefined, api)).size;
      apiPrefix = api;
      break;
    } catch (err) {
      // not at this source (a site's mirror behind the hub): try the next
      if (!(err instanceof FerryError && err.code === 'FERRY_NOT_FOUND')) throw err;
    }
  }
  if (size === undefined) return null;
  if (size > MAX_FILE_INDEX_BYTES) throw new FerryError('FERRY_INVALID_MESSAGE', `the file index of ${record.name}@${record.version} is ${size} bytes, over the ${MAX_FILE_INDEX_BYTES} limit`);
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk);
      done();
    },
  });
  await readObjectToStream(nc, { bucket: BUCKETS.dml, name, sink, expectedSize: size, apiPrefix, ...(pacer ? { pacer } : {}) });
  let envelope;
  try {
    envelope = signedEnvelopeSchema.parse(JSON.parse(Buffer.concat(chunks).toString('utf8')));
  } catch {
    throw new FerryError('FERRY_INVALID_MESSAGE', `the file index of ${record.name}@${record.version} is not a signed document`);
  }
  const index = openTrusted(trust, 'packages', envelope, fileIndexSchema, 'file index');
  if (index.name !== record.name || index.version !== record.version || index.sha256 !== record.sha256 || index.size !== record.size) {
    throw new FerryError('FERRY_SIGNATURE_INVALID', `the file index names ${index.name}@${index.version} (${index.sha256.slice(0, 12)}…), not the signed record's ${record.name}@${record.version} (${record.sha256.slice(0, 12)}…)`);
  }
  const manifest = parseManifest(index.manifest);
  if (manifest.name !== record.name || manifest.version !== record.version) {
    throw new FerryError('FERRY_PACKAGE_INVALID', `the file index's manifest is ${manifest.name}@${manifest.version}, the signed record says ${record.name}@${record.version}`);
  }
  return { manifest, dirs: index.dirs };
}
