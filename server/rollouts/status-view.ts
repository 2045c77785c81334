// The rollout read model: one rollout's status document (rollout status, the fleet status, the UI,
// what start and every action answer) and the list of all rollouts, built from the store's rows.
import type { RolloutStatusDoc } from '../../shared/protocol/replies.js';
import { waveTally } from './review.js';
import { LATE_WAVE, type RolloutRow, type RolloutStore } from './store.js';

/** What a rollout does: install a release, remove a package, or copy a production host (clone-config). */
export type RolloutOperation = 'install' | 'remove' | 'clone';

/** One line of `ferry rollout list`. */
export interface RolloutSummary {
  id: string;
  release: string;
  operation: RolloutOperation;
  strategy: string;
  state: string;
  target: string;
  createdAt: string;
  hosts: number;
}

/** The status document of one rollout; hosts are named by their CMDB hostname (their id if it has none). */
export function rolloutStatus(store: RolloutStore, rollout: RolloutRow, hostnames: Map<string, string>): RolloutStatusDoc {
  const hosts = store.hosts(rollout.id);
  const counts: Record<string, number> = {};
  for (const h of hosts) counts[h.state] = (counts[h.state] ?? 0) + 1;
  return {
    id: rollout.id,
    release: rollout.release,
    ...operationOf(rollout),
    strategy: rollout.strategy,
    state: rollout.state,
    target: rollout.target,
    ...(rollout.reason ? { reason: rollout.reason } : {}),
    createdAt: iso(rollout.createdAt)!,
    ...(rollout.startedAt ? { startedAt: iso(rollout.startedAt)! } : {}),
    ...(rollout.endedAt ? { endedAt: iso(rollout.endedAt)! } : {}),
    options: rollout.options,
    ...(rollout.options.follow ? { follow: followOf(rollout) } : {}),
    counts,
    waves: store.waves(rollout.id).map((w) => {
      return {
        index: w.index,
        state: w.state,
        ...waveTally(hosts, w.index),
        ...(w.startedAt ? { startedAt: iso(w.startedAt)! } : {}),
        ...(w.endedAt ? { endedAt: iso(w.endedAt)! } : {}),
        ...(w.soakUntil ? { soakUntil: iso(w.soakUntil)! } : {}),
      };
    }),
    hosts: hosts.map((h) => ({
      agent: h.agent,
      hostname: hostnames.get(h.agent) ?? h.agent,
      wave: h.wave < 0 ? null : h.wave,
      state: h.state,
      ...(h.wave === LATE_WAVE ? { late: true as const } : {}),
      ...(h.error ? { error: h.error } : {}),
      ...(h.reason && h.state === 'skipped' ? { reason: h.reason } : {}),
      ...(h.cause ? { cause: h.cause } : {}),
      ...(h.waiting && h.state === 'sent' ? { waiting: true as const, reason: h.waiting.reason, ...(h.waiting.until ? { waitingUntil: iso(h.waiting.until)! } : {}) } : {}),
      ...(h.finishedAt ? { finishedAt: iso(h.finishedAt)! } : {}),
    })),
  };
}

/** Every rollout, with how many hosts it has. */
export function rolloutList(store: RolloutStore): RolloutSummary[] {
  return store.list().map((r) => ({
    id: r.id,
    release: r.release,
    ...operationOf(r),
    strategy: r.strategy,
    state: r.state,
    target: r.target,
    createdAt: new Date(r.createdAt).toISOString(),
    hosts: Object.values(Object.fromEntries(store.countsByWave(r.id))).reduce((n, c) => n + Object.values(c).reduce((a, b) => a + (b ?? 0), 0), 0),
  }));
}

function iso(t: number | null | undefined): string | undefined {
  return t ? new Date(t).toISOString() : undefined;
}

function followOf(r: RolloutRow): NonNullable<RolloutStatusDoc['follow']> {
  if (r.followEndedAt === null) return { state: 'following' };
  return { state: 'stopped', ...(r.followEndReason ? { reason: r.followEndReason } : {}), endedAt: new Date(r.followEndedAt).toISOString() };
}

function operationOf(r: RolloutRow): { operation: RolloutOperation; package?: string; copyOf?: { agent: string; hostname: string } } {
  if (r.options.clone) return { operation: 'clone', copyOf: { agent: r.options.clone.from, hostname: r.options.clone.fromHostname } };
  return r.options.remove !== undefined ? { operation: 'remove', package: r.options.remove } : { operation: 'install' };
}
