// Paces an agent's progress reports (downloading, verifying, installing): each is held for a
// moment, a newer one replaces it, and the final report of the operation drops it. A small install
// passes through five states in milliseconds; reported one by one, each cost the server a status
// write, an event and two JetStream acknowledgements — at 10,000 hosts, five times the work of the
// one report that matters. A long install (a large download) still shows its progress, at most
// once per interval.
import type { ProgressReport } from './install/machine.js';

export const PROGRESS_EVERY_MS = 1000;

export class ProgressPacer {
  private held?: ProgressReport;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly send: (r: ProgressReport) => void,
    private readonly everyMs = PROGRESS_EVERY_MS,
  ) {}

  /** A progress report: sent when the interval is up, unless a newer one or the final one comes first. */
  progress(r: ProgressReport): void {
    this.held = r;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.release();
    }, this.everyMs);
  }

  /**
   * A report of `operation` goes out now (its final report, say): that operation's held progress
   * is out of date and dropped; another operation's is sent first, so reports keep their order.
   */
  settle(operation: string): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.held?.operation === operation) this.held = undefined;
    else this.release();
  }

  /** Stop: what is held is sent (queued in the journal's outbox), nothing later. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.release();
  }

  private release(): void {
    const r = this.held;
    this.held = undefined;
    if (r) this.send(r);
  }
}
