// Holding changes for the workstation maintenance window: outside the window (and before the
// deadline) a desired state waits; the host is reported as waiting once per generation, and the
// state is looked at again when the window opens or the deadline passes.
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { Logger } from 'pino';
import type { DesiredState } from '../shared/protocol/messages.js';
import type { Journal } from './install/journal.js';
import { holdDecision, type MaintenanceConfig } from './maintenance.js';
import type { Reporter } from './reporter.js';

/**
 * Test-only knob (never set it in production): a file holding how many milliseconds the clock the
 * window is checked against is shifted by. It is read at every check and watched, so a test moves
 * the clock when it is ready instead of racing a real one.
 */
const WINDOW_CLOCK_FILE = process.env.FERRY_TEST_WINDOW_CLOCK_FILE;

function windowClockOffset(): number {
  if (!WINDOW_CLOCK_FILE) return 0;
  try {
    return Number(readFileSync(WINDOW_CLOCK_FILE, 'utf8').trim()) || 0;
  } catch {
    return 0;
  }
}

export class MaintenanceHold {
  /** the generation whose hold was reported, and the timer that looks again when the window opens */
  private heldReported = -1;
  private timer: NodeJS.Timeout | undefined;
  private lookAgain: (() => void) | undefined;
  private readonly onClockChange = (): void => this.lookAgain?.();

  constructor(
    private readonly maintenance: MaintenanceConfig | undefined,
    private readonly journal: Journal,
    private readonly reporter: Reporter,
    private readonly log: Logger,
  ) {
    if (WINDOW_CLOCK_FILE && maintenance) watchFile(WINDOW_CLOCK_FILE, { interval: 100, persistent: false }, this.onClockChange);
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
    const offset = windowClockOffset();
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
    if (WINDOW_CLOCK_FILE) unwatchFile(WINDOW_CLOCK_FILE, this.onClockChange);
  }

  private clearTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
