// One ferry server per NATS (server/nats/leader-lease.ts), against real nats-servers:
// - the lease module alone: a live holder refuses a second server, a crashed holder's lease ends
//   (at once for a dead process of this machine, after the lease for another machine's), a clean
//   release frees it, a server whose lease another one took is told to stop, and a lease that
//   vanished while nobody took it is taken again;
// - `ferry server --nats` against a 1-node NATS written by `ferry nats config`: a second server is
//   refused in one line (FERRY_SERVER_ACTIVE, exit 4) and the first one keeps serving; after a
//   SIGKILL or a clean stop the next start is not refused; one pointed at a running server's
//   embedded NATS is refused the same way.
import { Kvm, type KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../shared/errors.js';
import { LEADER_BUCKET, LeaderLease, type LeaseHolder } from '../../server/nats/leader-lease.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { cleanupFleet, initServer, runFerry, startServer, tempDir, waitFor, type ServerHandle } from '../helpers/fleet.js';
import { startTestNats, type TestNats } from '../helpers/nats.js';
import { selfSignedCert } from '../helpers/tls.js';
import { join } from 'node:path';
import { connectNats } from '../../shared/nats/connect.js';
import { readCredsFile } from '../../shared/nats/creds.js';

// Renewed every 2 s: a holder stalled by a busy machine for a second or two keeps its lease.
const LEASE_MS = 6000;
const log = pino({ level: 'silent' });

afterAll(cleanupFleet, 60_000);

describe('the server lease (one NATS, real JetStream)', () => {
  let nats: TestNats;
  const conns: NatsConnection[] = [];
  const leases: LeaderLease[] = [];
  let kv: KV;

  const conn = async () => {
    const nc = await connect({ servers: nats.url });
    conns.push(nc);
    return nc;
  };
  const acquire = async (host: string, opts: { nc?: NatsConnection; isRunning?: (pid: number) => boolean } = {}) => {
    const lease = await LeaderLease.acquire(opts.nc ?? (await conn()), { replicas: 1, dataDir: `/srv/${host}`, log, leaseMs: LEASE_MS, host, ...(opts.isRunning ? { isRunning: opts.isRunning } : {}) });
    leases.push(lease);
    return lease;
  };
  const holder = async () => {
    const e = await kv.get('leader');
    return e?.operation === 'PUT' ? e.json<LeaseHolder>() : undefined;
  };

  beforeAll(async () => {
    nats = await startTestNats();
    // The bucket as the first lease makes it; the test reads it on its own connection.
    const first = await acquire('setup');
    await first.release();
    kv = await new Kvm(await conn()).open(LEADER_BUCKET);
  }, 120_000);

  afterAll(async () => {
    for (const l of leases) await l.release().catch(() => undefined);
    for (const nc of conns) await nc.close().catch(() => undefined);
    await nats?.stop();
  });

  it('a live holder: a second server is refused with FERRY_SERVER_ACTIVE naming the holder, and the holder keeps the lease', async () => {
    const a = await acquire('host-a');
    const err = await acquire('host-b').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).code).toBe('FERRY_SERVER_ACTIVE');
    expect((err as FerryError).message).toMatch(/another ferry server runs against this NATS: host-a pid \d+ \(data directory \/srv\/host-a/);
    expect((await holder())?.host).toBe('host-a');
    await a.release();
    expect(await holder(), 'a clean release deletes the key').toBeUndefined();
  });

  it('a clean release lets the next server take the lease', async () => {
    const a = await acquire('host-a');
    await a.release();
    const b = await acquire('host-b');
    expect((await holder())?.host).toBe('host-b');
    await b.release();
  });

  it('a crashed holder on this machine (its process gone) is released at once; on another machine its lease runs out', async () => {
    // "Crashed": the holder's connection closes without a release, so nobody renews.
    const crashedNc = await conn();
    await acquire('host-a', { nc: crashedNc });
    await crashedNc.close();
    const revision = (await kv.get('leader'))!.revision;
    // Same machine, process gone: taken by a conditional delete, before the lease could run out.
    const b = await acquire('host-a', { isRunning: () => false });
    expect((await holder())?.dataDir).toBe('/srv/host-a');
    expect((await kv.get('leader'))!.revision).toBeGreaterThan(revision);

    const crashed2 = await conn();
    await b.release();
    await acquire('host-a', { nc: crashed2 });
    await crashed2.close();
    // Another machine: it cannot tell whether host-a's process runs, so it waits the lease out.
    const c = await acquire('host-c');
    expect((await holder())?.host).toBe('host-c');
    await c.release();
  });

  it('a server whose lease another one took is told to stop (FERRY_SERVER_ACTIVE naming the new holder)', async () => {
    const a = await acquire('host-a');
    const lost = new Promise<FerryError>((resolve) => a.onLost(resolve));
    // What a second server's takeover looks like to the first: the key now names someone else.
    await kv.put('leader', JSON.stringify({ id: 'other', host: 'host-z', pid: 4242, dataDir: '/srv/z', since: new Date().toISOString() } satisfies LeaseHolder));
    const err = await lost;
    expect(err.code).toBe('FERRY_SERVER_ACTIVE');
    expect(err.message).toMatch(/host-z pid 4242/);
    await a.release();
    expect((await holder())?.host, 'a deposed server never deletes the new holder\'s key').toBe('host-z');
    await kv.delete('leader');
  });

  it('a lease that vanished while nobody took it is taken again by its holder', async () => {
    const a = await acquire('host-a');
    let lost = false;
    a.onLost(() => (lost = true));
    await kv.delete('leader');
    await waitFor(async () => (await holder())?.host === 'host-a', 30_000, { message: 'host-a holding the lease again' });
    expect(lost).toBe(false);
    await a.release();
  });
});

describe('ferry server --nats against a running embedded server of the same data directory', () => {
  let embedded: ServerHandle;
  beforeAll(async () => {
    embedded = await initServer({ env: { FERRY_LEADER_LEASE_MS: String(LEASE_MS) } });
  }, 120_000);
  afterAll(async () => {
    await embedded?.stop();
  });

  it('is refused with FERRY_SERVER_ACTIVE (exit 4), and the embedded server keeps serving', async () => {
    const env = { FERRY_LEADER_LEASE_MS: String(LEASE_MS), FERRY_LOG_LEVEL: 'silent' };
    // With a console over HTTPS (--ui-listen and its certificate) the certificate is the
    // console's, not a CA for the plain nats:// NATS: it still connects (and is refused the same).
    const cert = selfSignedCert(tempDir('ferry-console-cert-'));
    const [second, withConsole] = await Promise.all([
      runFerry(embedded.home, ['server', '--nats', embedded.url], { allowFail: true, env }),
      runFerry(embedded.home, ['server', '--nats', embedded.url, '--ui-listen', '127.0.0.1:0', '--tls-cert', cert.cert, '--tls-key', cert.key], { allowFail: true, env }),
    ]);
    expect(second.code).toBe(4);
    expect(second.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^FERRY_SERVER_ACTIVE: another ferry server runs against this NATS: \\S+ pid ${embedded.child.pid}`))]);
    expect([withConsole.code, withConsole.stderr.trim()]).toEqual([4, expect.stringMatching(/^FERRY_SERVER_ACTIVE: another ferry server runs against this NATS/)]);
    expect(embedded.child.exitCode).toBeNull();
    await runFerry(embedded.home, ['agents', 'list', '--json']);
  }, 120_000);

  it('with --creds that NATS refuses, fails in one line (FERRY_CREDS_INVALID, exit 2) instead of retrying for ever (a revoked operator\'s file)', async () => {
    const dir = tempDir('ferry-server-creds-');
    const revoked = join(dir, 'gone.creds');
    await runFerry(embedded.home, ['operator', 'add', 'gone', '--role', 'admin', '--out', revoked]);
    await runFerry(embedded.home, ['operator', 'revoke', 'gone']);
    const r = await runFerry(embedded.home, ['server', '--nats', embedded.url, '--creds', revoked], { allowFail: true, env: { FERRY_LOG_LEVEL: 'silent' } });
    expect([r.code, r.stderr.trim().split('\n')]).toEqual([2, [expect.stringMatching(new RegExp(`^FERRY_CREDS_INVALID: NATS at ${embedded.url} refused the credentials of --creds ${revoked}`))]]);
    expect(embedded.child.exitCode).toBeNull();
  }, 120_000);
});

describe('ferry server --nats: one server per NATS', () => {
  let home: string;
  let cluster: TestCluster;
  let server: ServerHandle;
  const env = { FERRY_LEADER_LEASE_MS: String(LEASE_MS) };

  beforeAll(async () => {
    home = tempDir('ferry-home-');
    await runFerry(home, ['init']);
    cluster = await startCluster(home, 1);
    server = await startServer(home, { args: ['--nats', cluster.urls.join(',')], env });
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    await cluster?.stop();
  }, 120_000);

  it('a second server is refused in one line with exit 4, and the first keeps serving', async () => {
    const second = await runFerry(home, ['server', '--nats', cluster.urls.join(',')], { allowFail: true, env: { ...env, FERRY_LOG_LEVEL: 'silent' } });
    expect(second.code).toBe(4);
    expect(second.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^FERRY_SERVER_ACTIVE: another ferry server runs against this NATS: \\S+ pid ${server.child.pid}`))]);
    expect(server.child.exitCode).toBeNull();
    const token = await runFerry(home, ['token', 'create', '--json']);
    expect(token.json<{ token: string }>().token).toBeTruthy();
  });

  it('after a SIGKILL the next start on this machine is not refused; after a clean stop neither', async () => {
    await server.kill();
    server = await startServer(home, { args: ['--nats', cluster.urls.join(',')], env });
    expect(server.logs()).not.toMatch(/FERRY_SERVER_ACTIVE/);
    await server.stop();
    server = await startServer(home, { args: ['--nats', cluster.urls.join(',')], env });
    await runFerry(home, ['agents', 'list', '--json']);
  }, 120_000);

  it('a server whose lease was taken stops on its own: exit 4 with FERRY_SERVER_ACTIVE, the new holder\'s key left alone', async () => {
    // The takeover as the deposed server sees it, written with the admin's (unrestricted FERRY) credentials.
    const admin = await connectNats({ url: cluster.urls.join(','), creds: readCredsFile(join(home, 'keys', 'admin.creds')), name: 'lease test' });
    try {
      const kv = await new Kvm(admin).open(LEADER_BUCKET);
      await kv.put('leader', JSON.stringify({ id: 'other', host: 'standby.example', pid: 77, dataDir: '/srv/standby', since: new Date().toISOString() } satisfies LeaseHolder));
      const exit = await waitFor(() => (server.child.exitCode === null ? undefined : { code: server.child.exitCode }), 30_000, { message: 'the deposed server to exit' });
      expect(exit.code).toBe(4);
      expect(server.logs()).toMatch(/FERRY_SERVER_ACTIVE: another ferry server runs against this NATS: standby\.example pid 77/);
      expect((await kv.get('leader'))?.json<LeaseHolder>().host).toBe('standby.example');
    } finally {
      await admin.close();
    }
  }, 120_000);
});
