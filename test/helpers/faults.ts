// Helpers for the fault-injection tests (test/faults): publishing packages and releases, driving
// rollouts through the real CLI, and inspecting an agent's on-disk state (install root, journal,
// staging directory) to assert it is sane after a crash.
import type { ChildProcess } from 'node:child_process';
import Database from 'better-sqlite3';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
export { CRASH_AGENT_BIN } from './fleet.js';
import type { CmdbShowReply, RolloutStatusDoc } from '../../shared/protocol/replies.js';
import { CRASH_AGENT_BIN, apiRequest, buildPackage, runAgentCli, runFerry, startAgent, waitFor, type AgentHandle, type JoinedAgent, type PackageSpec } from './fleet.js';

export const TERMINAL_HOST_STATES = ['succeeded', 'failed', 'rolled-back', 'skipped'];

/** The rollout.status reply (shared/protocol/replies/rollouts.ts). */
export type RolloutHost = RolloutStatusDoc['hosts'][number];

export type RolloutDoc = RolloutStatusDoc;

export interface AgentStatusDoc {
  agentId: string;
  running: boolean;
  connected: boolean;
  installRoot: string;
  installed: Record<string, string>;
  operations: { operation: string; package: string; version: string; from: string | null; kind: string; step: string; error: string | null; at: string }[];
}

/** Build a package with `ferry package build` and add it to the DML (`ferry dml add`). */
export async function publishPackage(home: string, spec: PackageSpec): Promise<string> {
  const file = await buildPackage(spec);
  await runFerry(home, ['dml', 'add', file, '--json']);
  return file;
}

export async function createRelease(home: string, name: string, packages: string[]): Promise<void> {
  await runFerry(home, ['release', 'create', name, ...packages.flatMap((p) => ['--package', p]), '--json']);
}

/** `ferry rollout start RELEASE --target T --json` (no --wait); returns the rollout id. */
export async function startRollout(home: string, release: string, target: string, extra: string[] = []): Promise<string> {
  const doc = (await runFerry(home, ['rollout', 'start', release, '--target', target, '--json', ...extra])).json<{ id: string }>();
  if (!doc.id) throw new Error(`rollout start ${release} returned no id`);
  return doc.id;
}

export async function rolloutStatus(home: string, id: string): Promise<RolloutDoc> {
  return (await runFerry(home, ['rollout', 'status', id, '--json'])).json<RolloutDoc>();
}

export function rolloutEnded(s: RolloutDoc): boolean {
  return ['completed', 'aborted', 'rolled-back', 'halted'].includes(s.state) && !(s.state === 'halted' && !s.endedAt);
}

/** Poll `rollout status` until the rollout ended; returns the final document. */
export async function waitRolloutEnd(home: string, id: string, timeoutMs = 60_000): Promise<RolloutDoc> {
  let last: RolloutDoc | undefined;
  return waitFor(
    async () => {
      last = await apiRequest(home, 'rollout.status', { id }); // a poll: see apiRequest
      return rolloutEnded(last) ? last : undefined;
    },
    timeoutMs,
    { intervalMs: 300, message: () => `rollout ${id} did not end: ${JSON.stringify(last)}` },
  );
}

export async function agentStatus(stateDir: string): Promise<AgentStatusDoc> {
  return (await runAgentCli(stateDir, ['status', '--json'])).json<AgentStatusDoc>();
}

/**
 * `ferry-agent run` through the crash harness (test/helpers/crash-agent.mjs): the real agent,
 * which SIGKILLs itself right after it saved `at` ("KIND:STEP", e.g. "rollback:revert-switch")
 * in its journal — the machine's beforeStep hook, not a switch in production code.
 */
export function startCrashingAgent(agent: JoinedAgent, at: string, env: Record<string, string> = {}): Promise<AgentHandle> {
  return startAgent(agent, { waitOnline: false, entry: CRASH_AGENT_BIN, env: { ...env, FERRY_HARNESS_CRASH_AT: at } });
}

/** One entry of a host's change history (cmdb.show's `history`). */
export type HistoryEntry = CmdbShowReply['history'][number];

/** A host's change history in the server's CMDB (`ferry cmdb show ID --json`), newest first. */
export async function cmdbHistory(home: string, host: string): Promise<HistoryEntry[]> {
  return (await runFerry(home, ['cmdb', 'show', host, '--json'])).json<{ history: HistoryEntry[] }>().history;
}

/** Resolves with how a child process ended; rejects if it is still running after timeoutMs. */
export function waitExit(child: ChildProcess, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`process ${child.pid} still running after ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// The agent's journal, read directly (the agent may be running: WAL allows a concurrent reader)

function withJournal<T>(stateDir: string, fn: (db: Database.Database) => T): T {
  const db = new Database(join(stateDir, 'journal.db'), { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 2000');
    return fn(db);
  } finally {
    db.close();
  }
}

/** The last desired-state generation the agent applied (0 if none). */
export function appliedGeneration(stateDir: string): number {
  return withJournal(stateDir, (db) => Number((db.prepare("SELECT value FROM meta WHERE key = 'generation'").get() as { value: string } | undefined)?.value ?? 0));
}

/** A value from the agent journal's meta table (undefined if unset). */
export function journalMeta(stateDir: string, key: string): string | undefined {
  return withJournal(stateDir, (db) => (db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value);
}

/** Reports still waiting in the agent's outbox. */
export function pendingReports(stateDir: string): number {
  return withJournal(stateDir, (db) => (db.prepare('SELECT count(*) AS n FROM outbox').get() as { n: number }).n);
}

/** Operations not at a final step. */
export function unfinishedOperations(stateDir: string): { id: number; step: string; version: string }[] {
  return withJournal(stateDir, (db) => db.prepare("SELECT id, step, version FROM operations WHERE step NOT IN ('done', 'failed', 'rolled-back')").all() as { id: number; step: string; version: string }[]);
}

/** The generation of the desired state the server holds for an agent (its SQLite, read-only use). */
export function serverDesiredGeneration(home: string, agentId: string): number {
  const db = new Database(join(home, 'ferry.db'), { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 2000');
    return (db.prepare('SELECT generation FROM desired WHERE agent_id = ?').get(agentId) as { generation: number } | undefined)?.generation ?? 0;
  } finally {
    db.close();
  }
}

/**
 * Wait until the agent has applied the newest desired state the server holds for it (newer than
 * `afterGeneration`), finished every operation and sent every report: converged and quiet.
 * The server may publish another desired state in reaction to a report (a failed host is
 * reverted), so the target is re-read on every poll and must be stable over two polls.
 */
export async function waitAgentSettled(home: string, agent: { id: string; stateDir: string }, afterGeneration: number, timeoutMs = 60_000): Promise<void> {
  let last = '';
  let stable = 0;
  await waitFor(
    () => {
      const want = serverDesiredGeneration(home, agent.id);
      const gen = appliedGeneration(agent.stateDir);
      const open = unfinishedOperations(agent.stateDir);
      const outbox = pendingReports(agent.stateDir);
      const now = JSON.stringify({ want, gen, open, outbox });
      const settled = want > afterGeneration && gen === want && open.length === 0 && outbox === 0;
      stable = settled && now === last ? stable + 1 : 0;
      last = now;
      return settled && stable >= 2;
    },
    timeoutMs,
    { intervalMs: 250, message: () => `agent ${agent.id} did not settle after generation ${afterGeneration}: ${last}` },
  );
}

// ---------------------------------------------------------------------------------------------
// The install root

export function readCurrent(installRoot: string, pkg: string): string | undefined {
  try {
    return readlinkSync(join(installRoot, pkg, 'current'));
  } catch {
    return undefined;
  }
}

/** Problems with `<root>/<pkg>/<version>`: every file of the spec present with the right content. */
export function versionDirProblems(installRoot: string, spec: PackageSpec): string[] {
  const dir = join(installRoot, spec.name, spec.version);
  if (!existsSync(dir) || !lstatSync(dir).isDirectory()) return [`${dir} is not a directory`];
  const problems: string[] = [];
  for (const [rel, content] of Object.entries(spec.files)) {
    const path = join(dir, rel);
    if (!existsSync(path)) {
      problems.push(`${rel} is missing`);
      continue;
    }
    const want = Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8');
    if (!readFileSync(path).equals(want)) problems.push(`${rel} has the wrong content`);
  }
  return problems;
}

/** Interrupted-install leftovers in the package directory (`.staging-*`, `.current-*`). */
export function layoutLeftovers(installRoot: string, pkg: string): string[] {
  const dir = join(installRoot, pkg);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((e) => e.startsWith('.staging-') || e.startsWith('.current-'));
}

/** Downloads left in `<state-dir>/staging` (`*.ferry`, `*.part`). */
export function downloadLeftovers(stateDir: string): string[] {
  const dir = join(stateDir, 'staging');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((e) => e.endsWith('.ferry') || e.endsWith('.part'));
}

/** Version directories present under `<root>/<pkg>` (everything but `current` and dot-entries). */
export function versionDirs(installRoot: string, pkg: string): string[] {
  const dir = join(installRoot, pkg);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((e) => e !== 'current' && !e.startsWith('.'))
    .sort();
}

/** Lines of the hook log the test packages write to (`$FERRY_ROOT/hooks.log`). */
export function hookLog(installRoot: string): string[] {
  const path = join(installRoot, 'hooks.log');
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean) : [];
}

/** A hook script that appends "<hook> <version>" to $FERRY_ROOT/hooks.log and exits with `exit`. */
export function hookScript(exit = 0): string {
  return `#!/bin/sh\necho "$FERRY_HOOK $FERRY_VERSION" >> "$FERRY_ROOT/hooks.log"\nexit ${exit}\n`;
}

export { limiter, mapLimit } from '../../shared/concurrency.js';
