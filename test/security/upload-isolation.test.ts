// One release manager cannot touch another's pending uploads. `ferry dml add` puts the package
// into an object store first, then asks the server to verify it; the store's stream allows rollup
// headers (the object store writes its metadata with `Nats-Rollup: sub`), so whoever may publish
// into it may also purge it (`Nats-Rollup: all`), read every message in it by sequence, and
// overwrite any object's metadata. Each operator therefore uploads into a bucket of their own,
// which only their NATS user reaches. Real server, real operators (`ferry operator add`), their
// own credentials over nats.js. Requires the compiled dist/ and nats-server on PATH.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { jetstreamManager } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { headers as natsHeaders, nuid, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminClient } from '../../server/cli/client.js';
import { dataPaths } from '../../server/config.js';
import { operatorPermissions } from '../../server/operators/nats-permissions.js';
import { readCredsFile } from '../../shared/nats/creds.js';
import { objectMetaSubject } from '../../shared/nats/object-read.js';
import { buildPackage, cleanupFleet, initServer, runFerry, startServer, tempDir, type ServerHandle } from '../helpers/fleet.js';
import { codeOf } from '../helpers/hostile.js';

afterAll(cleanupFleet, 60_000);

/** The upload bucket an operator's NATS user may write (read from the permission table, old or new). */
function bucketOf(name: string): string {
  const entry = operatorPermissions(name, 'release-manager').publish.find((s) => /^\$O\.[^.]+\.>$/.test(s));
  if (!entry) throw new Error(`operator ${name} may write no object store`);
  return entry.split('.')[1]!;
}

const metaSubject = objectMetaSubject;

/** What nats-server did with a request: answered (with the body), or refused the publish. */
async function attempt(nc: NatsConnection, subject: string, body: Uint8Array | string, headers?: MsgHdrs): Promise<{ outcome: 'answered'; data: string } | { outcome: 'refused' } | { outcome: string }> {
  try {
    const m = await nc.request(subject, typeof body === 'string' ? new TextEncoder().encode(body) : body, { timeout: 5_000, ...(headers ? { headers } : {}) });
    return { outcome: 'answered', data: m.string() };
  } catch (err) {
    const e = err as Error;
    if (e.name === 'PermissionViolationError' || /Permissions Violation for Publish/.test(`${e.message} ${(e.cause as Error | undefined)?.message ?? ''}`)) return { outcome: 'refused' };
    return { outcome: `${e.name}: ${e.message}` };
  }
}

/** A pending upload, put the way `ferry dml add` puts it (before it asks the server). */
async function putPending(c: AdminClient, file: string): Promise<string> {
  const upload = `upload-${nuid.next()}`;
  const store = await new Objm(c.nc).open(bucketOf(c.operator.operator));
  await store.put({ name: upload }, Readable.toWeb(Readable.from([readFileSync(file)])) as ReadableStream<Uint8Array>);
  return upload;
}

describe('upload isolation: one operator cannot purge, read, replace or claim another operator\'s pending upload', () => {
  let server: ServerHandle;
  let home: string;
  const creds: Record<string, string> = {};
  const clients: Record<string, AdminClient> = {};
  let ritaFile: string;
  let rolfFile: string;
  const ferry = (args: string[]) => runFerry(home, args);

  beforeAll(async () => {
    server = await initServer();
    home = server.home;
    const dir = tempDir('ferry-upload-isolation-');
    for (const name of ['rita', 'rolf']) {
      creds[name] = join(dir, `${name}.creds`);
      await ferry(['operator', 'add', name, '--role', 'release-manager', '--out', creds[name]!]);
      clients[name] = await AdminClient.connect({ dataDir: home, creds: creds[name] });
    }
    ritaFile = await buildPackage({ name: 'rita-app', version: '1.0.0', files: { 'bin/app': 'rita\n' } });
    rolfFile = await buildPackage({ name: 'rolf-app', version: '1.0.0', files: { 'bin/app': 'rolf\n' } });
  }, 180_000);

  afterAll(async () => {
    await Promise.all(Object.values(clients).map((c) => c.close().catch(() => undefined)));
    await server?.stop();
  }, 60_000);

  it('each operator\'s NATS user names only their own upload bucket', () => {
    expect(bucketOf('rita')).not.toBe(bucketOf('rolf'));
    const rolf = operatorPermissions('rolf', 'release-manager').publish;
    expect(rolf.filter((s) => s.includes(bucketOf('rita')))).toEqual([]);
  });

  it('Nats-Rollup: all from another operator leaves a pending upload in place, and its owner adds it', async () => {
    const rita = clients.rita!;
    const rolf = clients.rolf!;
    const pending = await putPending(rita, ritaFile);
    // Rolf purges with every object-store subject his user may publish: his own bucket's, at most.
    const purge = natsHeaders();
    purge.set('Nats-Rollup', 'all');
    const own = bucketOf('rolf');
    const outcomes: Record<string, string> = {};
    for (const subject of [`$O.${own}.C.${nuid.next()}`, metaSubject(own, 'anything'), `$O.${bucketOf('rita')}.C.${nuid.next()}`, metaSubject(bucketOf('rita'), pending)]) {
      outcomes[subject] = (await attempt(rolf.nc, subject, 'purge', purge)).outcome;
    }
    // Rita's upload is still there, whole, and the server accepts it from her.
    const info = await (await new Objm(rita.nc).open(bucketOf('rita'))).info(pending).catch(() => null); // (old servers: his meta, not JSON)
    expect(info?.size, 'her pending upload after his rollups').toBe(readFileSync(ritaFile).length);
    // His own bucket takes the rollup (it purges only his own uploads); hers is out of his reach.
    expect(Object.values(outcomes)).toEqual(['answered', 'answered', 'refused', 'refused']);
    const added = await rita.request('dml.add', { upload: pending });
    expect(added).toMatchObject({ name: 'rita-app', version: '1.0.0', added: true });
    // Once taken, the upload is purged from her bucket: no chunks, no tombstone.
    const left = await (await jetstreamManager(rita.nc)).streams.info(`OBJ_${bucketOf('rita')}`);
    expect(left.state.messages).toBe(0);
  }, 120_000);

  it('another operator can neither read nor overwrite a pending upload, nor add it under their own name', async () => {
    const rita = clients.rita!;
    const rolf = clients.rolf!;
    const theirs = bucketOf('rita');
    const pending = await putPending(rita, ritaFile);
    const reads = [
      // the stream's subjects (the upload names), a message by sequence, the metadata by subject
      { subject: `$JS.API.STREAM.INFO.OBJ_${theirs}`, body: JSON.stringify({ subjects_filter: '>' }) },
      { subject: `$JS.API.STREAM.MSG.GET.OBJ_${theirs}`, body: JSON.stringify({ seq: 1 }) },
      { subject: `$JS.API.DIRECT.GET.OBJ_${theirs}.${metaSubject(theirs, pending)}`, body: '' },
    ];
    for (const { subject, body } of reads) expect({ subject, ...(await attempt(rolf.nc, subject, body)) }).toEqual({ subject, outcome: 'refused' });
    // Replacing her metadata with his (pointing at his own chunks), or deleting it, is refused too.
    const hisMeta = JSON.stringify({ name: pending, bucket: theirs, nuid: nuid.next(), size: 1, chunks: 1, digest: 'SHA-256=AAAA', deleted: false, options: { max_chunk_size: 1 } });
    const sub = natsHeaders();
    sub.set('Nats-Rollup', 'sub');
    expect(await attempt(rolf.nc, metaSubject(theirs, pending), hisMeta, sub)).toEqual({ outcome: 'refused' });
    expect(await attempt(rolf.nc, `$O.${theirs}.C.${nuid.next()}`, 'x')).toEqual({ outcome: 'refused' });
    // The server looks for an upload in the caller's own bucket: Rolf cannot claim hers.
    expect(await codeOf(rolf.request('dml.add', { upload: pending }))).toBe('FERRY_NOT_FOUND');
    expect((await rita.request('dml.add', { upload: pending })).name).toBe('rita-app');
    // The real CLI still works for him, into his own bucket.
    const r = (await runFerry(home, ['dml', 'add', rolfFile, '--creds', creds.rolf!, '--json'])).json<{ name: string; added: boolean }>();
    expect(r).toMatchObject({ name: 'rolf-app', added: true });
  }, 120_000);

  it('an operator whose role may not upload gets one line from `ferry dml add`, and no bucket', async () => {
    const file = join(tempDir('ferry-vic-'), 'vic.creds');
    await ferry(['operator', 'add', 'vic', '--role', 'viewer', '--out', file]);
    const r = await runFerry(home, ['dml', 'add', rolfFile, '--creds', file], { allowFail: true });
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^FERRY_FORBIDDEN: operator vic may not write the upload bucket ferry-upload-vic/);
    const admin = await AdminClient.connect({ dataDir: home });
    try {
      expect(await (await jetstreamManager(admin.nc)).streams.info('OBJ_ferry-upload-vic').then(() => 'exists', () => 'none')).toBe('none');
    } finally {
      await admin.close();
    }
  }, 60_000);

  it('revoking an operator removes their upload bucket', async () => {
    await ferry(['operator', 'add', 'ruth', '--role', 'release-manager', '--out', join(tempDir('ferry-ruth-'), 'ruth.creds')]);
    const admin = await AdminClient.connect({ dataDir: home });
    try {
      const jsm = await jetstreamManager(admin.nc);
      const stream = `OBJ_${bucketOf('ruth')}`;
      const exists = () => jsm.streams.info(stream).then(() => true, () => false);
      // made by the time `operator add` answers, deleted by the time `operator revoke` does
      expect(await exists()).toBe(true);
      await ferry(['operator', 'revoke', 'ruth']);
      expect(await exists()).toBe(false);
    } finally {
      await admin.close();
    }
  }, 120_000);

  it('a data directory with the shared upload bucket of older versions starts; its pending uploads are dropped and new uploads work', async () => {
    // The bucket as older servers made it, with an upload pending in it.
    const raw = await AdminClient.connect({ dataDir: home });
    try {
      const legacy = await new Objm(raw.nc).create('ferry-upload', { description: 'Ferry uploads awaiting verification' });
      await legacy.putBlob({ name: 'upload-old' }, new Uint8Array([1, 2, 3]));
    } finally {
      await raw.close();
    }
    await Promise.all(Object.values(clients).map((c) => c.close()));
    await server.stop();
    server = await startServer(home);
    for (const name of ['rita', 'rolf']) clients[name] = await AdminClient.connect({ dataDir: home, creds: creds[name] });
    const admin = await AdminClient.connect({ dataDir: home });
    try {
      const streams: string[] = [];
      for await (const si of (await jetstreamManager(admin.nc)).streams.list()) streams.push(si.config.name);
      expect(streams).not.toContain('OBJ_ferry-upload');
      expect(streams).toEqual(expect.arrayContaining([`OBJ_${bucketOf('rita')}`, `OBJ_${bucketOf('rolf')}`, `OBJ_${bucketOf('admin')}`]));
    } finally {
      await admin.close();
    }
    const file = await buildPackage({ name: 'after-upgrade', version: '1.0.0', files: { 'bin/app': 'new\n' } });
    const r = (await runFerry(home, ['dml', 'add', file, '--creds', creds.rita!, '--json'])).json<{ name: string; added: boolean }>();
    expect(r).toMatchObject({ name: 'after-upgrade', added: true });
    // and the bootstrap admin's own upload (an unrestricted user of FERRY, with a bucket of their own too)
    const adminFile = await buildPackage({ name: 'admin-app', version: '1.0.0', files: { 'bin/app': 'admin\n' } });
    expect((await runFerry(home, ['dml', 'add', adminFile, '--json'])).json<{ added: boolean }>().added).toBe(true);
    expect(readCredsFile(dataPaths(home).adminCreds).jwt).toBeTruthy();
  }, 180_000);
});
