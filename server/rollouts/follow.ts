// Rollouts that follow their target (`rollout start --follow`): after the waves complete, a host
// that joins later or starts matching the selector is brought to the release too, through the
// same per-host install and health watch the waves use (engine.packageSet). Like the engine, a
// reconciler: each tick reads the stored state and moves it on, so it is safe to repeat and to
// restart. Following ends for good when an operator stops it, a newer rollout of the same packages
// supersedes it, too many late hosts fail (--max-failures), or the rollout is rolled back or aborted.
import type { Logger } from 'pino';
import type { HostState } from '../../shared/protocol/messages.js';
import type { DesiredStatePublisher } from '../desired/publisher.js';
import type { DmlService } from '../dml/service.js';
import type { ReleaseStore } from '../releases/store.js';
import { parseSelector } from '../../shared/selectors.js';
import { scheduleWait, type Clock, type RolloutEngine } from './engine.js';
import { describeThreshold, failuresAllowed } from './options.js';
import { planRemoval, planRollout, type PlanHost, type PlannedHost } from './plan.js';
import { LATE_WAVE, type RolloutRow, type RolloutStore } from './store.js';

const FAILED: HostState[] = ['failed', 'rolled-back'];
/** States after which a rollout never completes again: following ends with them. */
const FOLLOW_ENDS_IN: readonly string[] = ['rolling-back', 'rolled-back', 'aborted'];

/** Stop a rollout following its target, in its timeline; false if it was not following. */
export function endFollowing(store: RolloutStore, id: string, actor: string, reason: string): boolean {
  return store.transaction(() => {
    if (!store.endFollow(id, reason)) return false;
    store.addEvent(id, actor, 'follow-ended', reason);
    return true;
  });
}

/**
 * Whether a host skipped for this reason may be brought in later: offline, incompatible (facts),
 * a dependency the release does not ship. Not a host already at the version, nor one without the
 * package a removal removes, nor one that left the fleet or was superseded (those carry an error).
 */
function mayPass(reason: string | null): boolean {
  return reason !== null && reason !== 'already at this version' && reason !== 'not installed';
}

export class RolloutFollower {
  private ticking: Promise<void> | undefined;

  constructor(
    private readonly store: RolloutStore,
    private readonly engine: RolloutEngine,
    private readonly releases: ReleaseStore,
    private readonly dml: DmlService,
    private readonly desired: DesiredStatePublisher,
    /** the fleet as it is now: joined, not revoked, with tags, facts, installed and online */
    private readonly fleet: () => PlanHost[],
    private readonly log: Logger,
    private readonly now: Clock = Date.now,
  ) {}

  /** One pass over every following rollout; a call while one runs waits for it (no second pass). */
  tick(): Promise<void> {
    this.ticking ??= this.pass().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  private async pass(): Promise<void> {
    const following = this.store.following();
    if (following.length === 0) return;
    let fleet: PlanHost[] | undefined;
    for (const rollout of following) {
      try {
        if (!this.mayBringIn(rollout)) continue;
        fleet ??= this.fleet();
        await this.bringIn(rollout, fleet);
      } catch (err) {
        this.log.error({ err, rollout: rollout.id }, 'following failed; will retry on the next tick');
      }
    }
  }

  /** Judge a following rollout's late hosts; true when it may bring in more now. */
  private mayBringIn(rollout: RolloutRow): boolean {
    if (FOLLOW_ENDS_IN.includes(rollout.state)) {
      endFollowing(this.store, rollout.id, 'engine', `the rollout is ${rollout.state}`);
      return false;
    }
    // The waves come first; a halted rollout may still be retried and complete.
    if (rollout.state !== 'completed') return false;
    const o = this.engine.settings(rollout);
    const now = this.now();
    for (const h of this.store.overdueHosts(rollout.id, now - o.hostTimeoutMs)) {
      this.store.setHost(rollout.id, h.agent, 'failed', { error: `did not finish within ${Math.round(o.hostTimeoutMs / 1000)}s`, finishedAt: now });
    }
    // The late hosts are judged like one more wave, as they arrive.
    const late = this.store.hosts(rollout.id, LATE_WAVE).filter((h) => h.state !== 'skipped');
    const failures = late.filter((h) => FAILED.includes(h.state)).length;
    const allowed = failuresAllowed(o.maxFailures, late.length);
    if (failures > allowed) {
      const reason = `${failures} host(s) brought in after the waves failed, more than the ${allowed} allowed by --max-failures ${describeThreshold(o.maxFailures)}`;
      if (endFollowing(this.store, rollout.id, 'engine', reason)) this.log.warn({ rollout: rollout.id, reason }, 'rollout stopped following its target');
      return false;
    }
    // Late hosts wait for the rollout's window, as a wave would.
    return scheduleWait(o, now) === undefined;
  }

  /**
   * Send the release to every host that matches the target now and is not in the rollout yet (it
   * joined, or its tags or facts changed), or that the rollout skipped for a reason that may pass:
   * offline, incompatible, a dependency missing. Such a host is planned again once it is online; it
   * is written again only when the plan sends it (then as a late host).
   */
  private async bringIn(rollout: RolloutRow, fleet: PlanHost[]): Promise<void> {
    const rows = new Map(this.store.hosts(rollout.id).map((h) => [h.agent, h]));
    const again = (h: PlanHost) => {
      const row = rows.get(h.id);
      return row === undefined || (row.state === 'skipped' && row.error === null && mayPass(row.reason));
    };
    // Offline hosts are looked at again when they come back (unless the rollout includes them).
    const candidates = fleet.filter((h) => again(h) && (h.online || rollout.options.includeOffline));
    if (candidates.length === 0) return;
    const planned = this.plan(rollout, candidates).filter((h) => h.wave !== null || !rows.has(h.agent));
    if (planned.length === 0) return;
    const packages = this.engine.packageSet(rollout);
    if ('retired' in packages) {
      endFollowing(this.store, rollout.id, 'engine', `${packages.retired} was retired`);
      return;
    }
    const now = this.now();
    const receiving = planned.filter((h) => h.wave !== null);
    const docs = this.store.transaction(() => {
      for (const h of planned) {
        const sent = h.wave !== null;
        const before = rows.get(h.agent)?.reason;
        const why = before === undefined ? 'matched the selector after the waves' : `skipped earlier (${before}), brought in after the waves`;
        this.store.addLateHost(rollout.id, { agent: h.agent, state: sent ? 'sent' : 'skipped', fromVersions: h.fromVersions, reason: sent ? why : h.reason }, now);
        this.store.addEvent(rollout.id, 'engine', sent ? 'follow-sent' : 'follow-skipped', sent ? h.hostname : `${h.hostname}: ${h.reason}`);
      }
      return this.desired.prepare(receiving.map((h) => ({ agent: h.agent, operation: rollout.id, ...packages })));
    });
    await this.desired.send(docs);
    if (receiving.length) this.log.info({ rollout: rollout.id, hosts: receiving.length }, 'brought hosts that joined the target into the rollout');
  }

  /** The same planning as the start, for the newcomers only: who matches, and who is skipped and why. */
  private plan(rollout: RolloutRow, candidates: PlanHost[]): PlannedHost[] {
    const selector = parseSelector(rollout.target);
    const o = this.engine.settings(rollout);
    if (o.remove !== undefined) return planRemoval(candidates, o.remove, { selector, waves: ['100%'], includeOffline: true }).hosts;
    const release = this.releases.require(rollout.release);
    const packages = release.packages.map((p) => ({ name: p.name, version: p.version, requires: this.dml.get(p.name, p.version)?.manifest.requires }));
    return planRollout(candidates, packages, { selector, waves: ['100%'], includeOffline: true, external: release.requires }).hosts;
  }
}
