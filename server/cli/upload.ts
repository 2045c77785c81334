// `ferry dml add` and `ferry dml import`: a package file into the DML through the operator's own
// upload bucket (the server makes it when the operator is added; nobody else's user reaches it).
import { nuid } from '@nats-io/transport-node';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { FerryError } from '../../shared/errors.js';
import { uploadBucket } from '../../shared/protocol/subjects.js';
import type { AdminClient } from './client.js';
import type { ApiReplyOf } from '../../shared/protocol/replies.js';

/** Put a package file into the upload bucket and ask the server to verify and sign it into the DML. */
export async function uploadPackage(c: AdminClient, file: string): Promise<ApiReplyOf<'dml.add'>> {
  const upload = `upload-${nuid.next()}`;
  const { nativeHashingObjm } = await import('../../shared/nats/native-hash.js');
  const store = await nativeHashingObjm(c.nc)
    .open(uploadBucket(c.operator.operator))
    .catch((err: unknown) => {
      throw uploadBucketError(c.operator.operator, err);
    });
  await store.put({ name: upload, options: { max_chunk_size: 1024 * 1024 } }, Readable.toWeb(createReadStream(file, { highWaterMark: 1024 * 1024 })) as ReadableStream<Uint8Array>);
  return c.request('dml.add', { upload }, 300_000);
}

/** Why the operator's upload bucket cannot be opened, in one line. */
function uploadBucketError(operator: string, err: unknown): FerryError {
  const bucket = uploadBucket(operator);
  const text = `${(err as Error)?.message ?? String(err)} ${((err as Error)?.cause as Error | undefined)?.message ?? ''}`;
  if ((err as Error)?.name === 'PermissionViolationError' || /permission/i.test(text)) {
    return new FerryError('FERRY_FORBIDDEN', `operator ${operator} may not write the upload bucket ${bucket}`, {
      hint: 'dml.add needs the role release-manager or admin; credentials made before per-operator upload buckets name the old shared bucket: ask an admin for new ones (ferry operator add)',
      cause: err,
    });
  }
  if (/not found/i.test(text)) return new FerryError('FERRY_NOT_FOUND', `the upload bucket ${bucket} does not exist`, { hint: 'the server makes it when the operator is added and at every start; is the server of this version?', cause: err });
  return new FerryError('FERRY_NATS_FAILED', `cannot open the upload bucket ${bucket}: ${text.trim()}`, { cause: err });
}
