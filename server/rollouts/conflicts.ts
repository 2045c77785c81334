// Which unfinished rollouts still hold the hosts a new one (a rollout start or a clone-config)
// would change the same packages on, and how --supersede ends them for those hosts. A host is held
// while that rollout may still install, soak or roll it back there.
import { FerryError } from '../../shared/errors.js';
import { TERMINAL_HOST_STATES, type HostState } from '../../shared/protocol/messages.js';
import { nextRolloutState } from './lifecycle.js';
import type { PlannedHost } from './plan.js';
import type { Release } from '../releases/store.js';
import { ACTIVE_ROLLOUT_STATES, LATE_WAVE, type HostRow, type RolloutRow, type RolloutStore } from './store.js';

const IN_FLIGHT_STATES: HostState[] = ['sent', 'downloading', 'installing', 'verifying'];

export interface Conflict {
  rollout: RolloutRow;
  hosts: string[];
}

/** The packages a rollout changes on its hosts. */
export function changedPackages(r: RolloutRow, release: (name: string) => Release | undefined): string[] {
  if (r.options.clone) return [...r.options.clone.install.map((p) => p.name), ...r.options.clone.remove];
  if (r.options.remove !== undefined) return [r.options.remove];
  return release(r.release)?.packages.map((p) => p.name) ?? [];
}

/** Unfinished rollouts of any of these packages that still hold some of the planned hosts. */
export function findConflicts(store: RolloutStore, packagesOf: (r: RolloutRow) => string[], names: string[], planned: PlannedHost[]): Conflict[] {
  const receiving = new Set(planned.filter((h) => h.wave !== null).map((h) => h.agent));
  if (receiving.size === 0) return [];
  const out: Conflict[] = [];
  const unfinished = [...store.active(), ...store.rollingBack()];
  // A completed rollout that follows its target still holds the late hosts it is installing.
  const following = store.following().filter((f) => !unfinished.some((r) => r.id === f.id));
  for (const r of [...unfinished, ...following]) {
    if (!packagesOf(r).some((n) => names.includes(n))) continue;
    const isHeld = unfinished.includes(r) ? holds : holdsLate;
    const held = store.hosts(r.id).filter((h) => receiving.has(h.agent) && isHeld(h));
    if (held.length > 0) out.push({ rollout: r, hosts: held.map((h) => h.agent) });
  }
  return out;
}

/** End an older rollout for the hosts a new one takes over; recorded in its timeline. */
export function supersede(store: RolloutStore, c: Conflict, by: string, actor: string): void {
  const now = Date.now();
  for (const agent of c.hosts) {
    const h = store.host(c.rollout.id, agent)!;
    if (!TERMINAL_HOST_STATES.includes(h.state)) {
      store.setHost(c.rollout.id, agent, 'skipped', { error: `superseded by ${by}`, finishedAt: now });
      store.setCause(c.rollout.id, agent, 'superseded');
    }
    // A later fleet rollback of the older rollout must not undo what the new one installs.
    store.setRollbackMark(c.rollout.id, agent, 'done');
  }
  store.addEvent(c.rollout.id, actor, 'superseded', `${c.hosts.length} host(s) taken over by ${by}`);
  const current = store.get(c.rollout.id)!;
  if (!store.hosts(c.rollout.id).some(holds) && ACTIVE_ROLLOUT_STATES.includes(current.state)) {
    store.setState(c.rollout.id, nextRolloutState(c.rollout.id, current.state, 'abort'), { endedAt: now, reason: `superseded by ${by} (${actor})` });
    store.closeWaves(c.rollout.id, `not sent: superseded by ${by}`, now);
  }
}

export function describeConflict(c: Conflict): { rollout: string; release: string; state: string; hosts: string[] } {
  return { rollout: c.rollout.id, release: c.rollout.release, state: c.rollout.state, hosts: c.hosts };
}

/** The refusal of a new rollout while others hold its hosts (without --supersede). */
export function conflictError(label: string, conflicts: Conflict[]): FerryError {
  const parts = conflicts.map((c) => {
    const shown = c.hosts.slice(0, 5).join(', ') + (c.hosts.length > 5 ? ', …' : '');
    return `rollout ${c.rollout.id} (${c.rollout.release}, ${c.rollout.state}) still holds ${c.hosts.length} of its hosts: ${shown}`;
  });
  return new FerryError('FERRY_CONFLICT', `rollout of ${label} refused: ${parts.join('; ')}`, {
    hint: `wait for it to end (ferry rollout status ${conflicts[0]!.rollout.id}), abort it, or give --supersede to end it for those hosts`,
    details: { conflicts: conflicts.map(describeConflict) },
  });
}

/** Whether an unfinished rollout still holds this host (a wave's, or one brought in later). */
function holds(h: HostRow): boolean {
  return (h.wave >= 0 || h.wave === LATE_WAVE) && h.rollback !== 'done' && (h.state === 'pending' || h.state === 'succeeded' || IN_FLIGHT_STATES.includes(h.state));
}

/** Whether a completed rollout that follows its target still holds this host: it is installing there. */
function holdsLate(h: HostRow): boolean {
  return h.wave === LATE_WAVE && h.rollback !== 'done' && IN_FLIGHT_STATES.includes(h.state);
}
