// Helpers for the hostile-input tests (test/security): connecting to a test server's NATS as any
// of its identities (admin, enrolment, an agent, nobody), crafting documents signed with the
// server's real keys (or with the wrong ones), speaking raw NATS protocol to get past client-side
// checks, reading the daemons' JSON log lines, and listing what an agent wrote to disk.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { Socket } from 'node:net';
import { createAccount, createUser } from '@nats-io/nkeys';
import { encodeUser } from '@nats-io/jwt';
import { join } from 'node:path';
import { signBytes, signEnvelope, type SignedEnvelope, type SigningKeyPair } from '../../shared/crypto/sign.js';
import type { SignedTrust } from '../../shared/crypto/trust.js';
import type { DesiredState, DmlRecord } from '../../shared/protocol/messages.js';
import { subjects } from '../../shared/protocol/subjects.js';
import { decodeToken } from '../../shared/protocol/token.js';
import { parseCreds, type NatsCreds } from '../../shared/nats/creds.js';
import { nativeAuthenticator } from '../../shared/nats/nkey-auth.js';
import { parseOperatorKey, type OperatorKey } from '../../shared/operators/credentials.js';
import { AUTH_HEADER, signRequest } from '../../shared/operators/request-signature.js';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { waitFor } from './fleet.js';
import { FerryError } from '../../shared/errors.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

export const encode = (value: unknown): Uint8Array => enc.encode(JSON.stringify(value));

// ---------------------------------------------------------------------------------------------
// The server's secrets (a test server's FERRY_HOME), to act as a compromised or confused insider

export interface ServerSecrets {
  natsUrl: string;
  /** the online key: signs DML records, desired states and commands */
  signing: SigningKeyPair;
  /** the root key: signs trust documents only */
  root: SigningKeyPair;
  /** the current signed trust document */
  trust: SignedTrust;
  /** the bootstrap admin's credentials (keys/admin.creds: full access to the FERRY account) */
  admin: NatsCreds;
  /** the bootstrap admin's request-signing key (the last block of keys/admin.creds) */
  adminKey: OperatorKey;
}

/** Connections whose raw API requests are signed, and with which operator key. */
const signers = new WeakMap<NatsConnection, OperatorKey>();

export function serverSecrets(home: string): ServerSecrets {
  const json = <T>(rel: string): T => JSON.parse(readFileSync(join(home, rel), 'utf8')) as T;
  return {
    natsUrl: json<{ natsUrl: string }>('server.json').natsUrl,
    signing: json<SigningKeyPair>('keys/signing.json'),
    root: json<SigningKeyPair>('keys/root.json'),
    trust: json<SignedTrust>('keys/trust.json'),
    admin: parseCreds(readFileSync(join(home, 'keys', 'admin.creds'), 'utf8'))!,
    adminKey: parseOperatorKey(readFileSync(join(home, 'keys', 'admin.creds'), 'utf8'))!,
  };
}

/** The nkey seed an agent generated at join (`<state-dir>/agent.nk`). */
export function agentSeed(stateDir: string): string {
  return readFileSync(join(stateDir, 'agent.nk'), 'utf8').trim();
}

/** An agent's NATS credentials: the user JWT it received at join and its seed. */
export function agentCreds(stateDir: string): NatsCreds {
  const identity = JSON.parse(readFileSync(join(stateDir, 'identity.json'), 'utf8')) as { jwt: string };
  return { jwt: identity.jwt, seed: agentSeed(stateDir) };
}

// ---------------------------------------------------------------------------------------------
// Connections that record the errors the server sends (permission violations arrive async)

export interface Watched {
  nc: NatsConnection;
  /** every error reported through nc.status() */
  errors: Error[];
  close(): Promise<void>;
}

/** A user JWT and its seed, a bare nkey seed (refused in operator mode), or nothing (anonymous). */
export type Credential = NatsCreds | string | undefined;

/**
 * Connect with credentials, a bare seed or anonymously; no reconnects. A refused login is retried
 * `attempts` times (default 1: with decentralised auth a JWT is valid or it is not).
 */
export async function connectAs(url: string, cred: Credential, opts: { inboxPrefix?: string; name?: string; attempts?: number } = {}): Promise<Watched> {
  const auth = cred === undefined ? undefined : typeof cred === 'string' ? nativeAuthenticator(cred) : nativeAuthenticator(cred.seed, cred.jwt);
  let nc: NatsConnection;
  for (let attempt = 1; ; attempt++) {
    try {
      nc = await connect({
        servers: url,
        name: opts.name ?? 'ferry-hostile-test',
        ...(auth ? { authenticator: auth } : {}),
        ...(opts.inboxPrefix ? { inboxPrefix: opts.inboxPrefix } : {}),
        reconnect: false,
        timeout: 5000,
      });
      break;
    } catch (err) {
      if (attempt >= (opts.attempts ?? 1) || !/authoriz/i.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
  const errors: Error[] = [];
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error') errors.push(s.error);
  })().catch(() => undefined);
  return {
    nc,
    errors,
    close: async () => {
      if (!nc.isClosed()) await nc.close().catch(() => undefined);
    },
  };
}

/** Connect as the bootstrap admin, with the CLI's inbox prefix (the server answers only there). */
export async function connectAsAdmin(url: string, secrets: ServerSecrets, name = 'ferry test admin'): Promise<Watched> {
  const watched = await connectAs(url, secrets.admin, { inboxPrefix: `${subjects.cliInboxPrefix}.${secrets.adminKey.operator}`, name });
  signers.set(watched.nc, secrets.adminKey); // apiRaw signs its requests as the bootstrap admin
  return watched;
}

/** Connect as an agent, with its credentials and the inbox prefix its permissions allow. */
export function connectAsAgent(url: string, agent: { id: string; stateDir: string }, attempts?: number): Promise<Watched> {
  return connectAs(url, agentCreds(agent.stateDir), { inboxPrefix: subjects.agentInboxPrefix(agent.id), name: `impostor of ${agent.id}`, ...(attempts ? { attempts } : {}) });
}

/** The enrolment credential a join token carries: its own user JWT and seed. */
export function enrollCredential(token: string): NatsCreds {
  const t = decodeToken(token);
  return { jwt: t.j, seed: t.k };
}

/** A made-up enrolment credential: a user JWT signed by an account the server does not know. */
export async function forgedEnrollCredential(token: string): Promise<NatsCreds> {
  const user = createUser();
  const jwt = await encodeUser(`enroll-${decodeToken(token).i}`, user, createAccount(), {});
  return { jwt, seed: new TextDecoder().decode(user.getSeed()) };
}

/** The inbox prefix a token's enrolment user may read. */
export function enrollInbox(token: string): string {
  return subjects.enrollInboxPrefix(`enroll-${decodeToken(token).i}`);
}

/** Connect with the enrolment credential of a join token (what any token holder can do). */
export function connectWithToken(url: string, token: string, attempts?: number): Promise<Watched> {
  return connectAs(url, enrollCredential(token), { inboxPrefix: enrollInbox(token), name: 'token holder', ...(attempts ? { attempts } : {}) });
}

interface ViolationLike extends Error {
  operation?: string;
  subject?: string;
}

/**
 * Run `action` and wait for nats-server to report a permissions violation for `operation` on
 * `subject`. Errors the action itself throws (a request refused by the violation) are returned too.
 */
export async function expectDenied(w: Watched, operation: 'publish' | 'subscription', subject: string, action: () => unknown, timeoutMs = 4000): Promise<{ violation: string; thrown: unknown }> {
  const before = w.errors.length;
  let thrown: unknown;
  try {
    await action();
  } catch (err) {
    thrown = err;
  }
  await w.nc.flush().catch(() => undefined);
  const hit = await waitFor(
    () => w.errors.slice(before).find((e): e is ViolationLike => (e as ViolationLike).operation === operation && (e as ViolationLike).subject === subject),
    timeoutMs,
    { intervalMs: 20, message: () => `no permissions violation for ${operation} "${subject}"; errors: ${w.errors.slice(before).map((e) => e.message).join(' | ') || 'none'}` },
  );
  return { violation: hit.message, thrown };
}

// ---------------------------------------------------------------------------------------------
// Raw NATS protocol: what a hostile client sends when it ignores the client library's checks

/**
 * Authenticate with a raw socket, then announce a PUB of `size` bytes to `subject`. Returns what
 * the server said after the PONG that confirmed the login, once it closed the socket (or 3 s passed).
 */
export async function rawOversizedPublish(url: string, creds: NatsCreds, subject: string, size: number): Promise<{ afterLogin: string; closedByServer: boolean }> {
  const { hostname, port } = new URL(url);
  const socket = new Socket();
  let text = '';
  let loggedIn = false;
  let afterLogin = '';
  let closedByServer = false;
  const closed = new Promise<void>((resolve) => {
    socket.once('close', () => {
      closedByServer = true;
      resolve();
    });
  });
  socket.on('error', () => undefined); // EPIPE/ECONNRESET once the server hung up on us
  socket.on('data', (d: Buffer) => {
    const chunk = d.toString('utf8');
    if (loggedIn) {
      afterLogin += chunk;
      return;
    }
    text += chunk;
    const info = /^INFO (\{.*\}) *\r\n/.exec(text);
    if (info && !text.includes('CONNECT_SENT')) {
      const { nonce } = JSON.parse(info[1]!) as { nonce?: string };
      const auth = nativeAuthenticator(creds.seed, creds.jwt)(nonce) as { jwt: string; nkey: string; sig: string };
      const connectLine = JSON.stringify({ verbose: false, pedantic: false, lang: 'raw', version: '0', protocol: 1, headers: false, jwt: auth.jwt, nkey: auth.nkey, sig: auth.sig });
      socket.write(`CONNECT ${connectLine}\r\nPING\r\n`);
      text += 'CONNECT_SENT';
    }
    if (text.includes('PONG\r\n')) {
      loggedIn = true;
      // Only the header: nats-server judges the size there. (Writing the body too would race
      // the server's close, and the RST could discard its -ERR before we read it.)
      socket.write(`PUB ${subject} ${size}\r\n`);
    } else if (text.includes('-ERR')) {
      afterLogin = text; // refused before the login completed
      socket.destroy();
    }
  });
  socket.connect(Number(port), hostname);
  const timer = setTimeout(() => socket.destroy(), 15_000);
  await closed;
  clearTimeout(timer);
  return { afterLogin, closedByServer: closedByServer && afterLogin.includes('-ERR') };
}

// ---------------------------------------------------------------------------------------------
// Crafting signed documents

export function newNonce(): string {
  return randomBytes(12).toString('hex');
}

export function desiredFor(agent: string, over: Partial<DesiredState> = {}): DesiredState {
  return { agent, generation: 0, operation: `hostile-${newNonce().slice(0, 8)}`, issuedAt: new Date().toISOString(), packages: [], remove: [], ...over };
}

/** An `apply` command as the server would send it (valid for 10 minutes), with overrides. */
export function applyCommand(agent: string, desired: SignedEnvelope, over: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Date.now();
  return { type: 'apply', audience: agent, subject: `ferry.cmd.${agent}`, issuedAt: now, expiresAt: now + 10 * 60_000, nonce: newNonce(), desired, ...over };
}

export function sign(keys: SigningKeyPair, doc: unknown): SignedEnvelope {
  return signEnvelope(keys, doc);
}

/** An envelope whose payload is exactly `payload` (not necessarily JSON), properly signed. */
export function signRaw(keys: SigningKeyPair, payload: string, key: string): SignedEnvelope {
  return { payload, sig: signBytes(keys.secretKey, Buffer.from(payload, 'utf8')), key };
}

export function dmlRecord(over: Partial<DmlRecord> & Pick<DmlRecord, 'name' | 'version' | 'sha256' | 'size'>): DmlRecord {
  return { object: `${over.name}@${over.version}`, signedAt: new Date().toISOString(), ...over };
}

// Order of the Ed25519 group (RFC 8032); see shared/crypto/sign.test.ts.
const GROUP_ORDER = (1n << 252n) + 27742317777372353535851937790883648493n;

/** The same signature with S replaced by S + L: valid for tweetnacl, non-canonical for RFC 8032. */
export function malleate(signature: string): string {
  const sig = Buffer.from(signature, 'base64');
  let s = 0n;
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i]!);
  s += GROUP_ORDER;
  for (let i = 32; i < 64; i++) {
    sig[i] = Number(s & 0xffn);
    s >>= 8n;
  }
  return sig.toString('base64');
}

// ---------------------------------------------------------------------------------------------
// Logs: pino JSON lines (the daemons' stderr)

export interface LogLine {
  level: number;
  time: number;
  msg: string;
  code?: string;
  reason?: string;
  subject?: string;
  [key: string]: unknown;
}

export function logLines(text: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const doc = JSON.parse(line) as LogLine;
      if (typeof doc.msg === 'string' && typeof doc.time === 'number') out.push(doc);
    } catch {
      // a line cut in half by the log buffer's size limit
    }
  }
  return out;
}

/** Lines with message `msg` logged at or after `since` (epoch ms) that satisfy `match`. */
export function logsSince(logs: () => string, msg: string, since: number, match: (l: LogLine) => boolean = () => true): LogLine[] {
  return logLines(logs()).filter((l) => l.msg === msg && l.time >= since && match(l));
}

/** The first such line; waits for it. */
export function waitForLog(logs: () => string, msg: string, since: number, match: (l: LogLine) => boolean = () => true, timeoutMs = 6000): Promise<LogLine> {
  return waitFor(() => logsSince(logs, msg, since, match)[0], timeoutMs, {
    intervalMs: 25,
    message: () => `no "${msg}" log line since ${new Date(since).toISOString()}; recent lines:\n${logLines(logs()).slice(-8).map((l) => JSON.stringify(l)).join('\n')}`,
  });
}

// ---------------------------------------------------------------------------------------------
// State on disk

function withDb<T>(file: string, fn: (db: Database.Database) => T): T {
  const db = new Database(file, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 2000');
    return fn(db);
  } finally {
    db.close();
  }
}

/** Command nonces the agent has accepted (its journal's replay table). */
export function acceptedNonces(stateDir: string): Set<string> {
  return withDb(join(stateDir, 'journal.db'), (db) => new Set((db.prepare('SELECT nonce FROM nonces').all() as { nonce: string }[]).map((r) => r.nonce)));
}

/** The signed DML record the server stored for name@version. */
export function storedRecord(home: string, name: string, version: string): SignedEnvelope {
  return withDb(join(home, 'ferry.db'), (db) => {
    const row = db.prepare('SELECT record FROM packages WHERE name = ? AND version = ?').get(name, version) as { record: string } | undefined;
    if (!row) throw new Error(`${name}@${version} is not in the DML`);
    return JSON.parse(row.record) as SignedEnvelope;
  });
}

/** Uses left on a join token (by its id), from the server's database. */
export function tokenUsesLeft(home: string, id: string): number | undefined {
  return withDb(join(home, 'ferry.db'), (db) => (db.prepare('SELECT uses_left FROM tokens WHERE id = ?').get(id) as { uses_left: number } | undefined)?.uses_left);
}

/**
 * Every path under `dir`, relative, sorted: directories end with `/`, symlinks are
 * `path -> target`. Used to prove that nothing appeared where it should not.
 */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(dir, r));
      if (st.isSymbolicLink()) out.push(`${r} -> ${readlinkSync(join(dir, r))}`);
      else if (st.isDirectory()) {
        out.push(`${r}/`);
        walk(r);
      } else out.push(r);
    }
  };
  if (existsSync(dir)) walk('');
  return out.sort();
}

/** Reply of a raw admin API request: the server's `{ok, result | error}` envelope. */
export interface ApiReplyDoc {
  ok: boolean;
  result?: unknown;
  error?: { code: string; message: string; hint?: string };
}

export async function apiRaw(nc: NatsConnection, verb: string, body: Uint8Array | unknown, timeoutMs = 5000): Promise<ApiReplyDoc> {
  const data = body instanceof Uint8Array ? body : encode(body);
  const key = signers.get(nc);
  const h = natsHeaders();
  if (key) h.set(AUTH_HEADER, signRequest(key, verb, data));
  const reply = await nc.request(`ferry.api.${verb}`, data, { timeout: timeoutMs, headers: h });
  return JSON.parse(dec.decode(reply.data)) as ApiReplyDoc;
}

/** A successful admin API call's result (throws with the wire error otherwise). */
export async function api<T = unknown>(nc: NatsConnection, verb: string, body: unknown = {}): Promise<T> {
  const r = await apiRaw(nc, verb, body);
  if (!r.ok) throw new Error(`ferry.api.${verb} failed: ${r.error?.code}: ${r.error?.message}`);
  return r.result as T;
}

// ---------------------------------------------------------------------------------------------
// Driving the server through the admin API directly (a CLI process per poll is slow on a busy box)

export interface RolloutDocLite {
  id: string;
  state: string;
  endedAt?: string;
  hosts: { agent: string; state: string; error?: string }[];
}

/** `rollout.start` then `rollout.status` until the rollout ended; returns the final status. */
export async function rolloutToEnd(nc: NatsConnection, release: string, target: string, timeoutMs = 60_000): Promise<RolloutDocLite> {
  const { id } = await api<{ id: string }>(nc, 'rollout.start', { release, target });
  let last: RolloutDocLite | undefined;
  return waitFor(
    async () => {
      last = await api<RolloutDocLite>(nc, 'rollout.status', { id });
      const ended = ['completed', 'aborted', 'rolled-back', 'halted'].includes(last.state) && !(last.state === 'halted' && !last.endedAt);
      return ended ? last : undefined;
    },
    timeoutMs,
    { intervalMs: 200, message: () => `rollout ${id} of ${release} did not end: ${JSON.stringify(last)}` },
  );
}

/** A join token from `token.create`. */
export async function apiToken(nc: NatsConnection, opts: { uses?: number; ttlMs?: number } = {}): Promise<string> {
  return (await api<{ token: string }>(nc, 'token.create', { uses: opts.uses ?? 1, ttlMs: opts.ttlMs ?? 3_600_000, tags: {} })).token;
}

/** Wait until `agents.list` shows every id online with a last-seen at or after `since`. */
export async function waitOnline(nc: NatsConnection, ids: string[], since: number, timeoutMs = 40_000): Promise<void> {
  await waitFor(
    async () => {
      const agents = await api<{ id: string; online: boolean; lastSeen: string | null }[]>(nc, 'agents.list', {});
      return ids.every((id) => agents.some((a) => a.id === id && a.online && a.lastSeen !== null && Date.parse(a.lastSeen) >= since - 1000));
    },
    timeoutMs,
    { intervalMs: 200, message: `agents ${ids.join(', ')} did not come online` },
  );
}

/** The FerryError code a call ends with, or 'ok' (anything else is thrown on). */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (err instanceof FerryError) return err.code;
    throw err;
  }
}
