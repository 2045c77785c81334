// Where the server keeps its state, and how the CLI finds a running server. The server's config
// file is read by ./server-settings.ts (with zod, which every command needs but --help does not).
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { FerryError } from '../shared/errors.js';

export interface DataPaths {
  dir: string;
  db: string;
  keysDir: string;
  signingKey: string;
  /** the server's key that seals approvals made in the web console (server/releases/approval-seal.ts) */
  approvalKey: string;
  serverSeed: string;
  adminSeed: string;
  /** the bootstrap admin's NATS credentials (JWT + seed), for the CLI */
  adminCreds: string;
  /** NATS decentralised auth: operator, account and signing keys */
  natsKeys: string;
  natsDir: string;
  runtime: string;
  tmpDir: string;
  /** the deployment policy (see server/policy) */
  policy: string;
}

/** --data-dir, else $FERRY_HOME (an empty one counts as unset), else ~/.ferry. An empty --data-dir is refused: it is not the current directory. */
export function resolveDataDir(flag: string | undefined): string {
  if (flag !== undefined && String(flag).trim() === '') throw new FerryError('FERRY_INVALID_INPUT', '--data-dir must not be empty', { hint: 'leave it out for $FERRY_HOME or ~/.ferry' });
  return resolve(flag ?? (process.env.FERRY_HOME || join(homedir(), '.ferry')));
}

export function dataPaths(dir: string): DataPaths {
  const keysDir = join(dir, 'keys');
  return {
    dir,
    db: join(dir, 'ferry.db'),
    keysDir,
    signingKey: join(keysDir, 'signing.json'),
    approvalKey: join(keysDir, 'approvals.json'),
    serverSeed: join(keysDir, 'server.nk'),
    adminSeed: join(keysDir, 'admin.nk'),
    adminCreds: join(keysDir, 'admin.creds'),
    natsKeys: join(keysDir, 'nats.json'),
    natsDir: join(dir, 'nats'),
    runtime: join(dir, 'server.json'),
    tmpDir: join(dir, 'tmp'),
    policy: join(dir, 'policy.json'),
  };
}

/** Written by a running `ferry server` so the CLI can reach it. */
export interface RuntimeInfo {
  natsUrl: string;
  pid: number;
  startedAt: string;
  /** CA file clients need when NATS serves TLS */
  tlsCa?: string;
  /** http://HOST:PORT of /healthz and /metrics (ferry server --metrics-listen) */
  metricsUrl?: string;
  /** http(s)://HOST:PORT of the web console (ferry server --ui-listen) */
  consoleUrl?: string;
  /** nats-leaf://HOST:PORT where sites' leafnodes connect (ferry server --leaf-listen) */
  leafUrl?: string;
}

export const DEFAULT_LISTEN = '127.0.0.1:4222';
