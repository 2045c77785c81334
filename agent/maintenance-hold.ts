// Holding changes for the workstation maintenance window: outside the window (and before the
// deadline) a desired state waits; the host is reported as waiting once per generation, and the
// state is looked at again when the window opens or the deadline passes.
import type { Logger } from 'pino';
import type { DesiredState } from '../shared/protocol/messages.js';
import type { Journal } from './install/journal.js';
import { holdDecision, type MaintenanceConfig } from './maintenance.js';
import type { Reporter } from './reporter.js';

/**
 * The clock the window is checked against. Production uses the wall clock; a test harness
 * (test/helpers/window-clock-agent.mjs) shifts it and says when it moved, so a test opens the
 * window when it is ready instead of racing a real clock.
 */
export interface WindowClock {
  /** milliseconds added to Date.now() when the window is checked */
  offsetMs(): number;
  /** calls `changed` whenever the offset moves; returns how to stop */
  watch(changed: () => void): () => void;
}

export class MaintenanceHold {
  /** the generation whose hold was reported, and the timer that looks again when the window opens */
  private heldReported = -1;
  private timer: NodeJS.Timeout | undefined;
  private lookAgain: (() => void) | undefined;
  private readonly unwatchClock: () => void;

  constructor(
    private readonly maintenance: MaintenanceConfig | undefined,
    private readonly journal: Journal,
    private readonly reporter: Reporter,
    private readonly log: Logger,
    private readonly clock?: WindowClock,
  ) {
    this.unwatchClock = clock && maintenance ? clock.watch(() => this.lookAgain?.()) : () => undefined;
  }

  /** True when the desired state must wait; `lookAgain` runs when it may go ahead. */
  holds(desired: DesiredState, lookAgain: () => void): boolean {
    const m = this.maintenance;
    if (!m || desired.immediate) return false; // no window, or a back-out / decommission purge
    const installs = desired.packages.filter((p) => {
      const installed = this.journal.installedOne(p.name);
      return installed?.version !== p.version && !(p.rollback && installed?.previousVersion === p.version);
    });
    const removals = desired.remove.filter((name) => this.journal.installedOne(name) !== undefined);
    if (installs.length === 0 && removals.length === 0) return false; // nothing to change here
    const now = Date.now();
    // When this generation first arrived, kept across restarts: the deadline counts from then.
    const [gen, since] = (this.journal.getMeta('held-since') ?? '').split(':').map(Number);
    const arrivedAt = gen === desired.generation && Number.isFinite(since) ? since! : now;
    if (gen !== desired.generation) this.journal.setMeta('held-since', `${desired.generation}:${now}`);
    const offset = this.clock?.offsetMs() ?? 0;
    const decision = holdDecision(m, now + offset, arrivedAt + offset);
    this.clearTimer();
    this.lookAgain = undefined;
    if (!decision.hold) {
      if (decision.why === 'deadline') this.log.info({ operation: desired.operation }, 'maintenance window still closed, but the deadline passed: installing');
      return false;
    }
    const until = decision.until === undefined ? undefined : decision.until - offset;
    if (this.heldReported !== desired.generation) {
      this.heldReported = desired.generation;
      this.log.info({ operation: desired.operation, reason: decision.reason }, 'change held for the maintenance window');
      const first = installs[0] ?? { name: removals[0]!, version: this.journal.installedOne(removals[0]!)!.version };
      this.reporter.status({ operation: desired.operation, state: 'sent', package: first.name, version: first.version, step: 'waiting', waiting: { reason: decision.reason, ...(until !== undefined ? { until } : {}) } });
    }
    this.lookAgain = lookAgain;
    if (until !== undefined) {
      // Timers cap at ~24.8 days; a later opening just means one more look on the way.
      this.timer = setTimeout(lookAgain, Math.min(Math.max(until - now, 0) + 50, 2 ** 31 - 1));
    }
    return true;
  }

  stop(): void {
    this.clearTimer();
    this.lookAgain = undefined;
    this.unwatchClock();
  }

  private clearTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
