// The agent's side of "Ferry ships Ferry" (the supervisor is the other side):
//   begin         a desired state changed the installed `ferry-agent` version: hold its final
//                 report in a pending probation file and ask to be restarted into the new version;
//   confirm       the new version runs, is connected and has sent the held report: probation over;
//   finishReturn  the supervisor returned to this version: record that in the journal (the version
//                 on probation is rolled back) and report it against the rollout that installed it.
//                 It never ends on the version that failed its probation: if the previous version
//                 cannot be activated (modified and not fetched again), the packaged agent runs.
// Only under the supervisor (FERRY_SUPERVISED=1): an agent run by hand installs `ferry-agent` like
// any other package and keeps running.
import type { Logger } from 'pino';
import { agentPaths, loadIdentity } from '../config.js';
import type { Journal } from '../install/journal.js';
import { readCurrent, removeCurrent } from '../install/layout.js';
import type { InstallMachine, ProgressReport } from '../install/machine.js';
import type { Reporter } from '../reporter.js';
import { AGENT_PACKAGE, clearProbation, readProbation, writeProbation } from './probation.js';

export interface SelfUpdateOptions {
  stateDir: string;
  journal: Journal;
  /** where packages are installed (default: the install root in this agent's identity file) */
  installRoot?: string;
  log: Logger;
  /** run by `ferry-agent supervise`, which restarts the agent into a new version */
  supervised: boolean;
  /** the installed agent version this process runs ('' or undefined: the packaged agent) */
  runningVersion?: string | undefined;
  /** called once the probation file is written: stop and exit with SELF_UPDATE_EXIT_CODE */
  onRestart?: () => void;
}

export class SelfUpdate {
  private confirmed = false;
  private confirming: Promise<void> | undefined;
  private sent = false;

  constructor(private readonly o: SelfUpdateOptions) {}

  installedVersion(): string | undefined {
    return this.o.journal.installedOne(AGENT_PACKAGE)?.version;
  }

  /** After applying a desired state: true when the agent must restart (the report is held). */
  begin(before: string | undefined, report: ProgressReport): boolean {
    const after = this.installedVersion();
    if (!this.o.supervised || !after || after === before) return false;
    writeProbation(this.o.stateDir, { format: 1, state: 'pending', version: after, previous: before ?? null, operation: report.operation, report, since: new Date().toISOString() });
    this.o.log.info({ from: before ?? 'packaged', to: after }, 'new agent version active; restarting into it');
    this.o.onRestart?.();
    return true;
  }

  /**
   * At start, before connecting: the supervisor came back to this version after a failed one.
   * `machine` is called only when the journal must be rolled back (the daemon loads the install
   * machine on first use).
   */
  async finishReturn(machine: () => Promise<InstallMachine>): Promise<void> {
    const p = readProbation(this.o.stateDir);
    if (p?.state !== 'rolled-back') return;
    let failure: string | undefined;
    if (this.installedVersion() === p.version) {
      // The journal still names the failed version: roll it back there too. This reports the
      // operation as rolled back, so the rollout that shipped the version counts a failure.
      // Through the machine's persisted revert steps, so a crash here resumes it.
      const r = await (await machine()).revertPackage(p.operation, AGENT_PACKAGE, { reason: p.reason ?? `ferry-agent ${p.version} did not report back healthy`, unlinkIfNoneKept: true });
      if (r.outcome === 'failed') failure = r.report.error;
    }
    // A revert that failed (the previous version was modified and could not be fetched again)
    // ends on the version it was leaving: the one that failed its probation. Never keep that one:
    // unlink the agent package, so the supervisor starts the packaged agent from now on.
    const root = this.o.installRoot ?? loadIdentity(agentPaths(this.o.stateDir)).installRoot;
    if (readCurrent(root, AGENT_PACKAGE) === p.version || this.installedVersion() === p.version) {
      removeCurrent(root, AGENT_PACKAGE);
      this.o.journal.removeInstalled(AGENT_PACKAGE);
      this.o.log.error({ version: p.version, previous: p.previous ?? 'packaged', error: failure }, `could not return to ${p.previous ? `ferry-agent ${p.previous}` : 'the packaged agent'}; ferry-agent ${p.version} failed its probation and is not kept active: the packaged agent runs from the next start`);
    }
    this.o.log.error({ version: p.version, restored: this.installedVersion() ?? 'packaged', reason: p.reason }, 'agent self-update failed; running the previous version');
    clearProbation(this.o.stateDir);
  }

  /** Once connected: a pending probation for this very version ends when the held report is sent. */
  confirm(reporter: Reporter): Promise<void> {
    if (this.confirmed) return Promise.resolve();
    this.confirming ??= this.tryConfirm(reporter).finally(() => {
      this.confirming = undefined;
    });
    return this.confirming;
  }

  private async tryConfirm(reporter: Reporter): Promise<void> {
    const p = readProbation(this.o.stateDir);
    if (p?.state !== 'pending' || p.version !== this.o.runningVersion) {
      this.confirmed = true;
      return;
    }
    if (!this.sent) reporter.status(p.report); // queued in the outbox once; later attempts only flush
    this.sent = true;
    await reporter.flush();
    if (this.o.journal.pendingReports(1).length > 0) return; // not acknowledged yet: next heartbeat
    clearProbation(this.o.stateDir);
    this.confirmed = true;
    this.o.log.info({ version: p.version }, 'agent self-update confirmed healthy');
  }
}
