// Runs a real nats-server (Debian's 2.9.10 in CI) through EmbeddedNats.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { createUser } from '@nats-io/nkeys';
import { Objm } from '@nats-io/obj';
import {
  connect,
  Empty,
  nkeyAuthenticator,
  type NatsConnection,
  type NodeConnectionOptions,
  type Status, usernamePasswordAuthenticator } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../shared/errors.js';
import type { AuthIdentities } from './auth-config.js';
import { EmbeddedNats, findNatsServerBinary, type EmbeddedNatsOptions } from './embedded.js';

interface User {
  pub: string;
  seed: Uint8Array;
}
const newUser = (): User => {
  const kp = createUser();
  return { pub: kp.getPublicKey(), seed: kp.getSeed() };
};

const server = newUser();
const admin = newUser();
const ENROLL_PASSWORD = 'enroll-password-for-tests-0123456789';
const a1 = newUser();
const a2 = newUser();
const a3 = newUser();

function auth(agents: Array<[string, User]>): AuthIdentities {
  return {
    serverNkey: server.pub,
    adminNkey: admin.pub,
    enrollPassword: ENROLL_PASSWORD,
    agents: agents.map(([id, u]) => ({ id, nkey: u.pub })),
  };
}

const dirs: string[] = [];
const servers: EmbeddedNats[] = [];
const conns: NatsConnection[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-embedded-nats-'));
  dirs.push(dir);
  return dir;
}

function embedded(opts: Partial<EmbeddedNatsOptions> & { auth: AuthIdentities }): EmbeddedNats {
  const nats = new EmbeddedNats({ dataDir: join(tempDir(), 'nats'), host: '127.0.0.1', port: 0, ...opts });
  servers.push(nats);
  return nats;
}

/** A connection plus the async errors (permission violations) the server sent it. */
async function open(
  nats: EmbeddedNats,
  user: User,
  extra: Partial<NodeConnectionOptions> = {},
): Promise<{ nc: NatsConnection; errors: Error[]; statuses: Status[] }> {
  const nc = await connect({ servers: nats.url, authenticator: nkeyAuthenticator(user.seed), reconnect: false, ...extra });
  conns.push(nc);
  const errors: Error[] = [];
  const statuses: Status[] = [];
  void (async () => {
    for await (const s of nc.status()) {
      statuses.push(s);
      if (s.type === 'error') errors.push(s.error);
    }
  })();
  return { nc, errors, statuses };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

function caught(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (err: unknown) => err,
  );
}

/** Collect what an admin subscriber receives on `subject` within `ms`. */
async function received(nc: NatsConnection, subject: string, act: () => Promise<void> | void, ms = 300): Promise<string[]> {
  const got: string[] = [];
  const sub = nc.subscribe(subject, { callback: (_err, m) => void got.push(m.string()) });
  await nc.flush();
  await act();
  await sleep(ms);
  sub.unsubscribe();
  return got;
}

afterAll(async () => {
  await Promise.allSettled(conns.map((c) => c.close()));
  await Promise.allSettled(servers.map((s) => s.stop()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('EmbeddedNats: start, auth, JetStream', () => {
  let nats: EmbeddedNats;
  beforeAll(async () => {
    nats = embedded({ auth: auth([]) });
    await nats.start();
  });

  it('starts on a random port and writes a 0600 config pinned to that port', () => {
    const port = Number(new URL(nats.url).port);
    expect(port).toBeGreaterThan(0);
    expect(nats.url).toBe(`nats://127.0.0.1:${port}`);
    expect(nats.pid).toBeGreaterThan(0);
    const conf = join(nats.configPath);
    expect(statSync(conf).mode & 0o777).toBe(0o600);
    const text = readFileSync(conf, 'utf8');
    expect(text).toContain('server_name: "ferry"');
    expect(text).toContain(`listen: "127.0.0.1:${port}"`);
    expect(text).toContain('max_payload: 1048576');
    expect(text).not.toContain('no_auth_user');
  });

  it('lets the admin in and use JetStream; refuses anonymous connections', async () => {
    const { nc } = await open(nats, admin);
    const jsm = await jetstreamManager(nc);
    const info = await jsm.getAccountInfo();
    expect(info.streams).toBeGreaterThanOrEqual(0);
    const kv = await new Kvm(nc).create('smoke');
    await kv.put('k', 'v');
    expect((await kv.get('k'))?.string()).toBe('v');

    const err = await caught(connect({ servers: nats.url, reconnect: false }));
    expect(String(err)).toMatch(/authorization violation/i);
  });
});

describe('EmbeddedNats: supervision', () => {
  it('restarts a killed server on the same port; clients reconnect; JetStream data survives', async () => {
    const nats = embedded({ auth: auth([]) });
    await nats.start();
    const url = nats.url;
    const { nc, statuses } = await open(nats, admin, { reconnect: true, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
    const kv = await new Kvm(nc).create('survive');
    await kv.put('k', 'before');

    const exits: unknown[] = [];
    nats.on('exited', (info) => exits.push(info));
    const restarted = new Promise((resolve) => nats.once('restarted', resolve));
    const oldPid = nats.pid!;
    process.kill(oldPid, 'SIGKILL');
    const info = (await restarted) as { pid: number; port: number; attempt: number };

    expect(exits).toEqual([{ pid: oldPid, code: null, signal: 'SIGKILL', expected: false }]);
    expect(nats.url).toBe(url);
    expect(info.port).toBe(Number(new URL(url).port));
    expect(info.pid).not.toBe(oldPid);
    expect(nats.pid).toBe(info.pid);

    await waitFor(() => statuses.some((s) => s.type === 'reconnect'));
    expect((await kv.get('k'))?.string()).toBe('before');
  });

  it('keeps retrying with backoff while the port is taken, then comes back on it', async () => {
    const nats = embedded({ auth: auth([]) });
    await nats.start();
    const port = Number(new URL(nats.url).port);
    const exits: Array<{ expected: boolean }> = [];
    nats.on('exited', (info) => exits.push(info));
    const restarted = new Promise<{ attempt: number; port: number }>((resolve) => nats.once('restarted', resolve));
    const oldPid = nats.pid!;
    process.kill(oldPid, 'SIGKILL');
    // Grab the port before the first restart (250 ms later) so that it fails.
    const squatter = createServer();
    const deadline = Date.now() + 200;
    for (;;) {
      const ok = await new Promise<boolean>((resolve) => {
        squatter.once('error', () => resolve(false));
        squatter.listen(port, '127.0.0.1', () => resolve(true));
      });
      if (ok) break;
      if (Date.now() > deadline) throw new Error('could not take the port');
      await sleep(5);
    }
    await waitFor(() => exits.length >= 2); // the killed one and the failed restart
    await new Promise<void>((resolve) => squatter.close(() => resolve()));
    const info = await restarted;
    expect(info.attempt).toBeGreaterThanOrEqual(2);
    expect(info.port).toBe(port);
    expect(exits.every((e) => !e.expected)).toBe(true);
    expect(nats.recentOutput().join('\n')).toMatch(/address already in use/);
  });

  it('stop() is idempotent and does not restart', async () => {
    const nats = embedded({ auth: auth([]) });
    await nats.start();
    let restarts = 0;
    nats.on('restarted', () => restarts++);
    const exited = new Promise((resolve) => nats.once('exited', resolve));
    await Promise.all([nats.stop(), nats.stop()]);
    await nats.stop();
    expect(await exited).toMatchObject({ expected: true });
    expect(nats.pid).toBeUndefined();
    await sleep(400);
    expect(restarts).toBe(0);
  });

  it('rejects with FERRY_NATS_FAILED and the last output line when nats-server exits at start', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const nats = embedded({ auth: auth([]), port });
      const err = (await caught(nats.start())) as FerryError;
      expect(err).toBeInstanceOf(FerryError);
      expect(err.code).toBe('FERRY_NATS_FAILED');
      expect(err.message).toMatch(/address already in use/);
    } finally {
      blocker.close();
    }
  });
});

describe('EmbeddedNats: missing binary', () => {
  const savedPath = process.env.PATH;
  afterEach(() => {
    process.env.PATH = savedPath;
  });

  it('FERRY_NATS_MISSING for an explicit binary that does not exist', async () => {
    const nats = embedded({ auth: auth([]), binary: '/nonexistent/nats-server' });
    const err = (await caught(nats.start())) as FerryError;
    expect(err).toBeInstanceOf(FerryError);
    expect(err.code).toBe('FERRY_NATS_MISSING');
    expect(err.hint).toMatch(/apt-get install -y nats-server/);
  });

  it('findNatsServerBinary searches PATH first', () => {
    expect(findNatsServerBinary()).toMatch(/nats-server$/);
  });

  it('findNatsServerBinary with PATH emptied falls back to /usr/sbin, /usr/local/bin', () => {
    process.env.PATH = '';
    const installed = ['/usr/sbin/nats-server', '/usr/local/bin/nats-server'].some((p) => {
      try {
        return statSync(p).isFile();
      } catch {
        return false;
      }
    });
    if (installed) expect(findNatsServerBinary()).toMatch(/^\/usr\/(sbin|local\/bin)\/nats-server$/);
    else expect(() => findNatsServerBinary()).toThrowError(expect.objectContaining({ code: 'FERRY_NATS_MISSING' }));
  });

  it('findNatsServerBinary with an empty PATH and no fallback → FERRY_NATS_MISSING with the hint', () => {
    let err: unknown;
    try {
      findNatsServerBinary({ path: '', fallbackDirs: [] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).code).toBe('FERRY_NATS_MISSING');
    expect((err as FerryError).message).toBe('nats-server not found on PATH or in /usr/sbin');
    expect((err as FerryError).hint).toBe(
      'install it with: sudo apt-get install -y nats-server (Debian/Ubuntu), version 2.9.10 or newer',
    );
  });
});

describe('EmbeddedNats: updateAuth (SIGHUP reload)', () => {
  it('adds an agent without a restart and keeps existing connections', async () => {
    const nats = embedded({ auth: auth([]) });
    await nats.start();
    const pid = nats.pid;
    const { nc: adminNc, statuses } = await open(nats, admin);

    expect(String(await caught(open(nats, a3)))).toMatch(/authorization violation/i);

    await nats.updateAuth(auth([['a3', a3]]));
    expect(nats.pid).toBe(pid);
    expect(readFileSync(nats.configPath, 'utf8')).toContain(a3.pub);

    const { nc: agentNc, statuses: agentStatuses } = await open(nats, a3, { inboxPrefix: '_INBOX_a3' });
    // The admin connection made before the reload is the same, still working connection.
    const got = await received(adminNc, 'ferry.agent.a3.>', () => agentNc.publish('ferry.agent.a3.status', 'up'));
    expect(got).toEqual(['up']);
    expect(adminNc.isClosed()).toBe(false);
    expect(statuses.filter((s) => s.type === 'disconnect' || s.type === 'reconnect')).toEqual([]);

    // Removing the agent: new connections are refused.
    const agentClosed = agentNc.closed();
    await nats.updateAuth(auth([]));
    expect(String(await caught(open(nats, a3)))).toMatch(/authorization violation/i);
    // Observed on nats-server 2.9.10: the reload also drops the existing connection of the
    // removed user at once (the server re-checks every client's authorization and closes the
    // socket; the client sees a plain disconnect, and with reconnect on it would then be
    // refused with "Authorization Violation").
    const closedWith = await Promise.race([agentClosed.then(() => 'closed'), sleep(2000).then(() => 'still open')]);
    expect(closedWith).toBe('closed');
    expect(agentStatuses.map((s) => s.type)).toContain('disconnect');
    expect(agentNc.isClosed()).toBe(true);
    // The admin connection survives this reload too.
    expect(await received(adminNc, 'x.y', () => adminNc.publish('x.y', 'still here'))).toEqual(['still here']);
    expect(nats.pid).toBe(pid);
  });

  it('validates before touching the config', async () => {
    const nats = embedded({ auth: auth([]) });
    await nats.start();
    const before = readFileSync(nats.configPath, 'utf8');
    const err = (await caught(nats.updateAuth(auth([['a"; x', a1]])))) as FerryError;
    expect(err.code).toBe('FERRY_INVALID_INPUT');
    expect(readFileSync(nats.configPath, 'utf8')).toBe(before);
  });
});

describe('EmbeddedNats: agent permissions', () => {
  let nats: EmbeddedNats;
  let adminNc: NatsConnection;
  let agent: { nc: NatsConnection; errors: Error[] };
  let desiredAllowDirect: boolean | undefined;

  beforeAll(async () => {
    nats = embedded({ auth: auth([['a1', a1], ['a2', a2]]) });
    await nats.start();
    adminNc = (await open(nats, admin)).nc;
    const kv = await new Kvm(adminNc).create('ferry-desired');
    desiredAllowDirect = (await kv.status()).streamInfo.config.allow_direct;
    await kv.put('a1', 'desired-for-a1');
    await kv.put('a2', 'desired-for-a2');
    const os = await new Objm(adminNc).create('ferry-dml');
    await os.putBlob({ name: 'pkg' }, new TextEncoder().encode('package bytes'));
    agent = await open(nats, a1, { inboxPrefix: '_INBOX_a1' });
  });

  const lastPermissionError = () => agent.errors.map(String).filter((e) => /permissions violation/i.test(e));

  it('@nats-io/kv creates ferry-desired with allow_direct on 2.9.10', () => {
    expect(desiredAllowDirect).toBe(true);
  });

  it('a1 publishes on its own subjects only', async () => {
    expect(await received(adminNc, 'ferry.agent.>', () => agent.nc.publish('ferry.agent.a1.status', 'ok'))).toEqual(['ok']);
    expect(await received(adminNc, 'ferry.agent.>', () => agent.nc.publish('ferry.agent.a2.status', 'spoof'))).toEqual([]);
    await waitFor(() => lastPermissionError().some((e) => e.includes('ferry.agent.a2.status')));
  });

  it('a1 receives its commands and broadcasts, but cannot subscribe to a2 subjects', async () => {
    const got: string[] = [];
    agent.nc.subscribe('ferry.cmd.a1', { callback: (_e, m) => void got.push(m.string()) });
    agent.nc.subscribe('ferry.broadcast.>', { callback: (_e, m) => void got.push(m.string()) });
    await agent.nc.flush();
    adminNc.publish('ferry.cmd.a1', 'cmd');
    adminNc.publish('ferry.broadcast.all', 'bcast');
    await waitFor(() => got.length === 2);
    expect(got.sort()).toEqual(['bcast', 'cmd']);

    for (const subject of ['ferry.cmd.a2', '_INBOX_a2.>', '_INBOX.>', '$KV.ferry-desired.a2']) {
      const sub = agent.nc.subscribe(subject);
      const closed = await Promise.race([sub.closed, sleep(2000).then(() => 'still open')]);
      expect(String(closed)).toMatch(/permissions violation for subscription/i);
    }
  });

  it('a1 cannot create a JetStream consumer on any stream', async () => {
    for (const subject of [
      '$JS.API.CONSUMER.CREATE.KV_ferry-desired',
      '$JS.API.CONSUMER.CREATE.OBJ_ferry-dml',
      '$JS.API.CONSUMER.CREATE.KV_ferry-desired.c1.$KV.ferry-desired.a1',
      '$JS.API.CONSUMER.DURABLE.CREATE.OBJ_ferry-dml.c1',
    ]) {
      const body = JSON.stringify({ stream_name: subject.split('.')[4], config: { ack_policy: 'none' } });
      const err = await caught(agent.nc.request(subject, body, { timeout: 1000 }));
      expect(String(err)).toMatch(/permissions violation for publish/i);
    }
    const jsm = await jetstreamManager(agent.nc, { timeout: 1000 }); // uses $JS.API.INFO: allowed
    expect(String(await caught(jsm.consumers.add('KV_ferry-desired', {})))).toMatch(/permission/i);
    expect(String(await caught(jsm.streams.info('KV_ferry-desired')))).toMatch(/permission/i);
    expect((await jsm.streams.info('OBJ_ferry-dml')).config.name).toBe('OBJ_ferry-dml');
  });

  it('a1 cannot put into the object store or the KV bucket', async () => {
    for (const subject of ['$O.ferry-dml.C.x', '$O.ferry-dml.M.x', '$KV.ferry-desired.a1', '$KV.ferry-desired.a2']) {
      const err = await caught(agent.nc.request(subject, 'evil', { timeout: 1000 }));
      expect(String(err)).toMatch(/permissions violation for publish/i);
    }
    const kv = await new Kvm(adminNc).open('ferry-desired');
    expect((await kv.get('a1'))?.string()).toBe('desired-for-a1');
  });

  it('a1 can direct-get its own desired key but not a2’s', async () => {
    const msg = await agent.nc.request('$JS.API.DIRECT.GET.KV_ferry-desired.$KV.ferry-desired.a1', Empty, { timeout: 1000 });
    expect(msg.string()).toBe('desired-for-a1');
    expect(msg.headers?.get('Nats-Subject')).toBe('$KV.ferry-desired.a1');

    const err = await caught(
      agent.nc.request('$JS.API.DIRECT.GET.KV_ferry-desired.$KV.ferry-desired.a2', Empty, { timeout: 1000 }),
    );
    expect(String(err)).toMatch(/permissions violation for publish/i);
    const byBody = await caught(
      agent.nc.request('$JS.API.DIRECT.GET.KV_ferry-desired', JSON.stringify({ last_by_subj: '$KV.ferry-desired.a2' }), {
        timeout: 1000,
      }),
    );
    expect(String(byBody)).toMatch(/permissions violation for publish/i);
  });

  it('a1 can read object-store metadata and chunks by direct get', async () => {
    const meta = await agent.nc.request('$JS.API.DIRECT.GET.OBJ_ferry-dml', JSON.stringify({ last_by_subj: '$O.ferry-dml.M.cGtn' }), {
      timeout: 1000,
    });
    const info = meta.json<{ name: string; nuid: string }>();
    expect(info.name).toBe('pkg');
    const chunk = await agent.nc.request(`$JS.API.DIRECT.GET.OBJ_ferry-dml.$O.ferry-dml.C.${info.nuid}`, Empty, { timeout: 1000 });
    expect(chunk.string()).toBe('package bytes');
  });

  it('the enroll user may only request ferry.enroll', async () => {
    const { nc, errors } = await open(nats, admin, { inboxPrefix: '_INBOX_enroll', authenticator: usernamePasswordAuthenticator('ferry-enroll', ENROLL_PASSWORD) });
    const sub = adminNc.subscribe('ferry.enroll', { callback: (_e, m) => void m.respond('welcome') });
    await adminNc.flush();
    expect((await nc.request('ferry.enroll', 'hi', { timeout: 1000 })).string()).toBe('welcome');
    sub.unsubscribe();
    expect(String(await caught(nc.request('ferry.agent.a1.status', 'x', { timeout: 1000 })))).toMatch(/permissions violation/i);
    expect(String(await caught(nc.request('$JS.API.INFO', Empty, { timeout: 1000 })))).toMatch(/permissions violation/i);
    expect(errors.length).toBeGreaterThan(0);
  });
});
