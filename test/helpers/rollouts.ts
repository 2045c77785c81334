// Helpers for the phased-rollout tests (test/integration/phased.test.ts): the full status and
// review documents, packages whose health check fails on a host chosen by the test (a marker
// file under that host's install root), dry-run plans, and waiting on rollout conditions.
// Builds on test/helpers/fleet.ts and test/helpers/faults.ts (which stay untouched).
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { dataPaths } from '../../server/config.js';
import { apiRequest, buildPackage, runAgentCli, runFerry, waitFor, type PackageSpec, type RunResult } from './fleet.js';
import { mapLimit, publishPackage } from './faults.js';
import type { RolloutReview, RolloutStartReply, RolloutStatusDoc } from '../../shared/protocol/replies.js';

/** The reply documents, as the server builds them (shared/protocol/replies/rollouts.ts). */
export type FullRolloutStatus = RolloutStatusDoc;
export type WaveStatus = RolloutStatusDoc['waves'][number];

export type HostStatus = RolloutStatusDoc['hosts'][number];

export type ReviewDoc = RolloutReview;

export type DryRunDoc = Extract<RolloutStartReply, { dryRun: true }>;

export interface HistoryEntry {
  operation: string;
  kind: string;
  package: string;
  version: string;
  from: string | null;
  step: string;
  error: string | null;
  startedAt: string;
  updatedAt: string;
}

/** The first JSON document on stdout (a failing `--wait --json` prints an error document after it). */
export function firstJson<T>(stdout: string): T {
  const text = stdout.trimStart();
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') {
      depth--;
      if (depth === 0) return JSON.parse(text.slice(0, i + 1)) as T;
    }
  }
  throw new Error(`no JSON document on stdout:\n${stdout}`);
}

export async function fullStatus(home: string, id: string): Promise<FullRolloutStatus> {
  return (await runFerry(home, ['rollout', 'status', id, '--json'])).json<FullRolloutStatus>();
}

export async function reviewJson(home: string, id: string): Promise<ReviewDoc> {
  return (await runFerry(home, ['rollout', 'review', id, '--json'])).json<ReviewDoc>();
}

/** `ferry rollout start RELEASE --dry-run --json ...extra`: the plan, nothing started. */
export async function dryRun(home: string, release: string, extra: string[] = []): Promise<DryRunDoc> {
  const doc = (await runFerry(home, ['rollout', 'start', release, '--dry-run', '--json', ...extra])).json<DryRunDoc>();
  if (!doc.dryRun) throw new Error(`rollout start --dry-run did not return a plan: ${JSON.stringify(doc)}`);
  return doc;
}

/** `ferry rollout start ... --wait --json --timeout T`: exit code, the final status and stderr. */
export async function startAndWait(home: string, release: string, extra: string[], timeoutS = 60): Promise<{ code: number | null; status: FullRolloutStatus; result: RunResult }> {
  const result = await runFerry(home, ['rollout', 'start', release, '--wait', '--json', '--timeout', `${timeoutS}s`, ...extra], { allowFail: true, timeoutMs: (timeoutS + 20) * 1000 });
  return { code: result.code, status: firstJson<FullRolloutStatus>(result.stdout), result };
}

/** Poll `rollout status` (its API, see apiRequest) until `pred` holds; returns that status. */
export async function waitStatus(home: string, id: string, pred: (s: FullRolloutStatus) => boolean, timeoutMs: number, what: string): Promise<FullRolloutStatus> {
  let last: FullRolloutStatus | undefined;
  return waitFor(
    async () => {
      last = await apiRequest(home, 'rollout.status', { id });
      return pred(last) ? last : undefined;
    },
    timeoutMs,
    { intervalMs: 200, message: () => `rollout ${id}: ${what}; last status: ${JSON.stringify(last)}` },
  );
}

/**
 * Once a wave of rollout `id` soaks, ends its soak as if its time were up (in the server's SQLite
 * file; the engine's next tick moves on). A test that pauses in a soak gives it a soak no busy
 * machine outruns, and need not wait all of it out.
 */
export async function endSoak(home: string, id: string, timeoutMs = 40_000): Promise<void> {
  const db = new Database(dataPaths(home).db);
  try {
    const end = db.prepare("UPDATE waves SET soak_until = ? WHERE rollout_id = ? AND state = 'soaking'");
    await waitFor(() => end.run(Date.now(), id).changes === 1, timeoutMs, { intervalMs: 100, message: `no wave of rollout ${id} soaks` });
  } finally {
    db.close();
  }
}

/** How many `wave-started` events each wave (1-based, from the event detail "wave N: …") has. */
export function waveStartCounts(review: ReviewDoc): Map<number, number> {
  const counts = new Map<number, number>();
  for (const e of review.timeline) {
    if (e.action !== 'wave-started') continue;
    const m = /^wave (\d+)\b/.exec(e.detail ?? '');
    if (!m) throw new Error(`wave-started event without "wave N" in its detail: ${JSON.stringify(e)}`);
    const n = Number(m[1]);
    counts.set(n, (counts.get(n) ?? 0) + 1);
  }
  return counts;
}

export async function agentHistory(stateDir: string): Promise<HistoryEntry[]> {
  return (await runAgentCli(stateDir, ['history', '--json', '--limit', '500'])).json<HistoryEntry[]>();
}

// ---------------------------------------------------------------------------------------------
// Packages whose health check a test can break on one host

/** The marker that makes `pkg`'s health check fail on the host with this install root. */
export function failMarker(installRoot: string, pkg: string): string {
  return join(installRoot, `fail-health-${pkg}`);
}

export function setHealthFailure(installRoot: string, pkg: string, failing: boolean): void {
  const path = failMarker(installRoot, pkg);
  if (failing) writeFileSync(path, 'this host must look unhealthy\n');
  else rmSync(path, { force: true });
}

/** Appends "<package> <hook> <version> <previous>" to $FERRY_ROOT/hooks.log. */
const LOG_LINE = 'echo "$FERRY_PACKAGE $FERRY_HOOK $FERRY_VERSION ${FERRY_PREVIOUS_VERSION:--}" >> "$FERRY_ROOT/hooks.log"';

export const HEALTH_ERROR = 'health: service is not answering';

/**
 * A package with logging postinstall/rollback hooks and a health check that fails while
 * `$FERRY_ROOT/fail-health-<name>` exists (one attempt: fails fast). `postinstallSleepS` makes
 * the install slow (in-flight window for crash tests).
 */
export function healthPackage(name: string, version: string, opts: { postinstallSleepS?: number } = {}): PackageSpec {
  const sleep = opts.postinstallSleepS ? `sleep ${opts.postinstallSleepS}\n` : '';
  return {
    name,
    version,
    files: {
      'VERSION': `${name} ${version}\n`,
      'hooks/postinstall.sh': `#!/bin/sh\n${LOG_LINE}\n${sleep}exit 0\n`,
      'hooks/rollback.sh': `#!/bin/sh\n${LOG_LINE}\nexit 0\n`,
      'hooks/health.sh': `#!/bin/sh\n${LOG_LINE}\nif [ -e "$FERRY_ROOT/fail-health-$FERRY_PACKAGE" ]; then echo "${HEALTH_ERROR} ($FERRY_PACKAGE $FERRY_VERSION)"; exit 1; fi\nexit 0\n`,
    },
    hooks: { postinstall: 'hooks/postinstall.sh', rollback: 'hooks/rollback.sh', healthcheck: 'hooks/health.sh' },
    healthcheck: { retries: 1, intervalSeconds: 1 },
    hookTimeoutSeconds: 30,
  };
}

/** Build + `dml add` each version, then `release create RELEASE --package name@version`. */
export async function publishRelease(home: string, release: string, spec: PackageSpec, opts: { rfc?: string } = {}): Promise<void> {
  await publishPackage(home, spec);
  await runFerry(home, ['release', 'create', release, '--package', `${spec.name}@${spec.version}`, ...(opts.rfc ? ['--rfc', opts.rfc] : []), '--json']);
}

/** Hook log lines of one package on one host, as [hook, version, previous] triples. */
export function packageHooks(installRoot: string, pkg: string): [string, string, string][] {
  const path = join(installRoot, 'hooks.log');
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' '))
    .filter((p) => p[0] === pkg)
    .map((p) => [p[1] ?? '', p[2] ?? '', p[3] ?? ''] as [string, string, string]);
}

/**
 * Build packages (no server needed), e.g. while the fleet starts; `ferry package build` per spec,
 * a few at a time. Returns the .ferry paths in the order of `specs`.
 */
export function buildAll(specs: PackageSpec[], limit = 3): Promise<string[]> {
  return mapLimit(specs, limit, (spec) => buildPackage(spec));
}

/** `dml add` every file, then `release create` every release (a few CLI calls at a time). */
export async function publishAll(home: string, files: string[], releases: { name: string; packages: string[]; rfc?: string }[], limit = 3): Promise<void> {
  await mapLimit(files, limit, (f) => runFerry(home, ['dml', 'add', f, '--json']));
  await mapLimit(releases, limit, (r) => runFerry(home, ['release', 'create', r.name, ...r.packages.flatMap((p) => ['--package', p]), ...(r.rfc ? ['--rfc', r.rfc] : []), '--json']));
}
