// Where the server keeps its state, and how the CLI finds a running server.
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { absolutePath, configFilePath, loadSettings, logLevel, positiveInt, type SettingsSource } from '../shared/settings.js';

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

/** The server's config file when neither --config nor FERRY_CONFIG names one (read only if it exists). */
export const DEFAULT_SERVER_CONFIG = '/etc/ferry/server.json';

/** Keys of the server's config file (FERRY_HOME keeps its own handling in resolveDataDir) (docs/configuration.md); the CLI reads dataDir and the NATS keys too. */
export const serverSettingsSchema = z.object({
  dataDir: absolutePath(),
  listen: z.string({ error: 'must be HOST:PORT' }).regex(/^\S+:\d{1,5}$/, { error: 'must be HOST:PORT, e.g. 0.0.0.0:4222' }),
  nats: z.string({ error: 'must be a NATS URL' }).regex(/^(nats|tls):\/\/\S+$/, { error: 'must be a NATS URL such as nats://nats.example.org:4222' }),
  creds: absolutePath(),
  tlsCert: absolutePath(),
  tlsKey: absolutePath(),
  tlsCa: absolutePath(),
  logLevel: logLevel(),
  offlineAfterMs: positiveInt(),
  metricsListen: z.string({ error: 'must be HOST:PORT' }).regex(/^\S+:\d{1,5}$/, { error: 'must be HOST:PORT, e.g. 127.0.0.1:9464' }),
  uiListen: z.string({ error: 'must be HOST:PORT' }).regex(/^\S+:\d{1,5}$/, { error: 'must be HOST:PORT, e.g. 127.0.0.1:8080' }),
});
export type ServerSettings = z.infer<typeof serverSettingsSchema>;

export const SERVER_ENV: Partial<Record<keyof ServerSettings, string>> = {
  logLevel: 'FERRY_LOG_LEVEL',
  offlineAfterMs: 'FERRY_OFFLINE_AFTER_MS',
  metricsListen: 'FERRY_METRICS_LISTEN',
  uiListen: 'FERRY_UI_LISTEN',
};

export function loadServerSettings(configFlag: string | undefined, env: NodeJS.ProcessEnv = process.env): SettingsSource<ServerSettings> {
  return loadSettings(serverSettingsSchema, SERVER_ENV, configFilePath(configFlag, DEFAULT_SERVER_CONFIG, env), env);
}
