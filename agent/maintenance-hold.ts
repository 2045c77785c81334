// Holding changes for the workstation maintenance window: outside the window (and before the
// deadline) a desired state waits; the host is reported as waiting once per generation, and the
// state is looked at again when the window opens or the deadline passes.
import type { Logger } from 'pino';
import type { DesiredState } from '../shared/protocol/messages.js';
import type { Journal } from './install/journal.js';
import { holdDecision, type MaintenanceConfig } from './maintenance.js';
import type { Reporter } from './reporter.js';

/** Test-only knob: shifts the clock the maintenance window is checked against (never set it in production). */
const WINDOW_CLOCK_OFFSET_MS = Number(process.env.FERRY_TEST_WINDOW_CLOCK_OFFSET_MS ?? 0);

export class MaintenanceHold {
  /** the generation whose hold was reported, and the timer that looks again when the window opens */
  private heldReported = -1;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly maintenance: MaintenanceConfig | undefined,
    private readonly journal: Journal,
    private readonly reporter: Reporter,
    private readonly log: Logger,
  ) {}

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
    const decision = holdDecision(m, now + WINDOW_CLOCK_OFFSET_MS, arrivedAt + WINDOW_CLOCK_OFFSET_MS);
    this.stop();
    if (!decision.hold) {
      if (decision.why === 'deadline') this.log.info({ operation: desired.operation }, 'maintenance window still closed, but the deadline passed: installing');
      return false;
    }
    const until = decision.until === undefined ? undefined : decision.until - WINDOW_CLOCK_OFFSET_MS;
    if (this.heldReported !== desired.generation) {
      this.heldReported = desired.generation;
      this.log.info({ operation: desired.operation, reason: decision.reason }, 'change held for the maintenance window');
      const first = installs[0] ?? { name: removals[0]!, version: this.journal.installedOne(removals[0]!)!.version };
      this.reporter.status({ operation: desired.operation, state: 'sent', package: first.name, version: first.version, step: 'waiting', waiting: { reason: decision.reason, ...(until !== undefined ? { until } : {}) } });
    }
    if (until !== undefined) {
      // Timers cap at ~24.8 days; a later opening just means one more look on the way.
      this.timer = setTimeout(lookAgain, Math.min(Math.max(until - now, 0) + 50, 2 ** 31 - 1));
    }
    return true;
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
