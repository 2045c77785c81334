// `ferry status`: the fleet and the open rollouts at a glance, built from the CMDB and the
// rollout store in one reply (the CLI would otherwise need a request per host and rollout).
import { windowOpens } from '../../shared/windows.js';
import { LOCAL_ROLLBACK_OPERATION_PREFIX } from '../../shared/protocol/messages.js';
import type { FleetStatusReply } from '../../shared/protocol/replies.js';
import type { CmdbStore, HistoryEntry } from '../cmdb/store.js';
import type { RolloutService } from '../rollouts/service.js';
import { ROLLBACK_SUFFIX } from '../rollouts/engine.js';

const LISTED = 20;
const ENDED = new Set(['completed', 'aborted', 'rolled-back']);

export function buildFleetStatus(d: { cmdb: CmdbStore; rollouts: Pick<RolloutService, 'list' | 'status' | 'wasSuperseded'>; isOnline: (lastSeen: number | null) => boolean }): FleetStatusReply {
  const agents = d.cmdb.listAgents();
  const all = d.rollouts.list();
  const rolledBack = new Set(all.filter((r) => r.state === 'rolling-back' || r.state === 'rolled-back').map((r) => r.id));
  const failing: FleetStatusReply['failing'] = [];
  const drifted: FleetStatusReply['drifted'] = [];
  const offline: FleetStatusReply['offline'] = [];
  let online = 0;
  for (const a of agents) {
    if (d.isOnline(a.lastSeen)) online++;
    else offline.push({ id: a.id, hostname: a.hostname, lastSeen: a.lastSeen ? new Date(a.lastSeen).toISOString() : null });
    const last = d.cmdb.historyOf(a.id, 20).find((h) => h.result !== null);
    if (last && isFailing(last, rolledBack)) failing.push({ id: a.id, hostname: a.hostname, detail: last.detail });
    if (a.drift.length) drifted.push({ id: a.id, hostname: a.hostname, packages: a.drift.map((x) => `${x.package}@${x.version}`) });
  }
  // A halted rollout has ended (nothing more goes out) but waits for an operator (retry or
  // rollback): it is listed until it is rolled back or a newer rollout supersedes it.
  const rollouts = all
    .filter((r) => !ENDED.has(r.state) && !(r.state === 'halted' && d.rollouts.wasSuperseded(r.id)))
    .map((r) => {
      const s = d.rollouts.status(r.id);
      return { id: r.id, release: r.release, state: r.state, hosts: r.hosts, counts: s.counts, next: nextEvent(s) };
    });
  return {
    hosts: { total: agents.length, online, offline: agents.length - online, failing: failing.length, drifted: drifted.length },
    failing: failing.slice(0, LISTED),
    drifted: drifted.slice(0, LISTED),
    offline: offline.slice(0, LISTED),
    rollouts,
  };
}

/**
 * Whether a host's latest change with an outcome leaves it failing: an install or removal that
 * failed, or that the agent undid itself (a hook or its health check failed: the release failed
 * there and needs a look), or a rollback that failed. A rollback someone asked for and that
 * worked is not a failure of the host: the fleet rollback (operation `<rollout>:rollback`) or
 * `ferry-agent rollback` on the host (`local-rollback-…`). Nor is an install that failed in a
 * rollout since rolled back as a whole: the host runs what it ran before, like the rollout's
 * other hosts, and nothing of that rollout is left to do there (its status and review keep the failure).
 */
export function isFailing(last: Pick<HistoryEntry, 'result' | 'operation'>, rolledBack: ReadonlySet<string>): boolean {
  const op = last.operation ?? '';
  if (op.endsWith(ROLLBACK_SUFFIX) || op.startsWith(LOCAL_ROLLBACK_OPERATION_PREFIX)) return last.result === 'failed';
  if (last.result !== 'failed' && last.result !== 'rolled-back') return false;
  return !rolledBack.has(op);
}

type Status = ReturnType<RolloutService['status']>;

/** What the rollout waits for next, and until when if that is known. */
export function nextEvent(s: Status, now = Date.now()): { event: string; at: string | null } | null {
  // An operator's state first: a paused rollout's soak may run out, but nothing starts after it.
  if (s.state === 'paused') return { event: `paused — ferry rollout resume ${s.id}`, at: null };
  // halted allows only retry and rollback (lifecycle.ts)
  if (s.state === 'halted') return { event: `halted: retry or rollback (ferry rollout retry ${s.id} | ferry rollout rollback ${s.id})`, at: null };
  if (s.state === 'rolling-back') return { event: 'rolling back: waits for the hosts sent back to report', at: null };
  const soaking = s.waves.find((w) => w.state === 'soaking');
  if (soaking) {
    const following = s.waves.find((w) => w.index === soaking.index + 1);
    return { event: following ? `wave ${following.index + 1} starts after the soak` : 'completes after the soak', at: soaking.soakUntil ?? null };
  }
  if (s.state === 'waiting' || s.state === 'planned') {
    const wave = (s.waves.find((w) => w.state === 'pending')?.index ?? 0) + 1;
    const startAt = s.options.startAt;
    const opens = s.options.window ? windowOpens(s.options.window, s.options.timeZone, Math.max(now, startAt ?? 0)) : null;
    const at = opens ?? (startAt ? new Date(startAt).toISOString() : null);
    return { event: s.options.window ? `wave ${wave} starts when the window "${s.options.window}" opens` : `wave ${wave} starts`, at };
  }
  const running = s.waves.find((w) => w.state === 'running');
  if (running) {
    const waits = s.hosts.map((h) => h.waitingUntil).filter((x): x is string => !!x).sort();
    return { event: `wave ${running.index + 1}: ${running.pending} host(s) to report`, at: waits[0] ?? null };
  }
  return null;
}
