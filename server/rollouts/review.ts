// The post-implementation review of a rollout: what happened, when, to whom, and how fast.
import type { CmdbStore } from '../cmdb/store.js';
import type { ReleaseStore } from '../releases/store.js';
import type { HostRow, RolloutRow, RolloutStore } from './store.js';
import { TERMINAL_HOST_STATES } from '../../shared/protocol/messages.js';

/** The review document lives with the protocol (shared/protocol/replies/rollouts.ts). */
export type { RolloutReview } from '../../shared/protocol/replies.js';
import type { RolloutReview } from '../../shared/protocol/replies.js';

export function buildReview(store: RolloutStore, releases: ReleaseStore, cmdb: CmdbStore, rollout: RolloutRow): RolloutReview {
  const hostnames = cmdb.hostnames();
  const name = (agent: string) => hostnames.get(agent) ?? agent;
  const release = releases.get(rollout.release);
  const hosts = store.hosts(rollout.id);
  const iso = (t: number | null) => (t ? new Date(t).toISOString() : null);
  const totals: Record<string, number> = {};
  for (const h of hosts) totals[h.state] = (totals[h.state] ?? 0) + 1;
  const times = hosts
    .filter((h) => h.state === 'succeeded' && h.sentAt !== null && h.finishedAt !== null)
    .map((h) => h.finishedAt! - h.sentAt!)
    .sort((a, b) => a - b);
  return {
    id: rollout.id,
    release: rollout.release,
    rfc: release?.rfc ?? null,
    owner: release?.owner ?? null,
    notes: release?.notes ?? null,
    approvals: release?.approvals ?? [],
    rollbackPlan: release?.rollbackPlan ?? null,
    policy: store.policyOf(rollout.id),
    earlyLife: earlyLife(hosts, rollout, name),
    packages: release?.packages.map((p) => `${p.name}@${p.version}`) ?? packagesOf(rollout),
    copyOf: rollout.options.clone ? { agent: rollout.options.clone.from, hostname: rollout.options.clone.fromHostname } : null,
    testedOnCopies: testedOnCopies(store, rollout, hosts, name),
    strategy: rollout.strategy,
    state: rollout.state,
    reason: rollout.reason,
    target: rollout.target,
    actor: rollout.actor,
    options: rollout.options,
    createdAt: iso(rollout.createdAt)!,
    startedAt: iso(rollout.startedAt),
    endedAt: iso(rollout.endedAt),
    durationMs: rollout.startedAt && rollout.endedAt ? rollout.endedAt - rollout.startedAt : null,
    timeline: store.events(rollout.id).map((e) => ({ at: new Date(e.ts).toISOString(), actor: e.actor, action: e.action, detail: e.detail })),
    waves: store.waves(rollout.id).map((w) => {
      const { hosts: count, succeeded, failed } = waveTally(hosts, w.index);
      return { index: w.index, state: w.state, hosts: count, succeeded, failed, startedAt: iso(w.startedAt), endedAt: iso(w.endedAt) };
    }),
    totals,
    installTimeMs: { count: times.length, p50: percentile(times, 0.5), p95: percentile(times, 0.95), max: times[times.length - 1] ?? null },
    failures: hosts.filter((h) => h.state === 'failed' || (h.state === 'rolled-back' && h.error)).map((h) => ({ agent: h.agent, hostname: name(h.agent), wave: h.wave, state: h.state, error: h.error })),
    rollbacks: hosts.filter((h) => h.rollback === 'sent' || (h.rollback === 'done' && h.state === 'rolled-back')).map((h) => ({ agent: h.agent, hostname: name(h.agent), state: h.state, error: h.error })),
    notConverged: hosts.filter((h) => h.state !== 'succeeded').map((h) => ({ agent: h.agent, hostname: name(h.agent), state: h.state, reason: h.error ?? h.reason })),
  };
}

/** The changes of a removal or a clone-config rollout, for the review's package list. */
function packagesOf(rollout: RolloutRow): string[] {
  const { remove, clone } = rollout.options;
  if (clone) return [...clone.install.map((p) => `${p.name}@${p.version}${p.downgrade ? ' (downgrade)' : ''}`), ...clone.remove.map((n) => `${n} (removed)`)];
  return remove !== undefined ? [`${remove} (removed)`] : [];
}

/**
 * Which of this rollout's hosts it reached as copies of a production host: for each, the newest
 * clone-config rollout created before this one that completed on it.
 */
function testedOnCopies(store: RolloutStore, rollout: RolloutRow, hosts: HostRow[], name: (agent: string) => string): RolloutReview['testedOnCopies'] {
  if (rollout.options.clone) return [];
  const clones = store.list().filter((r) => r.options.clone && r.state === 'completed' && r.createdAt <= rollout.createdAt && r.id !== rollout.id);
  const out: RolloutReview['testedOnCopies'] = [];
  for (const h of hosts) {
    if (h.wave < 0) continue;
    // list() is newest first
    const clone = clones.find((r) => store.host(r.id, h.agent)?.state === 'succeeded');
    if (!clone) continue;
    out.push({ agent: h.agent, hostname: name(h.agent), copyOf: { agent: clone.options.clone!.from, hostname: clone.options.clone!.fromHostname }, cloneRollout: clone.id, copiedAt: new Date(clone.endedAt ?? clone.createdAt).toISOString() });
  }
  return out;
}

/** Hosts that installed and were then health-watched for the soak; which of them failed it. */
function earlyLife(hosts: HostRow[], rollout: RolloutRow, name: (agent: string) => string): RolloutReview['earlyLife'] {
  const soakMs = rollout.options.soakMs;
  const failed = hosts.filter((h) => h.state === 'rolled-back' && /during soak/.test(h.error ?? ''));
  const watched = soakMs > 0 ? hosts.filter((h) => h.state === 'succeeded').length + failed.length : 0;
  return {
    soakMs,
    watched,
    stayedHealthy: soakMs > 0 ? watched - failed.length : 0,
    failedDuringSoak: failed.map((h) => ({ agent: h.agent, hostname: name(h.agent), wave: h.wave, error: h.error })),
  };
}

/**
 * How a wave's hosts stand: failed counts the hosts that rolled themselves back too, not those a
 * fleet rollback sent back (they installed fine: isFailure).
 */
export function waveTally(hosts: HostRow[], wave: number): { hosts: number; succeeded: number; failed: number; pending: number } {
  const inWave = hosts.filter((h) => h.wave === wave);
  return {
    hosts: inWave.length,
    succeeded: inWave.filter((h) => h.state === 'succeeded').length,
    failed: inWave.filter(isFailure).length,
    pending: inWave.filter((h) => !TERMINAL_HOST_STATES.includes(h.state)).length,
  };
}

/**
 * Whether a host's outcome in a rollout is a failure there: it failed (install, removal, or its
 * fleet rollback), or it rolled itself back (a hook or its health check failed). A host the
 * operator's fleet rollback (or --on-failure rollback) sent back is not.
 */
export function isFailure(h: Pick<HostRow, 'state' | 'cause'>): boolean {
  return h.state === 'failed' || (h.state === 'rolled-back' && h.cause !== 'fleet-rollback');
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}
