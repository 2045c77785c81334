// `ferry dml add` and `ferry dml import`: a package file into the DML through the upload bucket.
import { nuid } from '@nats-io/transport-node';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { BUCKETS } from '../../shared/protocol/subjects.js';
import type { AdminClient } from './client.js';
import type { ApiReplyOf } from '../../shared/protocol/replies.js';

/** Put a package file into the upload bucket and ask the server to verify and sign it into the DML. */
export async function uploadPackage(c: AdminClient, file: string): Promise<ApiReplyOf<'dml.add'>> {
  const upload = `upload-${nuid.next()}`;
  const [{ Objm }, { useNativeObjectHashing }] = await Promise.all([import('@nats-io/obj'), import('../../shared/nats/native-hash.js')]);
  useNativeObjectHashing();
  const store = await new Objm(c.nc).open(BUCKETS.upload);
  await store.put({ name: upload, options: { max_chunk_size: 1024 * 1024 } }, Readable.toWeb(createReadStream(file, { highWaterMark: 1024 * 1024 })) as ReadableStream<Uint8Array>);
  return c.request('dml.add', { upload }, 300_000);
}

