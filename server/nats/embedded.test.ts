// Runs a real nats-server (Debian's 2.9.10 in CI) through EmbeddedNats, in operator mode
// (decentralised JWT auth): FERRY holds the streams, agents live in AGENTS and reach FERRY only
// through its service exports (reports, direct gets) and stream exports (commands, broadcasts).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { createUser } from '@nats-io/nkeys';
import { Objm } from '@nats-io/obj';
import { connect, Empty, nkeyAuthenticator, type NatsConnection, type NodeConnectionOptions, type Status } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../shared/errors.js';
import { nativeAuthenticator } from '../../shared/nats/nkey-auth.js';
import { buildAccountJwts, issueAccountUser, issueAgentJwt, issueEnrollJwt, type AccountJwts, type Revocations } from './accounts.js';
import { EmbeddedNats, findNatsServerBinary, type EmbeddedNatsOptions } from './embedded.js';
import { ensureNatsKeys, loadNatsKeys, type NatsKeys } from './nats-keys.js';
import type { OperatorAuth } from './server-config.js';

interface User {
  pub: string;
  seed: string;
  jwt?: string;
}
const newUser = (): User => {
  const kp = createUser();
  return { pub: kp.getPublicKey(), seed: new TextDecoder().decode(kp.getSeed()) };
};

const dirs: string[] = [];
const servers: EmbeddedNats[] = [];
const conns: NatsConnection[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-embedded-nats-'));
  dirs.push(dir);
  return dir;
}

// --- the fixture: one set of keys, the accounts, an admin in FERRY, agents a1/a2, a SYS user ---
const ROOT = 'test';
let keys: NatsKeys;
let jwts: AccountJwts;
let operatorAuth: OperatorAuth;
const admin = newUser();
const sys = newUser();
const a1 = newUser();
const a2 = newUser();

async function accountJwts(agentRevocations: Revocations = {}): Promise<AccountJwts> {
  return buildAccountJwts(keys, { agentRevocations, enrollRevocations: {}, rootFingerprint: ROOT, agentsToMigrate: 0 });
}

beforeAll(async () => {
  const file = join(tempDir(), 'nats.json');
  ensureNatsKeys(file);
  keys = loadNatsKeys(file);
  jwts = await accountJwts();
  operatorAuth = { operatorJwt: jwts.operator, systemAccount: jwts.systemAccount, accounts: jwts.accounts };
  admin.jwt = (await issueAccountUser(keys, 'FERRY', 'admin', { publicKey: admin.pub, seed: admin.seed })).jwt;
  sys.jwt = (await issueAccountUser(keys, 'SYS', 'sys', { publicKey: sys.pub, seed: sys.seed })).jwt;
  a1.jwt = await issueAgentJwt(keys, 'a1', a1.pub);
  a2.jwt = await issueAgentJwt(keys, 'a2', a2.pub);
});

function embedded(opts: Partial<EmbeddedNatsOptions> = {}): EmbeddedNats {
  const nats = new EmbeddedNats({ dataDir: join(tempDir(), 'nats'), host: '127.0.0.1', port: 0, auth: operatorAuth, ...opts });
  servers.push(nats);
  return nats;
}

/** A connection plus the async errors (permission violations) the server sent it. */
async function open(
  nats: EmbeddedNats,
  user: User,
  extra: Partial<NodeConnectionOptions> = {},
): Promise<{ nc: NatsConnection; errors: Error[]; statuses: Status[] }> {
  const nc = await connect({ servers: nats.url, authenticator: nativeAuthenticator(user.seed, user.jwt), reconnect: false, ...extra });
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

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
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

/**
 * What a subscriber receives on `subject` while `act` runs. `act` ends by publishing `sentinel`
 * (something that does arrive) from the same connection as anything it expects to be dropped:
 * messages from one connection arrive in order, so once the sentinel is here nothing sent before it
 * is still on its way. No fixed wait.
 */
async function received(nc: NatsConnection, subject: string, act: () => Promise<void> | void, sentinel: string): Promise<string[]> {
  const got: string[] = [];
  const sub = nc.subscribe(subject, { callback: (_err, m) => void got.push(m.string()) });
  await nc.flush();
  await act();
  await waitFor(() => got.includes(sentinel));
  sub.unsubscribe();
  return got.filter((m) => m !== sentinel);
}

/** A subscription the server refuses is closed with a permissions violation (wait for it). */
async function subscribeRefused(nc: NatsConnection, subject: string): Promise<void> {
  const sub = nc.subscribe(subject);
  const closed = await Promise.race([sub.closed, sleep(10_000).then(() => 'still open')]);
  expect(String(closed), subject).toMatch(/permissions violation for subscription/i);
}

async function publishRefused(nc: NatsConnection, subject: string, body: string | Uint8Array = Empty): Promise<void> {
  const err = await caught(nc.request(subject, body, { timeout: 5000 }));
  expect(String(err), subject).toMatch(/permissions violation for publish/i);
}

afterAll(async () => {
  await Promise.allSettled(conns.map((c) => c.close()));
  await Promise.allSettled(servers.map((s) => s.stop()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('EmbeddedNats: start, auth, JetStream', () => {
  let nats: EmbeddedNats;
  beforeAll(async () => {
    nats = embedded();
    await nats.start();
  });

  it('starts on a random port and writes a 0600 config pinned to that port', () => {
    const port = Number(new URL(nats.url).port);
    expect(port).toBeGreaterThan(0);
    expect(nats.url).toBe(`nats://127.0.0.1:${port}`);
    expect(nats.pid).toBeGreaterThan(0);
    const conf = nats.configPath;
    expect(statSync(conf).mode & 0o777).toBe(0o600);
    const text = readFileSync(conf, 'utf8');
    expect(text).toContain('server_name: "ferry"');
    expect(text).toContain(`listen: "127.0.0.1:${port}"`);
    expect(text).toContain('max_payload: 1048576');
    expect(text).not.toContain('no_auth_user');
  });

  it('the config is operator mode: the operator JWT, the system account, a full resolver and the accounts preloaded', () => {
    const text = readFileSync(nats.configPath, 'utf8');
    expect(text).toContain(`operator: "${jwts.operator}"`);
    expect(text).toContain(`system_account: ${jwts.systemAccount}`);
    expect(text).toMatch(/resolver: \{\n {2}type: full\n/);
    expect(text).toContain(`dir: "${join(nats.configPath, '..', 'resolver')}"`);
    expect(text).toContain('resolver_preload: {');
    for (const [id, jwt] of Object.entries(jwts.accounts)) expect(text).toContain(`  ${id}: "${jwt}"`);
    // no users in the config at all: every identity is a JWT
    expect(text).not.toMatch(/\busers\b|\bnkey:|password/);
    expect(statSync(join(nats.configPath, '..', 'resolver')).isDirectory()).toBe(true);
  });

  it('lets the admin in and use JetStream in FERRY; refuses anonymous clients and a plain nkey without a JWT', async () => {
    const { nc } = await open(nats, admin);
    const jsm = await jetstreamManager(nc);
    const info = await jsm.getAccountInfo();
    expect(info.streams).toBeGreaterThanOrEqual(0);
    const kv = await new Kvm(nc).create('smoke');
    await kv.put('k', 'v');
    expect((await kv.get('k'))?.string()).toBe('v');
    // FERRY's streams are stored under its account's public key
    await waitFor(() => existsSync(join(nats.configPath, '..', 'jetstream', 'jetstream', jwts.ids.FERRY, 'streams', 'KV_smoke')));

    expect(String(await caught(connect({ servers: nats.url, reconnect: false })))).toMatch(/authorization violation/i);
    // an nkey the server has never seen a JWT for, known or not
    for (const seed of [newUser().seed, admin.seed, a1.seed]) {
      const err = await caught(connect({ servers: nats.url, reconnect: false, authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)) }));
      expect(String(err)).toMatch(/authorization violation/i);
    }
    // a JWT presented with another key's signature
    const err = await caught(connect({ servers: nats.url, reconnect: false, authenticator: nativeAuthenticator(a2.seed, a1.jwt) }));
    expect(String(err)).toMatch(/authorization violation/i);
    // a user signed by a key no account lists
    const stranger = newUser();
    const foreign = loadNatsKeys((() => {
      const f = join(tempDir(), 'other.json');
      ensureNatsKeys(f);
      return f;
    })());
    stranger.jwt = await issueAgentJwt(foreign, 'a1', stranger.pub);
    expect(String(await caught(open(nats, stranger)))).toMatch(/authorization violation/i);
  });

  it('agents and the SYS user log in to their own accounts, with no JetStream there', async () => {
    const { nc } = await open(nats, a1, { inboxPrefix: '_INBOX.a1' });
    expect(nc.info?.server_name).toBe('ferry');
    const sysNc = (await open(nats, sys)).nc;
    // the system account answers server requests (a ping over $SYS)
    const ping = await sysNc.request('$SYS.REQ.SERVER.PING', Empty, { timeout: 5000 });
    expect(ping.json<{ server: { name: string } }>().server.name).toBe('ferry');
  });

  it('MIGRATE takes no connection once no agent is left to migrate', async () => {
    const { migrationAccount } = await import('./accounts.js');
    const { encodeUser } = await import('@nats-io/jwt');
    const u = newUser();
    u.jwt = await encodeUser('a9', u.pub, migrationAccount(ROOT), {});
    expect(String(await caught(open(nats, u)))).toMatch(/maximum account active connections exceeded|authorization violation|EPIPE|ECONNRESET/i);
  });
});

describe('EmbeddedNats: supervision', () => {
  it('restarts a killed server on the same port; clients reconnect; JetStream data survives', async () => {
    const nats = embedded();
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
    // agents' JWTs are still good after the restart (the accounts come back from the resolver)
    const agent = await open(nats, a1, { inboxPrefix: '_INBOX.a1' });
    expect(await received(nc, 'ferry.agent.>', () => agent.nc.publish('ferry.agent.a1.status', 'back'), 'back')).toEqual([]);
  });

  it('keeps retrying with backoff while the port is taken, then comes back on it', async () => {
    const nats = embedded();
    await nats.start();
    const port = Number(new URL(nats.url).port);
    const exits: Array<{ expected: boolean }> = [];
    nats.on('exited', (info) => exits.push(info));
    const restarted = new Promise<{ attempt: number; port: number }>((resolve) => nats.once('restarted', resolve));
    const oldPid = nats.pid!;
    // Grab the port as soon as the killed nats-server is gone, in the same turn of the event loop
    // as its exit (the first restart is a 250 ms timer after it): the restart must find it taken,
    // however busy the machine. Listening on an IP literal binds at once.
    const squatter = createServer();
    const squatted = new Promise<void>((resolve, reject) => {
      nats.once('exited', () => {
        squatter.once('error', reject);
        squatter.listen(port, '127.0.0.1', () => resolve());
      });
    });
    process.kill(oldPid, 'SIGKILL');
    await squatted;
    await waitFor(() => exits.length >= 2); // the killed one and the failed restart
    await new Promise<void>((resolve) => squatter.close(() => resolve()));
    const info = await restarted;
    expect(info.attempt).toBeGreaterThanOrEqual(2);
    expect(info.port).toBe(port);
    expect(exits.every((e) => !e.expected)).toBe(true);
    expect(nats.recentOutput().join('\n')).toMatch(/address already in use/);
  });

  it('stop() is idempotent and does not restart', async () => {
    const nats = embedded();
    await nats.start();
    let restarts = 0;
    nats.on('restarted', () => restarts++);
    const exited = new Promise((resolve) => nats.once('exited', resolve));
    await Promise.all([nats.stop(), nats.stop()]);
    await nats.stop();
    expect(await exited).toMatchObject({ expected: true });
    expect(nats.pid).toBeUndefined();
    // Give a (wrong) restart, due 250 ms after the exit, ample time to happen.
    await sleep(1000);
    expect(restarts).toBe(0);
    expect(nats.pid).toBeUndefined();
  });

  it('rejects with FERRY_NATS_FAILED and the last output line when nats-server exits at start', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const nats = embedded({ port });
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
    const nats = embedded({ binary: '/nonexistent/nats-server' });
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

describe('EmbeddedNats: JWTs instead of reloads', () => {
  it('a freshly issued agent JWT connects with no config change and no restart', async () => {
    const nats = embedded();
    await nats.start();
    const pid = nats.pid;
    const before = readFileSync(nats.configPath);
    const { nc: adminNc, statuses } = await open(nats, admin);

    // an agent that joins after the start: its JWT is made now, and nobody tells nats-server
    const a3 = newUser();
    a3.jwt = await issueAgentJwt(keys, 'a3', a3.pub);
    expect(readFileSync(nats.configPath, 'utf8')).not.toContain(a3.pub);
    const { nc: agentNc } = await open(nats, a3, { inboxPrefix: '_INBOX.a3' });
    expect(await received(adminNc, 'ferry.agent.a3.>', () => agentNc.publish('ferry.agent.a3.status', 'up'), 'up')).toEqual([]);

    expect(readFileSync(nats.configPath).equals(before)).toBe(true);
    expect(nats.pid).toBe(pid);
    expect(adminNc.isClosed()).toBe(false);
    expect(statuses.filter((s) => s.type === 'disconnect' || s.type === 'reconnect')).toEqual([]);
  });

  it('an AGENTS update with an agent revoked, pushed from SYS, closes its connection and refuses new ones; others stay', async () => {
    const nats = embedded();
    await nats.start();
    const pid = nats.pid;
    const before = readFileSync(nats.configPath);
    const { nc: adminNc, statuses: adminStatuses } = await open(nats, admin);
    const { nc: sysNc } = await open(nats, sys);
    const { nc: agentNc, statuses: agentStatuses } = await open(nats, a1, { inboxPrefix: '_INBOX.a1' });
    const { nc: otherNc } = await open(nats, a2, { inboxPrefix: '_INBOX.a2' });
    expect(await received(adminNc, 'ferry.agent.a1.>', () => agentNc.publish('ferry.agent.a1.status', 'up'), 'up')).toEqual([]);

    const agentClosed = agentNc.closed();
    const updated = await accountJwts({ [a1.pub]: Math.ceil(Date.now() / 1000) });
    const reply = await sysNc.request('$SYS.REQ.CLAIMS.UPDATE', updated.accounts[updated.ids.AGENTS]!, { timeout: 10_000 });
    const body = reply.json<{ data?: { code?: number; account?: string }; error?: unknown }>();
    expect(body.error).toBeUndefined();
    expect(body.data).toMatchObject({ code: 200, account: jwts.ids.AGENTS });

    // the live connection is closed by the server at once
    const closedWith = await Promise.race([agentClosed.then(() => 'closed'), sleep(10_000).then(() => 'still open')]);
    expect(closedWith).toBe('closed');
    expect(agentNc.isClosed()).toBe(true);
    expect(agentStatuses.map((s) => s.type)).toContain('disconnect');
    // and the same JWT cannot come back
    expect(String(await caught(open(nats, a1, { inboxPrefix: '_INBOX.a1' })))).toMatch(/authorization violation|revoked/i);
    // a JWT issued for that nkey before the revocation time is refused too
    // (one issued later would be a new join; the server revokes by nkey and time)

    // the other agent and the admin are untouched, as are the config and the process
    expect(otherNc.isClosed()).toBe(false);
    expect(await received(adminNc, 'ferry.agent.a2.>', () => otherNc.publish('ferry.agent.a2.status', 'still here'), 'still here')).toEqual([]);
    expect(await received(adminNc, 'x.y', () => adminNc.publish('x.y', 'admin here'), 'admin here')).toEqual([]);
    expect(adminStatuses.filter((s) => s.type === 'disconnect' || s.type === 'reconnect')).toEqual([]);
    expect(readFileSync(nats.configPath).equals(before)).toBe(true);
    expect(nats.pid).toBe(pid);

    expect(String(await caught(open(nats, a1, { inboxPrefix: '_INBOX.a1' })))).toMatch(/authorization violation|revoked/i);
  });
});

describe('EmbeddedNats: the JetStream store of a data directory from before operator mode', () => {
  it('moves <dataDir>/jetstream/jetstream/FERRY to the FERRY account’s public key dir on start', async () => {
    const dataDir = join(tempDir(), 'nats');
    // Make a real store, then give it the legacy layout (the config-mode account name).
    const first = embedded({ dataDir });
    await first.start();
    const { nc } = await open(first, admin);
    await (await new Kvm(nc).create('ferry-desired')).put('a1', 'kept');
    await nc.close();
    await first.stop();
    const base = join(dataDir, 'jetstream', 'jetstream');
    const current = join(base, jwts.ids.FERRY);
    const legacy = join(base, 'FERRY');
    expect(existsSync(join(current, 'streams', 'KV_ferry-desired'))).toBe(true);
    renameSync(current, legacy);

    const nats = embedded({ dataDir, storeAccount: { legacyName: 'FERRY', publicKey: jwts.ids.FERRY } });
    await nats.start();
    expect(existsSync(legacy)).toBe(false);
    expect(existsSync(join(current, 'streams', 'KV_ferry-desired'))).toBe(true);
    const admin2 = (await open(nats, admin)).nc;
    expect((await (await new Kvm(admin2).open('ferry-desired')).get('a1'))?.string()).toBe('kept');
  });

  it('leaves the store alone without storeAccount, and never overwrites a current store', async () => {
    const dataDir = join(tempDir(), 'nats');
    const base = join(dataDir, 'jetstream', 'jetstream');
    mkdirSync(join(base, 'FERRY'), { recursive: true });
    writeFileSync(join(base, 'FERRY', 'marker'), 'legacy');
    const plain = embedded({ dataDir });
    await plain.start();
    await plain.stop();
    expect(readFileSync(join(base, 'FERRY', 'marker'), 'utf8')).toBe('legacy');

    mkdirSync(join(base, jwts.ids.FERRY), { recursive: true });
    writeFileSync(join(base, jwts.ids.FERRY, 'marker'), 'current');
    const nats = embedded({ dataDir, storeAccount: { legacyName: 'FERRY', publicKey: jwts.ids.FERRY } });
    await nats.start();
    expect(readFileSync(join(base, jwts.ids.FERRY, 'marker'), 'utf8')).toBe('current');
    expect(readFileSync(join(base, 'FERRY', 'marker'), 'utf8')).toBe('legacy');
  });
});

describe('EmbeddedNats: agent permissions', () => {
  // The agent is a user of AGENTS: the streams are in FERRY, and the agent reaches them only through
  // FERRY's service exports (its reports, direct gets) and stream exports (commands, broadcasts).
  let nats: EmbeddedNats;
  let adminNc: NatsConnection;
  let agent: { nc: NatsConnection; errors: Error[] };
  let desiredAllowDirect: boolean | undefined;

  beforeAll(async () => {
    nats = embedded();
    await nats.start();
    adminNc = (await open(nats, admin)).nc;
    const kv = await new Kvm(adminNc).create('ferry-desired');
    desiredAllowDirect = (await kv.status()).streamInfo.config.allow_direct;
    await kv.put('a1', 'desired-for-a1');
    await kv.put('a2', 'desired-for-a2');
    await kv.put('_trust', 'trust-document');
    const os = await new Objm(adminNc).create('ferry-dml');
    await os.putBlob({ name: 'pkg' }, new TextEncoder().encode('package bytes'));
    agent = await open(nats, a1, { inboxPrefix: '_INBOX.a1' });
  });

  const permissionErrors = () => agent.errors.map(String).filter((e) => /permissions violation/i.test(e));

  it('@nats-io/kv creates ferry-desired with allow_direct on 2.9.10', () => {
    expect(desiredAllowDirect).toBe(true);
  });

  it('a1 publishes on its own report subjects only; they reach an admin subscriber in FERRY', async () => {
    const got = await received(adminNc, 'ferry.agent.>', () => {
      agent.nc.publish('ferry.agent.a1.inventory', 'inv');
      agent.nc.publish('ferry.agent.a1.heartbeat', 'hb');
      agent.nc.publish('ferry.agent.a1.status', 'ok');
    }, 'ok');
    expect(got).toEqual(['inv', 'hb']);
    const spoofed = await received(adminNc, 'ferry.agent.>', () => {
      agent.nc.publish('ferry.agent.a2.status', 'spoof');
      agent.nc.publish('ferry.agent.a1.other', 'not a report');
      agent.nc.publish('ferry.api.agents.list', 'api');
      agent.nc.publish('ferry.agent.a1.status', 'sentinel');
    }, 'sentinel');
    expect(spoofed).toEqual([]);
    await waitFor(() => permissionErrors().some((e) => e.includes('ferry.agent.a2.status')));
    await waitFor(() => permissionErrors().some((e) => e.includes('ferry.agent.a1.other')));
  });

  it('a1 receives its commands (stream import) and broadcasts, but cannot subscribe to a2 subjects or other inboxes', async () => {
    const got: string[] = [];
    agent.nc.subscribe('ferry.cmd.a1', { callback: (_e, m) => void got.push(m.string()) });
    agent.nc.subscribe('ferry.broadcast.>', { callback: (_e, m) => void got.push(m.string()) });
    await agent.nc.flush();
    adminNc.publish('ferry.cmd.a2', 'cmd-for-a2');
    adminNc.publish('ferry.cmd.a1', 'cmd');
    adminNc.publish('ferry.broadcast.all', 'bcast');
    await waitFor(() => got.length >= 2);
    expect(got.sort()).toEqual(['bcast', 'cmd']);

    for (const subject of ['ferry.cmd.a2', 'ferry.cmd.*', 'ferry.cmd.>', '_INBOX.a2.>', '_INBOX.>', '_INBOX_enroll.>', '_R_.>', 'ferry.agent.>', '$KV.ferry-desired.a2', '$KV.ferry-desired.>', '>']) {
      await subscribeRefused(agent.nc, subject);
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
      await publishRefused(agent.nc, subject, body);
    }
    const jsm = await jetstreamManager(agent.nc, { timeout: 5000, checkAPI: false });
    expect(String(await caught(jsm.consumers.add('KV_ferry-desired', {})))).toMatch(/permission/i);
    expect(String(await caught(jsm.consumers.add('OBJ_ferry-dml', {})))).toMatch(/permission/i);
  });

  it('$JS.API.INFO and STREAM.INFO are not granted to agents any more', async () => {
    await publishRefused(agent.nc, '$JS.API.INFO');
    for (const stream of ['OBJ_ferry-dml', 'KV_ferry-desired']) await publishRefused(agent.nc, `$JS.API.STREAM.INFO.${stream}`);
    await publishRefused(agent.nc, '$JS.API.STREAM.NAMES');
    expect(String(await caught(jetstreamManager(agent.nc, { timeout: 5000 })))).toMatch(/permission/i);
    const jsm = await jetstreamManager(agent.nc, { timeout: 5000, checkAPI: false });
    expect(String(await caught(jsm.streams.info('OBJ_ferry-dml')))).toMatch(/permission/i);
    expect(String(await caught(jsm.streams.info('KV_ferry-desired')))).toMatch(/permission/i);
  });

  it('a1 cannot put into the object store or the KV bucket', async () => {
    for (const subject of ['$O.ferry-dml.C.x', '$O.ferry-dml.M.x', '$KV.ferry-desired.a1', '$KV.ferry-desired.a2', '$KV.ferry-desired._trust']) {
      await publishRefused(agent.nc, subject, 'evil');
    }
    const kv = await new Kvm(adminNc).open('ferry-desired');
    expect((await kv.get('a1'))?.string()).toBe('desired-for-a1');
    expect((await kv.get('_trust'))?.string()).toBe('trust-document');
  });

  it('a1 can direct-get its own desired key and the trust document, but not a2’s', async () => {
    const msg = await agent.nc.request('$JS.API.DIRECT.GET.KV_ferry-desired.$KV.ferry-desired.a1', Empty, { timeout: 5000 });
    expect(msg.string()).toBe('desired-for-a1');
    expect(msg.headers?.get('Nats-Subject')).toBe('$KV.ferry-desired.a1');
    const trust = await agent.nc.request('$JS.API.DIRECT.GET.KV_ferry-desired.$KV.ferry-desired._trust', Empty, { timeout: 5000 });
    expect(trust.string()).toBe('trust-document');

    await publishRefused(agent.nc, '$JS.API.DIRECT.GET.KV_ferry-desired.$KV.ferry-desired.a2');
    await publishRefused(agent.nc, '$JS.API.DIRECT.GET.KV_ferry-desired.$KV.ferry-desired.*');
    await publishRefused(agent.nc, '$JS.API.DIRECT.GET.KV_ferry-desired', JSON.stringify({ last_by_subj: '$KV.ferry-desired.a2' }));
    await publishRefused(agent.nc, '$JS.API.DIRECT.GET.KV_ferry-desired', JSON.stringify({ seq: 1 }));

    // a2, with its own JWT, reads its own key and not a1's
    const other = await open(nats, a2, { inboxPrefix: '_INBOX.a2' });
    expect((await other.nc.request('$JS.API.DIRECT.GET.KV_ferry-desired.$KV.ferry-desired.a2', Empty, { timeout: 5000 })).string()).toBe('desired-for-a2');
    await publishRefused(other.nc, '$JS.API.DIRECT.GET.KV_ferry-desired.$KV.ferry-desired.a1');
  });

  it('a1 can read object-store metadata and chunks by direct get', async () => {
    const meta = await agent.nc.request('$JS.API.DIRECT.GET.OBJ_ferry-dml', JSON.stringify({ last_by_subj: '$O.ferry-dml.M.cGtn' }), {
      timeout: 5000,
    });
    const info = meta.json<{ name: string; nuid: string }>();
    expect(info.name).toBe('pkg');
    const chunk = await agent.nc.request(`$JS.API.DIRECT.GET.OBJ_ferry-dml.$O.ferry-dml.C.${info.nuid}`, Empty, { timeout: 5000 });
    expect(chunk.string()).toBe('package bytes');
  });

  it('replies reach the agent only on its own inbox prefix', async () => {
    // A client whose inbox prefix is not its own cannot get any reply: the subscription is refused.
    const wrong = await open(nats, a1, { inboxPrefix: '_INBOX.a2' });
    const err = await caught(wrong.nc.request('$JS.API.DIRECT.GET.KV_ferry-desired.$KV.ferry-desired.a1', Empty, { timeout: 3000 }));
    expect(err).toBeDefined();
    await waitFor(() => wrong.errors.some((e) => /permissions violation for subscription/i.test(String(e))));
  });

  it('the enrolment user may only publish ferry.enroll.challenge and ferry.enroll.join', async () => {
    const u = newUser();
    u.jwt = await issueEnrollJwt(keys, 't1', u.pub, Date.now() + 3_600_000);
    const { nc, errors } = await open(nats, u, { inboxPrefix: '_INBOX_enroll.enroll-t1' });
    const seen: string[] = [];
    const responders = ['ferry.enroll.challenge', 'ferry.enroll.join', 'ferry.enroll.migrate'].map((subject) =>
      adminNc.subscribe(subject, {
        callback: (_e, m) => {
          seen.push(`${subject} ${m.reply?.startsWith('_R_.') ? '_R_' : String(m.reply)}`);
          m.respond(`answer to ${m.string()}`);
        },
      }),
    );
    await adminNc.flush();
    // through the import: the responder in FERRY sees a private _R_ reply subject, and the answer reaches the client
    expect((await nc.request('ferry.enroll.challenge', 'hi', { timeout: 5000 })).string()).toBe('answer to hi');
    expect((await nc.request('ferry.enroll.join', 'join', { timeout: 5000 })).string()).toBe('answer to join');
    expect(seen).toEqual(['ferry.enroll.challenge _R_', 'ferry.enroll.join _R_']);

    for (const subject of ['ferry.enroll.migrate', 'ferry.enroll', 'ferry.agent.a1.status', 'ferry.api.agents.list', '$JS.API.INFO', '$JS.API.DIRECT.GET.KV_ferry-desired.$KV.ferry-desired._trust', '$KV.ferry-desired.a1', '$SYS.REQ.CLAIMS.UPDATE']) {
      await publishRefused(nc, subject, 'x');
    }
    for (const subject of ['ferry.cmd.a1', 'ferry.broadcast.>', '_INBOX.>', '_INBOX_enroll.enroll-t2.>', '_INBOX_enroll.>', '>']) {
      await subscribeRefused(nc, subject);
    }
    expect(seen).toHaveLength(2);
    for (const s of responders) s.unsubscribe();
    expect(errors.length).toBeGreaterThan(0);
  });
});
