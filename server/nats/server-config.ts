// The embedded nats-server's configuration file, and where to find the nats-server binary.
// Every string that goes into the file is validated or quoted, so nothing can inject config text.
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { FerryError } from '../../shared/errors.js';
import { HUB_DOMAIN } from '../../shared/protocol/subjects.js';

const MISSING_HINT = 'install it with: sudo apt-get install -y nats-server (Debian/Ubuntu), version 2.9.10 or newer';
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

export function isExecutable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function missing(detail?: string): FerryError {
  return new FerryError('FERRY_NATS_MISSING', detail ?? 'nats-server not found on PATH or in /usr/sbin', {
    hint: MISSING_HINT,
  });
}

export const NATS_SERVER_FALLBACK_DIRS: readonly string[] = ['/usr/sbin', '/usr/local/bin'];

/**
 * nats-server on PATH, then in /usr/sbin, then /usr/local/bin; FERRY_NATS_MISSING otherwise.
 * The options exist for tests (default: process.env.PATH and NATS_SERVER_FALLBACK_DIRS).
 */
export function findNatsServerBinary(options: { path?: string; fallbackDirs?: readonly string[] } = {}): string {
  const dirs = (options.path ?? process.env.PATH ?? '').split(delimiter).filter((d) => d.length > 0);
  for (const dir of [...dirs, ...(options.fallbackDirs ?? NATS_SERVER_FALLBACK_DIRS)]) {
    const candidate = join(dir, 'nats-server');
    if (isExecutable(candidate)) return candidate;
  }
  throw missing();
}

/** Strings that go into the config quoted; refuse anything that would need escaping. */
export function quote(s: string, what: string): string {
  if (/["\\\u0000-\u001f\u007f]/.test(s)) {
    throw new FerryError('FERRY_INVALID_INPUT', `${what} must not contain quotes, backslashes or control characters`);
  }
  return `"${s}"`;
}

function bareHost(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** Host:port as nats-server and URLs want it (IPv6 in brackets). */
export function hostPort(host: string, port: number): string {
  const h = bareHost(host);
  return h.includes(':') ? `[${h}]:${port}` : `${h}:${port}`;
}

/** Where a local client should connect: wildcard listen addresses mean loopback. */
export function dialHost(host: string): string {
  const h = bareHost(host);
  if (h === '0.0.0.0' || h === '') return '127.0.0.1';
  if (h === '::') return '::1';
  return h;
}

export interface ServerConfigInput {
  dataDir: string;
  host: string;
  /** 0 = a random port */
  port: number;
  maxPayload?: number | undefined;
  tls?: { cert: string; key: string; ca?: string | undefined } | undefined;
  /** where sites' leafnodes connect (ferry server --leaf-listen); port 0 = a random port */
  leafListen?: { host: string; port: number } | undefined;
  auth: OperatorAuth;
}

/** Operator mode: who signs accounts, and the account JWTs the resolver starts with. */
export interface OperatorAuth {
  operatorJwt: string;
  systemAccount: string;
  /** account public key → account JWT */
  accounts: Record<string, string>;
}

const JWT_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const ACCOUNT_RE = /^A[A-Z2-7]{55}$/;

/**
 * The operator-mode block: the full resolver keeps account JWTs in <dataDir>/resolver and takes
 * updates live (revocations, from the system account), so joins never touch this file.
 */
export function renderOperatorAuth(auth: OperatorAuth, resolverDir: string): string {
  if (!JWT_RE.test(auth.operatorJwt) || !ACCOUNT_RE.test(auth.systemAccount)) throw new FerryError('FERRY_INTERNAL', 'invalid operator JWT or system account');
  const preload = Object.entries(auth.accounts).map(([id, jwt]) => {
    if (!ACCOUNT_RE.test(id) || !JWT_RE.test(jwt)) throw new FerryError('FERRY_INTERNAL', `invalid account JWT for ${id}`);
    return `  ${id}: "${jwt}"`;
  });
  return [
    `operator: "${auth.operatorJwt}"`,
    `system_account: ${auth.systemAccount}`,
    'resolver: {',
    '  type: full',
    `  dir: ${quote(resolverDir, 'resolver dir')}`,
    '  allow_delete: false',
    '  interval: "2m"',
    '}',
    'resolver_preload: {',
    ...preload,
    '}',
    '',
  ].join('\n');
}

export function renderServerConfig(c: ServerConfigInput): string {
  const listenPort = c.port === 0 ? -1 : c.port; // nats-server: 0 means 4222, -1 random
  return [
    '# Written by Ferry; rewritten on every start and authorization change. Do not edit.',
    `server_name: ${quote('ferry', 'server name')}`,
    `listen: ${quote(hostPort(c.host, listenPort), 'listen address')}`,
    `max_payload: ${c.maxPayload ?? DEFAULT_MAX_PAYLOAD}`,
    // A busy agent host (or a simulated fleet in one process) may read slowly for a moment;
    // the 2 s default would drop it as a slow consumer.
    'write_deadline: "10s"',
    `ports_file_dir: ${quote(c.dataDir, 'dataDir')}`,
    'jetstream {',
    `  store_dir: ${quote(join(c.dataDir, 'jetstream'), 'dataDir')}`,
    // A hub that accepts sites has a domain of its own: sites reach it as $JS.hub.API.
    ...(c.leafListen ? [`  domain: ${HUB_DOMAIN}`] : []),
    '}',
    ...(c.tls
      ? [
          'tls {',
          `  cert_file: ${quote(c.tls.cert, 'tls cert')}`,
          `  key_file: ${quote(c.tls.key, 'tls key')}`,
          ...(c.tls.ca ? [`  ca_file: ${quote(c.tls.ca, 'tls ca')}`] : []),
          '  timeout: 5',
          '}',
        ]
      : []),
    ...(c.leafListen
      ? ['leafnodes {', `  listen: ${quote(hostPort(c.leafListen.host, c.leafListen.port === 0 ? -1 : c.leafListen.port), 'leafnode address')}`, '}']
      : []),
    // A burst of agents (re)connecting at once must not time out while clients sign nonces.
    'authorization {',
    '  timeout: 10',
    '}',
    '',
    renderOperatorAuth(c.auth, join(c.dataDir, 'resolver')),
  ].join('\n');
}
