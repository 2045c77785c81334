// Applying a signed desired state to this host ("apply a release"): the trust check, the
// maintenance hold, the packages installed in order, the release undone as a whole when one of
// them fails, the removals, and the hand-over to a new agent version. Each operation returns its
// outcome and its final report; the daemon (agent/runtime.ts) only wires it to NATS and sends the
// report it is given.
import { joinOutputs } from '../install/hook-output.js';
import type { Logger } from 'pino';
import { openTrusted, assertTrustCurrent } from '../../shared/crypto/trust.js';
import { FerryError, toFerryError } from '../../shared/errors.js';
import { dmlRecordSchema, type DesiredState, type PackageChange } from '../../shared/protocol/messages.js';
import type { Journal } from '../install/journal.js';
import type { InstallMachine, OperationResult, ProgressReport } from '../install/machine.js';
import { rollBackPackages } from '../install/release-undo.js';
import type { MaintenanceHold } from '../maintenance-hold.js';
import type { SelfUpdate } from '../service/self-update.js';
import type { AgentTrust } from '../trust.js';

/**
 * applied     every package is in place and every removal done (report: succeeded)
 * failed      something failed; the host is back on what it had (report: failed / rolled-back)
 * refused     nothing was tried (trust expired); report says why
 * held        the maintenance window is closed; nothing was done, the hold reported it
 * restarting  a new agent version is active; its report is held until that version confirms
 */
export type ApplyOutcome = 'applied' | 'failed' | 'refused' | 'held' | 'restarting';

export interface ApplyResult {
  outcome: ApplyOutcome;
  /** the one final report for this desired state; undefined when held or restarting (sent later) */
  report?: ProgressReport;
}

export interface ApplyDeps {
  journal: Journal;
  machine: InstallMachine;
  trust: AgentTrust;
  hold: MaintenanceHold;
  selfUpdate: SelfUpdate;
  log: Logger;
}

/** What installing a desired state's packages did. */
interface InstallsResult {
  /** each package's hook output, for the success report */
  outputs: { label: string; output: string }[];
  /** packages this state installed, in install order (undone together on failure) */
  changed: string[];
  /** the final report of each package this state changed (installed or switched back), in order */
  done: ProgressReport[];
  failure?: ProgressReport;
}

/** What removing a desired state's packages did. */
interface RemovalsResult {
  /** the final report of each package removed, in order */
  done: ProgressReport[];
  outputs: { label: string; output: string }[];
  failure?: ProgressReport;
}

export class ReleaseApplier {
  constructor(private readonly d: ApplyDeps) {}

  /**
   * Apply a desired state the caller has verified and found newer than the applied generation.
   * `lookAgain` is called when a held state may go ahead (the window opened).
   */
  async apply(desired: DesiredState, lookAgain: () => void): Promise<ApplyResult> {
    const refused = this.checkTrust(desired);
    if (refused) return { outcome: 'refused', report: refused };
    if (this.d.hold.holds(desired, lookAgain)) return { outcome: 'held' };
    const agentBefore = this.d.selfUpdate.installedVersion();
    let failure: ProgressReport | undefined;
    const done: ProgressReport[] = [];
    const outputs: { label: string; output: string }[] = [];
    try {
      const installs = await this.installPackages(desired);
      done.push(...installs.done);
      outputs.push(...installs.outputs);
      failure = installs.failure;
      if (failure && installs.changed.length > 0) failure = await this.undoRelease(desired.operation, installs.changed, failure);
      if (!failure) {
        const removals = await this.removePackages(desired);
        done.push(...removals.done);
        outputs.push(...removals.outputs);
        failure = removals.failure;
      }
    } catch (err) {
      failure = this.stateFailure(desired, toFerryError(err).toLine());
    }
    this.d.journal.setMeta('generation', String(desired.generation));
    const report = failure ?? successReport(desired, done, joinOutputs(outputs));
    // A new agent version: the report waits until that version runs and confirms it.
    if (this.d.selfUpdate.begin(agentBefore, report)) return { outcome: 'restarting' };
    return { outcome: failure ? 'failed' : 'applied', report };
  }

  /**
   * The same desired state again: its success report if it is in place, else nothing. It names the
   * state's last package, with the version this state replaced if the state installed it (the
   * journal remembers that much; the first report, with every change, is in the report stream).
   */
  confirmApplied(desired: DesiredState): ProgressReport | undefined {
    const installed = this.d.journal.installedMap();
    const inPlace = desired.packages.every((p) => installed[p.name] === p.version) && desired.remove.every((n) => !installed[n]);
    if (!inPlace) return undefined;
    const last = desired.packages[desired.packages.length - 1];
    const entry = last ? this.d.journal.installedOne(last.name) : undefined;
    const previousVersion = entry?.operation === desired.operation ? entry.previousVersion : null;
    const report = successReport(desired, []);
    return previousVersion ? { ...report, previousVersion } : report;
  }

  /** Install only under a current trust document; else the report that says why not. */
  private checkTrust(desired: DesiredState): ProgressReport | undefined {
    try {
      assertTrustCurrent(this.d.trust.doc);
      return undefined;
    } catch (err) {
      const e = toFerryError(err);
      this.d.log.error({ reason: e.toLine() }, 'not installing');
      return this.stateFailure(desired, e.toLine(), 'none');
    }
  }

  /** The state failed before any package's install ran (refused, a bad record): named after its first package. */
  private stateFailure(desired: DesiredState, error: string, noPackage = 'unknown'): ProgressReport {
    const first = desired.packages[0];
    const previousVersion = first ? this.d.journal.installedOne(first.name)?.version : undefined;
    return { operation: desired.operation, state: 'failed', package: first?.name ?? noPackage, version: first?.version ?? '0.0.0', ...(previousVersion ? { previousVersion } : {}), step: 'verify', error };
  }

  /** Install the packages in order; stop at the first that fails. */
  private async installPackages(desired: DesiredState): Promise<InstallsResult> {
    const out: InstallsResult = { changed: [], done: [], outputs: [] };
    for (const p of desired.packages) {
      const record = openTrusted(this.d.trust.doc, 'packages', p.record, dmlRecordSchema, 'package record');
      if (record.name !== p.name || record.version !== p.version) throw new FerryError('FERRY_SIGNATURE_INVALID', `record for ${record.name}@${record.version} attached to ${p.name}@${p.version}`);
      const installed = this.d.journal.installedOne(p.name);
      if (installed?.version === p.version) continue;
      // A signed rollback to the version kept from before switches back to it and runs the
      // leaving version's rollback hook, like a local rollback; otherwise it is an install.
      const backToPrevious = p.rollback && installed?.previousVersion === p.version && this.d.machine.keeps(p.name, p.version);
      const result: OperationResult = backToPrevious
        ? await this.d.machine.revertPackage(desired.operation, p.name)
        : await this.d.machine.installPackage({ operation: desired.operation, record, allowDowngrade: p.rollback, watchMs: p.watchMs, ...(p.maxBytesPerSecond ? { maxBytesPerSecond: p.maxBytesPerSecond } : {}) });
      if (result.report.output) out.outputs.push({ label: `${p.name}@${p.version}`, output: result.report.output });
      if (result.outcome !== (backToPrevious ? 'rolled-back' : 'done')) {
        out.failure = result.report;
        return out;
      }
      out.done.push(result.report);
      if (!p.rollback) out.changed.push(p.name);
    }
    return out;
  }

  /**
   * One package of a release failed: the packages installed before it in the same desired state go
   * back to what they were (newest first), so the host is left on the old release as a whole.
   */
  private async undoRelease(operation: string, changed: string[], failure: ProgressReport): Promise<ProgressReport> {
    const undone = await rollBackPackages(this.d.machine, this.d.log, operation, [...changed].reverse(), `rolled back with the release: ${failure.package} failed`);
    this.d.log.warn({ failed: failure.package, undone }, 'release failed on this host; rolled back its other packages');
    const note = undone.length ? `; rolled back the rest of the release: ${undone.join(', ')}` : '';
    return { ...failure, error: `${failure.error ?? `${failure.package} failed`}${note}` };
  }

  /** Uninstall what the state removes; stop at the first that fails. */
  private async removePackages(desired: DesiredState): Promise<RemovalsResult> {
    const out: RemovalsResult = { done: [], outputs: [] };
    for (const name of desired.remove) {
      const wasInstalled = this.d.journal.installedOne(name) !== undefined;
      const result = await this.d.machine.removePackage(desired.operation, name);
      if (result.report.output) out.outputs.push({ label: `${name}@${result.report.version}`, output: result.report.output });
      if (result.outcome !== 'done') {
        out.failure = result.report;
        return out;
      }
      if (wasInstalled) out.done.push(result.report);
    }
    return out;
  }
}

/**
 * The success of a whole desired state: it names the last package it changed, with the version
 * that package replaced, and lists the others it changed (`changed`), so the server records every
 * change; it carries the hooks' output of them all (`ferry logs`). A state that changed nothing
 * names its last package.
 */
function successReport(desired: DesiredState, done: ProgressReport[], output?: string): ProgressReport {
  const last = done[done.length - 1];
  const extra = output ? { output } : {};
  if (!last) {
    const named = desired.packages[desired.packages.length - 1];
    return { operation: desired.operation, state: 'succeeded', package: named?.name ?? desired.remove[0] ?? 'none', version: named?.version ?? '0.0.0', step: 'done', ...extra };
  }
  const changed = done.slice(0, -1).map(packageChange);
  return {
    operation: desired.operation,
    state: 'succeeded',
    package: last.package,
    version: last.version,
    ...(last.previousVersion ? { previousVersion: last.previousVersion } : {}),
    step: last.step === 'remove' ? 'remove' : 'done',
    ...extra,
    ...(changed.length ? { changed } : {}),
  };
}

function packageChange(r: ProgressReport): PackageChange {
  return { package: r.package, version: r.version, ...(r.previousVersion ? { previousVersion: r.previousVersion } : {}), step: r.step };
}
