// The install state machine. Every kind of operation — install, removal, revert (a rollback to a
// kept version) — walks the one TRANSITIONS table one step at a time in `run`; the step is saved in
// the journal *before* it runs, so after a crash RECOVERY says where to resume. The previous
// version stays active until `activate`, and is switched back to on any later failure; a revert
// verifies the kept version it goes back to before it activates it.
import { mkdirSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';
import { FerryError, toFerryError } from '../../shared/errors.js';
import type { DmlRecord, HostState } from '../../shared/protocol/messages.js';
import type { Manifest } from '../../shared/package/manifest.js';
import { checkDrift, describeDrift } from './drift.js';
import { stageDelta, type PreparedDelta } from './delta.js';
import { deltaFilesDir, prepareDelta } from './delta-prepare.js';
import { checkFreeSpace } from './free-space.js';
import { extractVersion, readVerifiedManifest, type VersionTarget } from './full-package.js';
import { runHealthcheck, runHook, type HookResult } from './hooks.js';
import { appendHookOutput } from './hook-output.js';
import { redactText } from '../../shared/redact.js';
import { RatePacer } from '../../shared/nats/pacer.js';
import type { InstallJob, MachineDeps, OperationResult, Outcome, ProgressReport, RevertOptions } from './types.js';
import { interruptedOperations } from './recovery-needed.js';
import { cleanStaging, readCurrent, removeCurrent, switchCurrent, versionDir, versionExists } from './layout.js';
import { FIRST_STEP, GIVE_UP, MAX_SAVES, RECOVERY, REVERT_STEPS, TRANSITIONS, hostStateFor, isWorkStep, type InstallStep, type OperationKind } from './states.js';

// The machine's public types (types.ts), named from here by its importers.
export type { FetchOptions, InstallJob, MachineDeps, OperationResult, Outcome, ProgressReport, RevertOptions, StepInfo } from './types.js';

interface RunContext {
  opId: number;
  kind: OperationKind;
  operation: string;
  name: string;
  version: string;
  fromVersion: string | null;
  record: DmlRecord | null;
  watchMs: number;
  /**
   * the rollout's --max-rate, as one pacer for every read of this install (file index, delta
   * contents, whole package, retries), so their bytes together keep to the rate. Not kept in the
   * journal: a download resumed after a crash is unpaced.
   */
  pacer?: RatePacer | undefined;
  manifest: Manifest | null;
  download: string;
  /** true when this operation created the version directory (so a failure removes it) */
  createdDir: boolean;
  error?: string;
  output?: string;
  skipped?: boolean;
  /** a revert: the version it leaves, whose rollback hook runs */
  leaving?: Manifest | null;
  /** a kept version that was checked against its manifest and may be reused without a download */
  reuse?: boolean;
  /** what the check of a kept version found (a revert then fetches it again) */
  drift?: string;
  /** a delta install: the signed file index's manifest and the fetched contents (not journaled: a crash before activation fails the install) */
  delta?: PreparedDelta;
}

export class InstallMachine {
  constructor(private readonly d: MachineDeps) {
    // Its directories are its own (the daemon loads the machine on first use, and makes neither before).
    mkdirSync(d.downloadDir, { recursive: true });
    mkdirSync(d.installRoot, { recursive: true });
  }

  /** Install (or re-install) one package version. Already installed: nothing to do. */
  async install(job: InstallJob): Promise<Outcome> {
    return (await this.installPackage(job)).outcome;
  }

  /** Uninstall a package (see removePackage). */
  async remove(operation: string, name: string): Promise<Outcome> {
    return (await this.removePackage(operation, name)).outcome;
  }

  /** Switch a package back to its previous kept version (see revertPackage). */
  async rollbackToPrevious(operation: string, name: string, reason?: string): Promise<Outcome> {
    return (await this.revertPackage(operation, name, reason ? { reason, unlinkIfNoneKept: true } : {})).outcome;
  }

  /** Install (or re-install) one package version, returning how it ended and its final report. */
  async installPackage(job: InstallJob): Promise<OperationResult> {
    const { name, version } = job.record;
    const current = this.d.journal.installedOne(name);
    if (current?.version === version && readCurrent(this.d.installRoot, name) === version) {
      return this.settled('done', { operation: job.operation, state: 'succeeded', package: name, version, step: 'done' });
    }
    const opId = this.d.journal.beginOperation({ operation: job.operation, package: name, version, fromVersion: current?.version ?? null, kind: 'install', step: 'download', record: JSON.stringify(job.record) });
    const ctx: RunContext = { opId, kind: 'install', operation: job.operation, name, version, fromVersion: current?.version ?? null, record: job.record, watchMs: job.watchMs ?? 0, pacer: job.maxBytesPerSecond ? new RatePacer(job.maxBytesPerSecond) : undefined, manifest: null, download: this.downloadPath(name, version, opId), createdDir: false };
    if (current && !job.allowDowngrade && semver.lt(version, current.version)) {
      ctx.error = `FERRY_COMMAND_REJECTED: refusing to downgrade ${name} from ${current.version} to ${version} without an explicit rollback`;
      return this.run(ctx, 'failed');
    }
    return this.run(ctx, FIRST_STEP.install);
  }

  /**
   * Uninstall a package through the same persisted state machine as an install: preremove,
   * deactivate (unlink `current`, keep the version directories), postremove, erase. Until erase
   * the removed version stays on disk, so a failed postremove (or a crash) links it back.
   */
  async removePackage(operation: string, name: string): Promise<OperationResult> {
    const current = this.d.journal.installedOne(name);
    if (!current) return this.settled('done', { operation, state: 'succeeded', package: name, version: '0.0.0', step: 'remove' });
    const opId = this.d.journal.beginOperation({ operation, package: name, version: current.version, fromVersion: current.version, kind: 'remove', step: 'preremove' });
    this.d.journal.saveManifest(opId, current.manifest); // recovery needs the hooks even once the journal forgot the package
    // Never pull a package out from under another that depends on it: nothing changes, the removal fails.
    const dependents = this.d.journal.installed().filter((q) => q.name !== name && q.manifest.depends?.[name] !== undefined);
    const refusal = dependents.length ? `FERRY_INSTALL_FAILED: ${name} is needed by ${dependents.map((q) => `${q.name}@${q.version} (depends on ${name} ${q.manifest.depends![name]})`).join(', ')}; remove those first` : undefined;
    const ctx: RunContext = {
      opId,
      kind: 'remove',
      operation,
      name,
      version: current.version,
      fromVersion: current.version,
      record: null,
      watchMs: 0,
      manifest: current.manifest,
      download: this.downloadPath(name, current.version, opId),
      createdDir: false,
      ...(refusal ? { error: refusal } : {}),
    };
    return this.run(ctx, refusal ? 'failed' : FIRST_STEP.remove);
  }

  /**
   * Switch a package back to the previous version kept on disk, through the persisted loop: an
   * operator's local rollback, a health check that failed during the soak, a release undone
   * package by package, a signed rollback to the previous version, or the journal's side of a
   * self-update that did not confirm. The kept version is checked against its manifest before
   * it is activated (and fetched again from the DML by its signed record if it differs). With no
   * previous version kept, `unlinkIfNoneKept` unlinks the package; otherwise that is refused.
   *
   * Journal: version = the version it goes back to, fromVersion = the one it leaves; both equal
   * means "no version kept: unlink".
   */
  async revertPackage(operation: string, name: string, opts: RevertOptions = {}): Promise<OperationResult> {
    const root = this.d.installRoot;
    const current = this.d.journal.installedOne(name);
    if (!current) throw new FerryError('FERRY_NOT_FOUND', `${name} is not installed on this host`);
    const target = current.previousVersion;
    const kept = target ? this.d.journal.versions(name).find((v) => v.version === target) : undefined;
    const canRestore = target !== null && target !== current.version && kept !== undefined;
    if (!canRestore && !opts.unlinkIfNoneKept) {
      throw new FerryError('FERRY_NOT_FOUND', `${name} has no previous version kept on this host to roll back to`, { hint: 'roll out the version you want instead' });
    }
    const version = canRestore ? target : current.version;
    const record = canRestore ? this.d.journal.recordFor(name, target) : undefined;
    const opId = this.d.journal.beginOperation({ operation, package: name, version, fromVersion: current.version, kind: 'rollback', step: FIRST_STEP.rollback, ...(record ? { record } : {}) });
    this.d.journal.saveManifest(opId, current.manifest); // the leaving version's hooks, for recovery
    const ctx: RunContext = {
      opId,
      kind: 'rollback',
      operation,
      name,
      version,
      fromVersion: current.version,
      record: record ? (JSON.parse(record) as DmlRecord) : null,
      watchMs: 0,
      manifest: kept?.manifest ?? null,
      leaving: current.manifest,
      download: this.downloadPath(name, version, opId),
      createdDir: false,
      ...(opts.reason ? { error: opts.reason } : {}),
    };
    if (!versionExists(root, name, current.version)) this.d.log.warn({ package: name, version: current.version }, 'the version being left is not on disk');
    return this.run(ctx, FIRST_STEP.rollback);
  }

  /** Every `depends` entry must be met by what is installed now (a release installs them first). */
  private checkDependencies(manifest: Manifest): void {
    for (const [dep, range] of Object.entries(manifest.depends ?? {})) {
      const have = this.d.journal.installedOne(dep)?.version;
      if (!have || !semver.satisfies(have, range)) {
        throw new FerryError('FERRY_INSTALL_FAILED', `${manifest.name}@${manifest.version} needs ${dep} ${range}, this host has ${have ? `${dep}@${have}` : `no ${dep}`}`);
      }
    }
  }

  /** Is this version of a package kept on disk (so it can be switched back to)? */
  keeps(name: string, version: string): boolean {
    return this.d.journal.versions(name).some((v) => v.version === version) && versionExists(this.d.installRoot, name, version);
  }

  /** Resume or undo whatever a crash interrupted, following the recovery table. */
  async recover(): Promise<OperationResult[]> {
    const results: OperationResult[] = [];
    for (const op of interruptedOperations(this.d.journal)) {
      // A rollback saved by an older agent (kind 'rollback' at step 'rollback') is a revert too.
      const next = op.kind === 'rollback' && !REVERT_STEPS.includes(op.step) ? FIRST_STEP.rollback : RECOVERY[op.step];
      this.d.log.warn({ operation: op.operation, kind: op.kind, package: op.package, step: op.step, resume: next }, 'recovering an interrupted operation');
      const versions = this.d.journal.versions(op.package);
      const resumed = `interrupted during ${op.step} (agent restarted)`;
      const ctx: RunContext = {
        opId: op.id,
        kind: op.kind,
        operation: op.operation,
        name: op.package,
        version: op.version,
        fromVersion: op.fromVersion,
        record: op.record ? (JSON.parse(op.record) as DmlRecord) : null,
        watchMs: 0,
        manifest: null,
        download: this.downloadPath(op.package, op.version, op.id),
        // Only an install creates the directory it works on.
        createdDir: op.kind === 'install' && !versions.some((v) => v.version === op.version),
        // A revert keeps its reason (it is resumed, not turned into a failure).
        error: op.kind === 'rollback' ? (op.error ? `${op.error} (resumed after the agent restarted)` : undefined) : resumed,
      };
      if (op.kind === 'rollback') {
        ctx.manifest = versions.find((v) => v.version === op.version)?.manifest ?? null;
        ctx.leaving = op.manifest ?? versions.find((v) => v.version === op.fromVersion)?.manifest ?? null;
      } else {
        ctx.manifest = op.manifest ?? versions.find((v) => v.version === op.version)?.manifest ?? null;
      }
      if (ctx.error === undefined) delete ctx.error;
      results.push(await this.run(ctx, next));
    }
    return results;
  }

  /** The one step loop: save the step, then run it, then follow the transition table. */
  private async run(ctx: RunContext, first: InstallStep): Promise<OperationResult> {
    let step = first;
    let lastState: HostState | undefined;
    for (;;) {
      // A final step is saved only after its report is queued (below): saved first, a crash in
      // between left the operation finished with its report lost for good.
      const saves = isWorkStep(step) ? this.d.journal.saveStep(ctx.opId, step, ctx.error) : 0;
      if (saves > MAX_SAVES && isWorkStep(step) && GIVE_UP[step] !== step) {
        const out = GIVE_UP[step];
        if (out === 'failed' || out === 'rollback' || out === 'restore') ctx.error = `gave up after ${saves} saved steps in ${step} (a loop?)`;
        this.d.log.error({ operation: ctx.operation, package: ctx.name, step, saves, next: out }, 'an operation loops; giving up');
        step = out;
        continue;
      }
      const state = ctx.skipped && step === 'failed' ? 'skipped' : hostStateFor(step);
      if (!isWorkStep(step)) {
        // Every install, removal and rollback ends with one line at info (warn when it failed).
        const outcome = { operation: ctx.operation, kind: ctx.kind, package: ctx.name, version: ctx.version, from: ctx.fromVersion, result: state, ...(ctx.error && step !== 'done' ? { error: ctx.error } : {}) };
        if (state === 'failed') this.d.log.warn(outcome, `${ctx.kind} of ${ctx.name}@${ctx.version} failed`);
        else this.d.log.info(outcome, `${ctx.kind} of ${ctx.name}@${ctx.version}: ${state}`);
        const report: ProgressReport = {
          operation: ctx.operation,
          state,
          package: ctx.name,
          version: ctx.version,
          ...(ctx.fromVersion ? { previousVersion: ctx.fromVersion } : {}),
          step: ctx.kind === 'remove' ? 'remove' : ctx.kind === 'rollback' ? 'rollback' : step,
          // A recovered install that still committed is a success, not an error.
          ...(ctx.error && step !== 'done' ? { error: ctx.error } : {}),
          ...(ctx.output ? { output: ctx.output } : {}),
        };
        // Queued, then the end saved: a crash between the two re-runs the last step after a restart
        // and reports again (the server takes a repeat), never ends the operation unreported.
        this.d.report(report);
        this.d.journal.saveStep(ctx.opId, step, ctx.error);
        this.finish(ctx, step);
        return { outcome: step === 'done' ? 'done' : step === 'rolled-back' ? 'rolled-back' : 'failed', report };
      }
      // A revert sends only its final report (it is quick, and a host's progress belongs to installs).
      if (state !== lastState && ctx.kind !== 'rollback') {
        this.d.report({ operation: ctx.operation, state, package: ctx.name, version: ctx.version, step });
        lastState = state;
      }
      let ok: boolean;
      try {
        if (this.d.beforeStep) await this.d.beforeStep(step, { kind: ctx.kind, operation: ctx.operation, package: ctx.name, version: ctx.version });
        ok = await this.execute(step, ctx);
      } catch (err) {
        const e = toFerryError(err);
        ctx.error = `${e.code}: ${e.message}`;
        ok = false;
      }
      step = TRANSITIONS[step][ok ? 'ok' : 'fail'];
    }
  }

  private async execute(step: InstallStep, ctx: RunContext): Promise<boolean> {
    const root = this.d.installRoot;
    const dir = versionDir(root, ctx.name, ctx.version);
    const hookCtx = () => ({ manifest: ctx.manifest!, dir, previousVersion: ctx.fromVersion, installRoot: root });
    switch (step) {
      case 'download':
        // A kept version is reused only if its files still match its manifest.
        if (!ctx.createdDir && (await this.reusable(ctx))) return true;
        if (await this.prepareDelta(ctx)) return true;
        checkFreeSpace(this.d.downloadDir, ctx.record!.size, 'download');
        await this.d.fetch(ctx.record!, ctx.download, { pacer: ctx.pacer });
        return true;
      case 'verify': {
        if (ctx.reuse) return true;
        // The bytes already match the signed record's SHA-256 (checked while downloading). Here the
        // manifest is read and checked against the record and this host; every file's hash and
        // every archive rule are enforced by the one verifying pass of `stage`, before any hook.
        // A delta's manifest comes from the signed file index (bound to the same signed record).
        const manifest = ctx.delta ? ctx.delta.manifest : await readVerifiedManifest(ctx.download, ctx.name, ctx.version);
        ctx.manifest = manifest;
        this.d.journal.saveManifest(ctx.opId, manifest);
        const why = this.incompatibility(manifest);
        if (why) {
          ctx.skipped = true;
          ctx.error = why;
          return false;
        }
        this.checkDependencies(manifest);
        return true;
      }
      case 'stage':
        if (ctx.reuse) return true;
        if (ctx.delta && (await this.stageDelta(ctx, ctx.delta))) {
          ctx.createdDir = true;
          return true;
        }
        await extractVersion(ctx.download, ctx.manifest!, this.target(ctx));
        ctx.createdDir = true;
        return true;
      case 'preinstall':
        return this.hook(await runHook('preinstall', hookCtx()), ctx, 'preinstall');
      case 'activate':
        switchCurrent(root, ctx.name, ctx.version);
        return true;
      case 'postinstall':
        return this.hook(await runHook('postinstall', hookCtx()), ctx, 'postinstall');
      case 'healthcheck':
        return this.hook(await runHealthcheck(hookCtx()), ctx, 'healthcheck');
      case 'commit':
        if (!ctx.manifest) throw new FerryError('FERRY_INSTALL_FAILED', 'the verified manifest is missing; not committing');
        this.d.journal.addVersion(ctx.name, ctx.version, ctx.manifest!);
        this.d.journal.setInstalled(ctx.name, ctx.version, ctx.fromVersion, ctx.manifest!, { operation: ctx.operation, watchUntil: ctx.watchMs ? Date.now() + ctx.watchMs : 0 });
        ctx.createdDir = false;
        this.prune(ctx.name);
        return true;
      case 'rollback': {
        if (ctx.fromVersion && versionExists(root, ctx.name, ctx.fromVersion)) switchCurrent(root, ctx.name, ctx.fromVersion);
        else removeCurrent(root, ctx.name);
        if (ctx.manifest && versionExists(root, ctx.name, ctx.version)) {
          const result = await runHook('rollback', hookCtx());
          if (result.ran) this.keepOutput(ctx, 'rollback', result);
          if (!result.ok) this.d.log.warn({ package: ctx.name, output: redactText(result.output) }, 'rollback hook failed (ignored: the previous version is active)');
        }
        return true;
      }
      case 'preremove':
        return this.hook(await runHook('preremove', hookCtx()), ctx, 'preremove');
      case 'deactivate':
        removeCurrent(root, ctx.name);
        return true;
      case 'postremove':
        return this.hook(await runHook('postremove', hookCtx()), ctx, 'postremove');
      case 'erase':
        this.erase(ctx.name);
        return true;
      case 'restore':
        // Only the link goes back: no hook runs, the kept version is simply active again.
        if (versionExists(root, ctx.name, ctx.version)) switchCurrent(root, ctx.name, ctx.version);
        return true;
      case 'revert-verify':
        return this.verifyKept(ctx);
      case 'revert-fetch':
        await this.fetchKeptAgain(ctx);
        return true;
      case 'revert-switch':
        if (unlinks(ctx)) removeCurrent(root, ctx.name);
        else switchCurrent(root, ctx.name, ctx.version);
        return true;
      case 'revert-hook': {
        // The leaving version's rollback hook; FERRY_PREVIOUS_VERSION is the version returned to.
        const from = ctx.fromVersion!;
        if (!ctx.leaving || !versionExists(root, ctx.name, from)) return true;
        const result = await runHook('rollback', { manifest: ctx.leaving, dir: versionDir(root, ctx.name, from), previousVersion: unlinks(ctx) ? null : ctx.version, installRoot: root });
        if (result.ran) this.keepOutput(ctx, 'rollback', result);
        if (!result.ok) this.d.log.warn({ package: ctx.name, output: redactText(result.output) }, 'rollback hook failed (ignored: the previous version is active)');
        return result.ok;
      }
      case 'revert-commit':
        if (unlinks(ctx)) this.d.journal.removeInstalled(ctx.name);
        else this.d.journal.setInstalled(ctx.name, ctx.version, null, ctx.manifest!);
        return true;
      default:
        throw new FerryError('FERRY_INTERNAL', `no handler for step ${step}`);
    }
  }

  /** revert-verify: the version to go back to is on disk and every file matches its manifest. */
  private async verifyKept(ctx: RunContext): Promise<boolean> {
    if (unlinks(ctx)) return true;
    if (!ctx.manifest) {
      ctx.drift = `${ctx.name}@${ctx.version} has no manifest in the journal`;
      return false;
    }
    if (!versionExists(this.d.installRoot, ctx.name, ctx.version)) {
      ctx.drift = `${ctx.name}@${ctx.version} is no longer on disk`;
      return false;
    }
    const drift = await checkDrift(this.d.installRoot, { name: ctx.name, version: ctx.version, manifest: ctx.manifest });
    if (drift.modified.length || drift.missing.length) {
      ctx.drift = `${ctx.name}@${ctx.version} kept on this host does not match its manifest (${describeDrift(drift)})`;
      this.d.log.warn({ package: ctx.name, version: ctx.version, modified: drift.modified, missing: drift.missing }, 'a kept version was modified; fetching it again before activating it');
      return false;
    }
    return true;
  }

  /** revert-fetch: the kept version differs from its manifest; download it again by its signed record. */
  private async fetchKeptAgain(ctx: RunContext): Promise<void> {
    const why = ctx.drift ?? `${ctx.name}@${ctx.version} did not verify`;
    const refuse = (detail: string, cause?: unknown) =>
      new FerryError('FERRY_KEPT_VERSION_MODIFIED', `${why}; ${detail}; not activating it${ctx.error ? ` (the rollback was for: ${ctx.error})` : ''}`, {
        hint: 'run `ferry-agent verify`, or roll out the version you want (it is downloaded and verified again)',
        ...(cause ? { cause } : {}),
      });
    if (!ctx.record || !ctx.manifest) throw refuse('no signed record of it to fetch it again');
    try {
      checkFreeSpace(this.d.downloadDir, ctx.record.size, 'download');
      await this.d.fetch(ctx.record, ctx.download);
      const manifest = await readVerifiedManifest(ctx.download, ctx.name, ctx.version);
      await extractVersion(ctx.download, manifest, this.target(ctx));
    } catch (err) {
      throw refuse(`fetching it again from the DML failed: ${toFerryError(err).toLine()}`, err);
    }
    this.d.log.info({ package: ctx.name, version: ctx.version }, 'kept version fetched again and verified');
  }

  /** Commit a removal: the journal forgets the package first, then its directories go. */
  private erase(name: string): void {
    for (const v of this.d.journal.versions(name)) this.d.journal.dropVersion(name, v.version);
    this.d.journal.removeInstalled(name);
    try {
      rmSync(join(this.d.installRoot, name), { recursive: true, force: true });
    } catch (err) {
      // The package is removed (no `current`, not in the journal); leftover files are only logged.
      this.d.log.warn({ package: name, err: String(err) }, 'could not delete every file of a removed package');
    }
  }

  /** Cleanup once an operation reached a final step. */
  private finish(ctx: RunContext, final: InstallStep): void {
    const root = this.d.installRoot;
    rmSync(ctx.download, { force: true });
    rmSync(deltaFilesDir(ctx.download), { recursive: true, force: true });
    cleanStaging(root, ctx.name);
    // A revert that failed ends on the version it was leaving (the journal still names it).
    if (ctx.kind === 'rollback' && final === 'failed' && ctx.fromVersion && readCurrent(root, ctx.name) !== ctx.fromVersion && versionExists(root, ctx.name, ctx.fromVersion)) {
      switchCurrent(root, ctx.name, ctx.fromVersion);
    }
    const current = readCurrent(root, ctx.name);
    if (ctx.createdDir && current !== ctx.version) rmSync(versionDir(root, ctx.name, ctx.version), { recursive: true, force: true });
    // A first install that failed leaves no trace of the package at all.
    removeIfEmpty(join(root, ctx.name));
  }

  /** Every hook's output is kept on the operation (journal) and sent with its final report. */
  private keepOutput(ctx: RunContext, name: string, result: HookResult): void {
    ctx.output = appendHookOutput(ctx.output, name, result);
    this.d.journal.saveOutput(ctx.opId, ctx.output);
  }

  private settled(outcome: Outcome, report: ProgressReport): OperationResult {
    this.d.report(report);
    return { outcome, report };
  }

  private hook(result: HookResult, ctx: RunContext, name: string): boolean {
    if (result.ran) this.keepOutput(ctx, name, result);
    if (!result.ok) ctx.error = `${name} hook failed${result.timedOut ? ' (timed out)' : result.code !== null ? ` (exit ${result.code})` : ''}${lastLine(redactText(result.output)) ? `: ${lastLine(redactText(result.output))}` : ''}`;
    return result.ok;
  }

  /**
   * A version kept from an earlier install is reused without downloading it again — if its files
   * still match its manifest; a modified copy is downloaded, verified and extracted again.
   */
  private async reusable(ctx: RunContext): Promise<boolean> {
    const kept = this.d.journal.versions(ctx.name).find((v) => v.version === ctx.version);
    if (!kept || !versionExists(this.d.installRoot, ctx.name, ctx.version)) return false;
    const drift = await checkDrift(this.d.installRoot, { name: ctx.name, version: ctx.version, manifest: kept.manifest });
    if (drift.modified.length || drift.missing.length) {
      this.d.log.warn({ package: ctx.name, version: ctx.version, modified: drift.modified, missing: drift.missing }, 'a kept version was modified; downloading it again');
      return false;
    }
    ctx.manifest = kept.manifest;
    ctx.reuse = true;
    return true;
  }

  /** download, delta path (delta-prepare.ts): an install, with a version kept on disk and a DML with file indexes. */
  private async prepareDelta(ctx: RunContext): Promise<boolean> {
    if (!this.d.delta || !ctx.record || ctx.kind !== 'install') return false;
    const kept = this.d.journal.versions(ctx.name).filter((v) => v.version !== ctx.version && versionExists(this.d.installRoot, ctx.name, v.version));
    const target = { name: ctx.name, version: ctx.version, record: ctx.record, download: ctx.download, pacer: ctx.pacer };
    const prepared = await prepareDelta(target, { source: this.d.delta, kept, downloadDir: this.d.downloadDir, log: this.d.log });
    if (!prepared) return false;
    ctx.delta = prepared;
    return true;
  }

  /**
   * stage, delta path: assemble the version (delta.ts). On failure, download and extract the
   * whole package (false: the caller extracts), which must carry the very manifest the file index
   * signed.
   */
  private async stageDelta(ctx: RunContext, delta: PreparedDelta): Promise<boolean> {
    const fetchFile = (f: { sha256: string; size: number }, dest: string) => this.d.delta!.fetchFile(f, dest, { pacer: ctx.pacer });
    if (await stageDelta(delta, this.target(ctx), fetchFile, this.d.log)) return true;
    rmSync(delta.filesDir, { recursive: true, force: true });
    delete ctx.delta;
    checkFreeSpace(this.d.downloadDir, ctx.record!.size, 'download');
    await this.d.fetch(ctx.record!, ctx.download, { pacer: ctx.pacer });
    const manifest = await readVerifiedManifest(ctx.download, ctx.name, ctx.version);
    if (JSON.stringify(manifest) !== JSON.stringify(ctx.manifest)) {
      throw new FerryError('FERRY_PACKAGE_INVALID', `${ctx.name}@${ctx.version}: the package's manifest differs from its signed file index`);
    }
    return false;
  }

  private incompatibility(m: Manifest): string | undefined {
    const { os, arch } = m.requires ?? {};
    if (os?.length && !os.includes(this.d.host.os as never)) return `incompatible: requires os ${os.join('|')}, this host is ${this.d.host.os}`;
    if (arch?.length && !arch.includes(this.d.host.arch as never)) return `incompatible: requires arch ${arch.join('|')}, this host is ${this.d.host.arch}`;
    return undefined;
  }

  /** Keep the newest versions; never the current or the previous one. */
  private prune(name: string): void {
    const installed = this.d.journal.installedOne(name);
    const protect = new Set([installed?.version, installed?.previousVersion, readCurrent(this.d.installRoot, name)]);
    const versions = this.d.journal.versions(name);
    for (const v of versions.slice(this.d.keepVersions)) {
      if (protect.has(v.version)) continue;
      rmSync(versionDir(this.d.installRoot, name, v.version), { recursive: true, force: true });
      this.d.journal.dropVersion(name, v.version);
    }
  }

  private target(ctx: RunContext): VersionTarget {
    return { root: this.d.installRoot, name: ctx.name, version: ctx.version };
  }

  private downloadPath(name: string, version: string, opId: number): string {
    return join(this.d.downloadDir, `${name}@${version}.${opId}.ferry`);
  }
}

/** A revert with no version kept to go back to unlinks the package (journal: version = fromVersion). */
function unlinks(ctx: RunContext): boolean {
  return ctx.version === ctx.fromVersion;
}

function removeIfEmpty(dir: string): void {
  try {
    if (readdirSync(dir).length === 0) rmdirSync(dir);
  } catch {
    // not there, or not empty after all
  }
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n').filter(Boolean);
  return (lines[lines.length - 1] ?? '').slice(0, 300);
}
