// Where an agent keeps its state, and its identity once joined.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import * as z from 'zod';
import { FerryError } from '../shared/errors.js';
import { maintenanceSchema } from './maintenance.js';
import { absolutePath, configFilePath, loadSettings, logLevel, positiveInt, type SettingsSource } from '../shared/settings.js';
import { parseDuration } from '../shared/durations.js';

export interface AgentPaths {
  dir: string;
  identity: string;
  seed: string;
  journal: string;
  staging: string;
  /** written when the server decommissioned this agent (its seed is then deleted) */
  decommissioned: string;
}

export function resolveStateDir(flag: string | undefined): string {
  if (flag) return resolve(flag);
  if (process.env.FERRY_AGENT_STATE) return resolve(process.env.FERRY_AGENT_STATE);
  return process.getuid?.() === 0 ? '/var/lib/ferry-agent' : join(homedir(), '.ferry-agent');
}

export function agentPaths(dir: string): AgentPaths {
  return { dir, identity: join(dir, 'identity.json'), seed: join(dir, 'agent.nk'), journal: join(dir, 'journal.db'), staging: join(dir, 'staging'), decommissioned: join(dir, DECOMMISSIONED_FILE) };
}

export const identitySchema = z
  .object({
    agentId: z.string(),
    serverUrl: z.string(),
    /** the root key fingerprint pinned at join (it came in the join token) */
    rootFingerprint: z.string(),
    installRoot: z.string(),
    tags: z.record(z.string(), z.string()),
    joinedAt: z.string(),
    /** the agent's NATS user JWT (decentralised auth); missing for agents that joined before it */
    jwt: z.string().optional(),
    /** CA certificate (copied into the state directory) when the server's NATS serves TLS */
    tlsCa: z.string().optional(),
    /** workstation maintenance window and deadline (agent/maintenance.ts) */
    maintenance: maintenanceSchema.optional(),
    /** the site this agent runs through (ferry token create --site): its leafnode first, the hub (serverUrl) as fallback */
    site: z.object({ name: z.string(), url: z.string() }).strict().optional(),
  })
  .strict();
export type AgentIdentity = z.infer<typeof identitySchema>;

export function loadIdentity(paths: AgentPaths): AgentIdentity {
  if (!existsSync(paths.identity)) {
    throw new FerryError('FERRY_NOT_JOINED', `this host has not joined a Ferry server (no ${paths.identity})`, {
      hint: 'run: ferry-agent join --server URL --token TOKEN',
    });
  }
  return identitySchema.parse(JSON.parse(readFileSync(paths.identity, 'utf8')));
}

/** The marker a decommissioned agent leaves in its state directory (the unit and supervisor check it). */
export const DECOMMISSIONED_FILE = 'decommissioned.json';

/** When this agent was decommissioned by its server, or undefined if it was not. */
export function decommissionedAt(paths: AgentPaths): string | undefined {
  if (!existsSync(paths.decommissioned)) return undefined;
  try {
    return String((JSON.parse(readFileSync(paths.decommissioned, 'utf8')) as { at?: unknown }).at ?? 'unknown time');
  } catch {
    return 'unknown time';
  }
}

/** Tunables, mostly for tests and simulators; defaults suit a real fleet. */
export const agentTimings = {
  heartbeatMs: Number(process.env.FERRY_HEARTBEAT_MS ?? 10_000),
  desiredPollMs: Number(process.env.FERRY_DESIRED_POLL_MS ?? 60_000),
  inventoryCheckMs: Number(process.env.FERRY_INVENTORY_CHECK_MS ?? 300_000),
  /** how often packages in their soak period are health-checked again */
  healthWatchMs: Number(process.env.FERRY_HEALTH_WATCH_MS ?? 15_000),
  /** how often installed files are checked against their manifests */
  driftCheckMs: Number(process.env.FERRY_DRIFT_CHECK_MS ?? 3_600_000),
  /** how long a new agent version has to report back healthy before the supervisor returns to the previous one */
  selfUpdateTimeoutMs: Number(process.env.FERRY_SELF_UPDATE_TIMEOUT_MS ?? 120_000),
  /** how often an agent at a site that fell back to the hub checks whether its site is back */
  siteReturnMs: Number(process.env.FERRY_SITE_RETURN_MS ?? 60_000),
};

/** The agent's config file when neither --config nor FERRY_CONFIG names one (read only if it exists). */
export const DEFAULT_AGENT_CONFIG = '/etc/ferry/agent.json';

/** Keys of the agent's config file (docs/configuration.md). */
export const agentSettingsSchema = z.object({
  stateDir: absolutePath(),
  /** default install root for `ferry-agent join` */
  installRoot: absolutePath(),
  /** default NATS URL for `ferry-agent join` (else the one in the token) */
  server: z.string({ error: 'must be a NATS URL such as nats://ferry.example.org:4222' }).regex(/^(nats|tls):\/\/\S+$/, { error: 'must be a NATS URL such as nats://ferry.example.org:4222' }),
  keepVersions: positiveInt(),
  logLevel: logLevel(),
  heartbeatMs: positiveInt(),
  desiredPollMs: positiveInt(),
  inventoryCheckMs: positiveInt(),
  healthWatchMs: positiveInt(),
  driftCheckMs: positiveInt(),
  selfUpdateTimeoutMs: positiveInt(),
  siteReturnMs: positiveInt(),
  /** workstation maintenance window (see agent/maintenance.ts); overrides the one stored at join */
  window: z.string({ error: 'must be a window such as "Mon-Fri 12:00-13:00", or "none"' }).min(1).max(256),
  timezone: z.string({ error: 'must be an IANA time zone name' }).min(1).max(64),
  deadline: z.string({ error: 'must be a duration such as 8h' }).refine(isDuration, { error: 'must be a duration such as 8h' }),
});
export type AgentSettings = z.infer<typeof agentSettingsSchema>;

/** The FERRY_* environment variable of each key; they override the config file. */
/** (FERRY_AGENT_STATE keeps its own handling in resolveStateDir.) */
export const AGENT_ENV: Partial<Record<keyof AgentSettings, string>> = {
  installRoot: 'FERRY_INSTALL_ROOT',
  server: 'FERRY_SERVER',
  keepVersions: 'FERRY_KEEP_VERSIONS',
  logLevel: 'FERRY_LOG_LEVEL',
  heartbeatMs: 'FERRY_HEARTBEAT_MS',
  desiredPollMs: 'FERRY_DESIRED_POLL_MS',
  inventoryCheckMs: 'FERRY_INVENTORY_CHECK_MS',
  healthWatchMs: 'FERRY_HEALTH_WATCH_MS',
  driftCheckMs: 'FERRY_DRIFT_CHECK_MS',
  selfUpdateTimeoutMs: 'FERRY_SELF_UPDATE_TIMEOUT_MS',
  siteReturnMs: 'FERRY_SITE_RETURN_MS',
  window: 'FERRY_WINDOW',
  timezone: 'FERRY_TIMEZONE',
  deadline: 'FERRY_DEADLINE',
};

const TIMING_KEYS = ['heartbeatMs', 'desiredPollMs', 'inventoryCheckMs', 'healthWatchMs', 'driftCheckMs', 'selfUpdateTimeoutMs', 'siteReturnMs'] as const;

/**
 * Read and validate the config file and environment, and apply the timings to agentTimings.
 * Flags still win: callers use `flag ?? settings.values.key ?? default`.
 */
export function loadAgentSettings(configFlag: string | undefined, env: NodeJS.ProcessEnv = process.env): SettingsSource<AgentSettings> {
  const settings = loadSettings(agentSettingsSchema, AGENT_ENV, configFilePath(configFlag, DEFAULT_AGENT_CONFIG, env), env);
  for (const key of TIMING_KEYS) {
    const v = settings.values[key];
    if (v !== undefined) agentTimings[key] = v;
  }
  return settings;
}

function isDuration(text: string): boolean {
  try {
    parseDuration(text);
    return true;
  } catch {
    return false;
  }
}
