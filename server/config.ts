// Where the server keeps its state, and how the CLI finds a running server.
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export interface DataPaths {
  dir: string;
  db: string;
  keysDir: string;
  signingKey: string;
  serverSeed: string;
  adminSeed: string;
  enrollSecret: string;
  natsDir: string;
  runtime: string;
  tmpDir: string;
  /** the deployment policy (see server/policy) */
  policy: string;
}

export function resolveDataDir(flag: string | undefined): string {
  return resolve(flag ?? process.env.FERRY_HOME ?? join(homedir(), '.ferry'));
}

export function dataPaths(dir: string): DataPaths {
  const keysDir = join(dir, 'keys');
  return {
    dir,
    db: join(dir, 'ferry.db'),
    keysDir,
    signingKey: join(keysDir, 'signing.json'),
    serverSeed: join(keysDir, 'server.nk'),
    adminSeed: join(keysDir, 'admin.nk'),
    enrollSecret: join(keysDir, 'enroll.secret'),
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
}

export const DEFAULT_LISTEN = '127.0.0.1:4222';
