// The release schedule: rollouts that are planned, waiting for their start or window, or under
// way, with when they (next) run and the change record an approver reads: scope, owner, RFC,
// risk and rollback plan.
import { nextWindowEnd, nextWindowStart, parseWindow } from '../../shared/windows.js';
import type { ReleaseStore } from '../releases/store.js';
import { ACTIVE_ROLLOUT_STATES, type RolloutRow, type RolloutStore } from './store.js';

export type { ScheduleEntry } from '../../shared/protocol/replies.js';
import type { ScheduleEntry } from '../../shared/protocol/replies.js';

const RECENT_MS = 30 * 86_400_000;

/** Active rollouts, soonest first; with `all`, also those that ended in the last 30 days. */
export function buildSchedule(store: RolloutStore, releases: ReleaseStore, opts: { all: boolean; now?: Date }): ScheduleEntry[] {
  const now = opts.now ?? new Date();
  const rollouts = store
    .list()
    .filter((r) => ACTIVE_ROLLOUT_STATES.includes(r.state) || (opts.all && (r.endedAt ?? r.createdAt) >= now.getTime() - RECENT_MS));
  return rollouts.map((r) => entry(store, releases, r, now)).sort((a, b) => (a.start ?? '9999').localeCompare(b.start ?? '9999'));
}

function entry(store: RolloutStore, releases: ReleaseStore, r: RolloutRow, now: Date): ScheduleEntry {
  const release = releases.get(r.release);
  const policy = store.policyOf(r.id);
  const hosts = Object.values(Object.fromEntries(store.countsByWave(r.id)))
    .flatMap((c) => Object.entries(c))
    .filter(([state]) => state !== 'skipped')
    .reduce((n, [, count]) => n + (count ?? 0), 0);
  const { start, end } = timing(r, now);
  return {
    rollout: r.id,
    release: r.release,
    state: r.state,
    strategy: r.strategy,
    target: r.target,
    hosts,
    owner: release?.owner ?? null,
    rfc: release?.rfc ?? null,
    risk: policy?.risk.level ?? null,
    rollbackPlan: release?.rollbackPlan ?? null,
    window: r.options.window ?? null,
    timeZone: r.options.window ? (r.options.timeZone ?? 'UTC') : null,
    start,
    end,
    actor: r.actor,
  };
}

function timing(r: RolloutRow, now: Date): { start: string | null; end: string | null } {
  const active = ACTIVE_ROLLOUT_STATES.includes(r.state);
  const notBefore = new Date(Math.max(now.getTime(), r.options.startAt ?? 0));
  let start: Date | null = r.state === 'running' && r.startedAt && !r.options.window ? new Date(r.startedAt) : active ? notBefore : r.startedAt ? new Date(r.startedAt) : null;
  let end: Date | null = !active && r.endedAt ? new Date(r.endedAt) : null;
  if (r.options.window && active) {
    const w = parseWindow(r.options.window, r.options.timeZone ?? 'UTC');
    start = nextWindowStart(w, notBefore);
    end = start ? nextWindowEnd(w, start) : null;
  }
  return { start: start?.toISOString() ?? null, end: end?.toISOString() ?? null };
}
