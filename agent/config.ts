// Where an agent keeps its state, and its identity once joined.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { FerryError } from '../shared/errors.js';
import { maintenanceSchema } from './maintenance.js';

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
  return { dir, identity: join(dir, 'identity.json'), seed: join(dir, 'agent.nk'), journal: join(dir, 'journal.db'), staging: join(dir, 'staging'), decommissioned: join(dir, 'decommissioned.json') };
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
    /** CA certificate (copied into the state directory) when the server's NATS serves TLS */
    tlsCa: z.string().optional(),
    /** workstation maintenance window and deadline (agent/maintenance.ts) */
    maintenance: maintenanceSchema.optional(),
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
};
