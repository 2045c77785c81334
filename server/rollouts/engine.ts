// The rollout engine: a reconciler. Each tick reads the stored state of every active rollout and
// moves it one step on (start a wave, time out hosts, judge a wave, halt, roll back, complete).
// Every step is written to SQLite before it takes effect, so a tick is safe to repeat and a
// restarted server continues where it stopped without re-sending finished work.
import type { Logger } from 'pino';
import { FLEET_ROLLBACK_OPERATION_SUFFIX, TERMINAL_HOST_STATES, type DesiredPackage, type HostState, type StatusReport } from '../../shared/protocol/messages.js';
import type { DesiredChange, DesiredStatePublisher } from '../desired/publisher.js';
import type { DmlService } from '../dml/service.js';
import type { ReleaseStore } from '../releases/store.js';
import { nextRolloutState, transition, type RolloutAction } from './lifecycle.js';
import { describeThreshold, failuresAllowed, parseRolloutOptions, type RolloutSettings } from './options.js';
import type { HostRow, RolloutRow, RolloutStore } from './store.js';
import { isInWindow, nextWindowStart } from '../../shared/windows.js';

const IN_FLIGHT: HostState[] = ['sent', 'downloading', 'installing', 'verifying'];
const FAILED: HostState[] = ['failed', 'rolled-back'];
export const ROLLBACK_SUFFIX = FLEET_ROLLBACK_OPERATION_SUFFIX;

/** Why a rollout may not start its next wave now, or undefined if it may. */
export function scheduleWait(o: Pick<RolloutSettings, 'startAt' | 'window'>, now: number): string | undefined {
  if (o.startAt && now < o.startAt) return `scheduled to start at ${new Date(o.startAt).toISOString()}`;
  if (!o.window) return undefined;
  const window = o.window.spec;
  if (isInWindow(window, new Date(now))) return undefined;
  const next = nextWindowStart(window, new Date(now));
  return `outside the window "${o.window.text}" (${window.timeZone})${next ? `; it opens at ${next.toISOString()}` : ''}`;
}

/** The engine's clock; tests step it by hand. */
export type Clock = () => number;

export class RolloutEngine {
  private ticking: Promise<void> | undefined;
  private again = false;
  /** options parsed once per rollout (they never change after the start) */
  private readonly parsed = new Map<string, RolloutSettings>();

  constructor(
    private readonly store: RolloutStore,
    private readonly releases: ReleaseStore,
    private readonly dml: DmlService,
    private readonly desired: DesiredStatePublisher,
    private readonly log: Logger,
    private readonly now: Clock = Date.now,
  ) {}

  /** A rollout's options as types, parsed the first time the engine meets the rollout. */
  settings(rollout: RolloutRow): RolloutSettings {
    let s = this.parsed.get(rollout.id);
    if (!s) {
      s = parseRolloutOptions(rollout.options);
      this.parsed.set(rollout.id, s);
    }
    return s;
  }

  /** Forget the parsed options of a rollout whose options an operator changed (start-now). */
  forgetSettings(id: string): void {
    this.parsed.delete(id);
  }

  /** Move a rollout along the lifecycle table (lifecycle.ts); anything else is a bug or a conflict. */
  private move(rollout: RolloutRow, action: RolloutAction, fields: { endedAt?: number; reason?: string } = {}): void {
    const current = this.store.get(rollout.id)!.state;
    this.store.setState(rollout.id, nextRolloutState(rollout.id, current, action), fields);
  }

  /** Run one reconcile pass; concurrent calls coalesce into one extra pass. */
  tick(): Promise<void> {
    if (this.ticking) {
      this.again = true;
      return this.ticking;
    }
    this.ticking = (async () => {
      do {
        this.again = false;
        for (const rollout of this.store.active()) {
          try {
            await this.reconcile(rollout);
          } catch (err) {
            this.log.error({ err, rollout: rollout.id }, 'reconcile failed; will retry on the next tick');
          }
        }
        for (const rollout of this.store.rollingBack()) await this.finishRollback(rollout);
      } while (this.again);
    })().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  /**
   * After a server restart: deliver again the desired states of hosts still waiting on an active
   * rollout. The documents are the stored ones (same generation), so agents that already have
   * them treat them as a no-op; finished hosts are not sent anything.
   */
  async resendInFlight(): Promise<void> {
    const agents = new Set<string>();
    // A following rollout's late hosts are in flight after its waves completed.
    for (const r of [...this.store.active(), ...this.store.rollingBack(), ...this.store.following()]) {
      for (const h of this.store.hosts(r.id)) if (IN_FLIGHT.includes(h.state) || h.rollback === 'sent' || h.rollback === 'unconfirmed') agents.add(h.agent);
    }
    if (agents.size) this.log.info({ hosts: agents.size }, 'delivering desired states again after restart');
    await this.desired.send(this.desired.stored([...agents]));
  }

  /** Apply an agent's status report to the rollout it belongs to. Returns true if it moved anything. */
  applyReport(report: StatusReport): boolean {
    const isRollback = report.operation.endsWith(ROLLBACK_SUFFIX);
    const id = isRollback ? report.operation.slice(0, -ROLLBACK_SUFFIX.length) : report.operation;
    const host = this.store.host(id, report.agent);
    if (!host) return false;
    const now = this.now();
    if (isRollback) {
      // Also after the rollout stopped waiting for it (unconfirmed): what the host did is recorded.
      if ((host.rollback !== 'sent' && host.rollback !== 'unconfirmed') || !TERMINAL_HOST_STATES.includes(report.state)) return false;
      const ok = report.state !== 'failed';
      const before = host.rollback === 'unconfirmed' ? null : host.error; // the error said it was not confirmed
      this.store.transaction(() => {
        this.store.setHost(id, report.agent, ok ? 'rolled-back' : 'failed', { finishedAt: now, error: ok ? before : `rollback failed: ${report.error ?? 'unknown error'}` });
        this.store.setRollbackMark(id, report.agent, 'done');
        // Sent back by the operator (or --on-failure rollback): not a failure of the package there.
        if (ok) this.store.setCause(id, report.agent, 'fleet-rollback');
      });
      return true;
    }
    if (report.waiting) {
      // Held by the agent's maintenance window: the host stays 'sent', with the reason.
      if (host.rollback !== 'none' || host.state !== 'sent') return false;
      this.store.setWaiting(id, report.agent, report.waiting);
      return true;
    }
    if (host.rollback !== 'none' || host.state === report.state) return false;
    const wasTerminal = TERMINAL_HOST_STATES.includes(host.state);
    // Late progress after a final state is ignored; a failure after success (health check
    // during soak) is not: it counts against the wave.
    if (wasTerminal && !(host.state === 'succeeded' && FAILED.includes(report.state))) return false;
    if (host.state === 'pending') return false; // not sent by this rollout yet (stale desired state)
    const terminal = TERMINAL_HOST_STATES.includes(report.state);
    // A host that waited for its window is timed from when it started to work.
    const update = { ...(report.error !== undefined ? { error: report.error } : {}), ...(terminal ? { finishedAt: now } : {}), ...(host.waiting ? { sentAt: now } : {}) };
    if (!terminal || report.state === 'succeeded') {
      this.store.setHost(id, report.agent, report.state, update);
      return true;
    }
    // The host is back on what it had (or never changed): its desired state must say so too,
    // or a later change to it would retry this version. Saved with the host's new state.
    const rollout = this.store.get(id);
    const docs = this.store.transaction(() => {
      this.store.setHost(id, report.agent, report.state, update);
      this.store.setRollbackMark(id, report.agent, 'done');
      const change = rollout ? this.rollbackChange(id, host, this.packageNames(rollout), ':revert') : undefined;
      return change && typeof change !== 'string' ? this.desired.prepare([change]) : [];
    });
    void this.desired.send(docs).catch((err: unknown) => this.log.warn({ err, agent: report.agent }, 'could not deliver a reverted desired state; it is stored and goes out with the next change'));
    return true;
  }

  private async reconcile(rollout: RolloutRow): Promise<void> {
    // A paused rollout starts nothing new, but failures still halt it (and roll back if asked).
    if (rollout.state !== 'running' && rollout.state !== 'waiting' && rollout.state !== 'paused') return;
    const now = this.now();
    const o = this.settings(rollout);
    for (const h of this.store.overdueHosts(rollout.id, now - o.hostTimeoutMs)) {
      this.store.setHost(rollout.id, h.agent, 'failed', { error: `did not finish within ${Math.round(o.hostTimeoutMs / 1000)}s`, finishedAt: now });
    }
    const counts = this.store.countsByWave(rollout.id);
    const waves = this.store.waves(rollout.id);
    for (const wave of waves) {
      if (wave.state === 'pending') break;
      const c = counts.get(wave.index) ?? {};
      const failures = FAILED.reduce((n, s) => n + (c[s] ?? 0), 0);
      const allowed = failuresAllowed(o.maxFailures, wave.size);
      if (failures > allowed && wave.state !== 'failed') {
        await this.halt(rollout, wave.index, `wave ${wave.index + 1}: ${failures} host(s) failed, more than the ${allowed} allowed by --max-failures ${describeThreshold(o.maxFailures)}`);
        return;
      }
    }
    if (rollout.state === 'paused') return;
    for (const wave of waves) {
      if (wave.state === 'completed') continue;
      if (wave.state === 'pending') {
        // Waves start only when the schedule allows; a wave already running always finishes.
        const wait = scheduleWait(o, now);
        if (wait) {
          if (rollout.state !== 'waiting' || rollout.reason !== wait) {
            this.move(rollout, 'wait', { reason: wait });
            this.store.addEvent(rollout.id, 'engine', 'waiting', wait);
          }
          return;
        }
        if (rollout.state === 'waiting') {
          this.move(rollout, 'window-open', { reason: 'window open' });
          this.store.addEvent(rollout.id, 'engine', 'window-open');
        }
        await this.startWave(rollout, wave.index);
        return;
      }
      const c = counts.get(wave.index) ?? {};
      const open = ['pending', ...IN_FLIGHT].reduce((n, s) => n + (c[s as HostState] ?? 0), 0);
      if (wave.state === 'running' && open === 0) {
        if (o.soakMs > 0) {
          this.store.setWave(rollout.id, wave.index, 'soaking', { soakUntil: now + o.soakMs });
          this.store.addEvent(rollout.id, 'engine', 'wave-soaking', `wave ${wave.index + 1}`);
          return;
        }
        this.completeWave(rollout, wave.index);
        continue;
      }
      if (wave.state === 'soaking' && wave.soakUntil !== null && now >= wave.soakUntil) {
        this.completeWave(rollout, wave.index);
        continue;
      }
      return;
    }
    this.move(rollout, 'complete', { endedAt: now });
    this.store.addEvent(rollout.id, 'engine', 'completed');
    this.log.info({ rollout: rollout.id }, 'rollout completed');
  }

  private completeWave(rollout: RolloutRow, index: number): void {
    this.store.setWave(rollout.id, index, 'completed', { endedAt: this.now() });
    this.store.addEvent(rollout.id, 'engine', 'wave-completed', `wave ${index + 1}`);
  }

  private async startWave(rollout: RolloutRow, index: number): Promise<void> {
    const packages = this.packageSet(rollout);
    if ('retired' in packages) return this.halt(rollout, null, `${packages.retired} was retired; no further waves`);
    const { set, remove } = packages;
    const hosts = this.store.hosts(rollout.id, index).filter((h) => h.state === 'pending');
    const now = this.now();
    // The wave, its hosts and their new desired states are saved in one transaction before
    // anything is sent; after a crash, resendInFlight() delivers the same documents again.
    const docs = this.store.transaction(() => {
      this.store.setWave(rollout.id, index, 'running', { startedAt: now });
      for (const h of hosts) this.store.setHost(rollout.id, h.agent, 'sent', { sentAt: now });
      this.store.addEvent(rollout.id, 'engine', 'wave-started', `wave ${index + 1}: ${hosts.length} host(s)`);
      return this.desired.prepare(hosts.map((h) => ({ agent: h.agent, operation: rollout.id, set, remove })));
    });
    await this.desired.send(docs);
    this.log.info({ rollout: rollout.id, wave: index + 1, hosts: hosts.length }, 'wave started');
  }

  /**
   * What a host of this rollout is sent: the release's packages (with the soak as the agent's
   * health watch, and --max-rate), or the package it removes. The waves and the hosts a
   * `--follow` rollout brings in later get the same. `retired` names a package retired since the start.
   */
  packageSet(rollout: RolloutRow): { set: DesiredPackage[]; remove: string[] } | { retired: string } {
    const o = this.settings(rollout);
    if (o.remove !== undefined) return { set: [], remove: [o.remove] };
    const clone = o.clone;
    // In the release's order (a clone's is planned the same way), so every package arrives after the ones it depends on.
    const installs: { name: string; version: string; downgrade?: true }[] = clone?.install ?? this.releases.require(rollout.release).packages;
    // Retired while the rollout ran: what was installed stays, nothing more goes out.
    const retired = installs.find((p) => this.dml.get(p.name, p.version)?.state === 'retired');
    if (retired) return { retired: `${retired.name}@${retired.version}` };
    // A clone's downgrade goes out as a signed rollback: agents refuse any other downgrade.
    const set: DesiredPackage[] = installs.map((p) => ({ name: p.name, version: p.version, record: this.dml.require(p.name, p.version).record, rollback: p.downgrade === true, watchMs: o.soakMs, ...(o.maxRateBps ? { maxBytesPerSecond: o.maxRateBps } : {}) }));
    return { set, remove: clone?.remove ?? [] };
  }

  /**
   * Stop sending installs (halted, ended); with --on-failure rollback, go on to roll back every
   * changed host instead (rolling-back, then rolled-back).
   */
  async halt(rollout: RolloutRow, waveIndex: number | null, reason: string, actor = 'engine'): Promise<void> {
    const now = this.now();
    const rollBack = this.settings(rollout).onFailure === 'rollback';
    this.store.transaction(() => {
      if (waveIndex !== null) this.store.setWave(rollout.id, waveIndex, 'failed', { endedAt: now });
      this.move(rollout, 'halt', rollBack ? { reason } : { reason, endedAt: now });
      this.store.addEvent(rollout.id, actor, 'halted', reason);
    });
    this.log.warn({ rollout: rollout.id, reason }, 'rollout halted');
    if (rollBack) await this.rollBack(this.store.get(rollout.id)!, actor, reason);
  }

  /**
   * A host left the fleet (decommissioned or revoked): no rollout waits for it or sends it anything
   * again. Its unfinished hosts become skipped; it is never part of a fleet rollback.
   */
  async forgetAgent(agent: string, reason: string): Promise<void> {
    const now = this.now();
    this.store.transaction(() => {
      for (const id of this.store.rolloutsOf(agent)) {
        const h = this.store.host(id, agent)!;
        if (!TERMINAL_HOST_STATES.includes(h.state)) {
          this.store.setHost(id, agent, 'skipped', { error: reason, finishedAt: now });
          this.store.addEvent(id, 'engine', 'host-left', `${agent}: ${reason}`);
        }
        if (h.rollback !== 'done') this.store.setRollbackMark(id, agent, 'done');
      }
    });
    await this.tick();
  }

  /** Send every host this rollout changed back to the versions it had before (state rolling-back). */
  async rollBack(rollout: RolloutRow, actor: string, reason: string): Promise<void> {
    const names = this.packageNames(rollout);
    const changed = this.store.hosts(rollout.id).filter((h) => h.rollback === 'none' && (h.state === 'succeeded' || IN_FLIGHT.includes(h.state)));
    const changes: DesiredChange[] = [];
    const docs = this.store.transaction(() => {
      nextRolloutState(rollout.id, this.store.get(rollout.id)!.state, 'rollback'); // refuses what the table does not allow
      this.store.beginRollback(rollout.id, reason);
      // No wave runs again: those not finished end, the hosts never sent are skipped.
      this.store.closeWaves(rollout.id, 'not sent: the rollout was rolled back', this.now());
      for (const h of changed) {
        const change = this.rollbackChange(rollout.id, h, names);
        if (typeof change === 'string') {
          this.store.setHost(rollout.id, h.agent, 'failed', { error: change });
          continue;
        }
        this.store.setRollbackMark(rollout.id, h.agent, 'sent', this.now());
        changes.push(change);
      }
      this.store.addEvent(rollout.id, actor, 'rollback-started', `${changes.length} host(s)`);
      return this.desired.prepare(changes);
    });
    await this.desired.send(docs);
    await this.finishRollback(this.store.get(rollout.id)!);
  }

  /** The packages a rollout changes: its release's, the one it removes, or a clone's installs and removals. */
  packageNames(rollout: RolloutRow): string[] {
    const { remove, clone } = this.settings(rollout);
    if (clone !== undefined) return [...clone.install.map((p) => p.name), ...clone.remove];
    return remove !== undefined ? [remove] : this.releases.require(rollout.release).packages.map((p) => p.name);
  }

  /** A removal is undone by installing again the version each host had (from_versions). */
  private rollbackChange(id: string, h: HostRow, packages: string[], suffix = ROLLBACK_SUFFIX): DesiredChange | string {
    const set: DesiredPackage[] = [];
    const remove: string[] = [];
    for (const name of packages) {
      const from = h.fromVersions[name];
      if (from === undefined) {
        remove.push(name);
        continue;
      }
      const pkg = this.dml.get(name, from);
      if (!pkg) return `cannot roll back: ${name}@${from} is not in the DML`;
      set.push({ name, version: from, record: pkg.record, rollback: true, watchMs: 0 });
    }
    // Packages come in install order; they leave in the opposite one (dependents first).
    return { agent: h.agent, operation: id + suffix, set, remove: remove.reverse(), immediate: true };
  }

  /**
   * A rolling-back rollout ends as rolled-back once every host sent back reported, or when the
   * rest did not within --host-timeout (offline, say): those stay 'unconfirmed', with an error
   * saying so, and go back when they return (their desired state says so); a later report is
   * still recorded.
   */
  private async finishRollback(rollout: RolloutRow): Promise<void> {
    if (transition(rollout.state, 'rollback-done') === undefined) return;
    const now = this.now();
    const timeoutMs = this.settings(rollout).hostTimeoutMs;
    const overdue = this.store.overdueRollbacks(rollout.id, now - timeoutMs);
    const unconfirmed = `did not confirm its rollback within ${Math.round(timeoutMs / 1000)}s; it goes back to its previous version when it reports again`;
    if (overdue.length > 0) {
      this.store.transaction(() => {
        for (const h of overdue) {
          this.store.setRollbackMark(rollout.id, h.agent, 'unconfirmed', now);
          this.store.setHost(rollout.id, h.agent, h.state, { error: unconfirmed });
        }
      });
    }
    if (this.store.pendingRollbacks(rollout.id) > 0) return;
    const left = this.store.hosts(rollout.id).filter((h) => h.rollback === 'unconfirmed').length;
    const detail = left ? `rollback not confirmed by ${left} host(s) within ${Math.round(timeoutMs / 1000)}s` : undefined;
    this.move(rollout, 'rollback-done', { endedAt: now, ...(detail ? { reason: `${rollout.reason ?? 'rolled back'} (${detail})` } : {}) });
    this.store.addEvent(rollout.id, 'engine', 'rolled-back', detail);
    this.log.info({ rollout: rollout.id, unconfirmed: left }, 'rollout rolled back');
  }
}
