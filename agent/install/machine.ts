// The install state machine. Each operation walks the TRANSITIONS table one step at a time; the
// step is saved in the journal *before* it runs, so after a crash RECOVERY says where to resume.
// The previous version stays active until `activate`, and is switched back to on any later failure.
import { mkdirSync, readdirSync, renameSync, rmdirSync, rmSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';
import type { Logger } from 'pino';
import { FerryError, toFerryError } from '../../shared/errors.js';
import type { DmlRecord, HostState } from '../../shared/protocol/messages.js';
import { extractPackage, readPackageManifest, type Manifest } from '../../shared/package/mod.js';
import { runHealthcheck, runHook, type HookResult } from './hooks.js';
import type { Journal } from './journal.js';
import { cleanStaging, readCurrent, removeCurrent, stagingDir, switchCurrent, versionDir, versionExists } from './layout.js';
import { MAX_SAVES, RECOVERY, TRANSITIONS, hostStateFor, isWorkStep, type InstallStep } from './states.js';

export interface InstallJob {
  operation: string;
  record: DmlRecord;
  /** an explicit, signed rollback may go to a lower version */
  allowDowngrade: boolean;
  /** keep health-checking for this long after commit (the rollout's soak period) */
  watchMs?: number;
}

export interface ProgressReport {
  operation: string;
  state: HostState;
  package: string;
  version: string;
  previousVersion?: string;
  step: string;
  error?: string;
  output?: string;
}

export interface MachineDeps {
  journal: Journal;
  installRoot: string;
  downloadDir: string;
  /** download the package bytes to dest, verifying the record's SHA-256 and size */
  fetch: (record: DmlRecord, dest: string) => Promise<void>;
  report: (r: ProgressReport) => void;
  log: Logger;
  keepVersions: number;
  host: { os: string; arch: string };
  beforeStep?: (step: InstallStep) => Promise<void>;
}

interface RunContext {
  opId: number;
  operation: string;
  name: string;
  version: string;
  fromVersion: string | null;
  record: DmlRecord | null;
  watchMs: number;
  manifest: Manifest | null;
  download: string;
  /** true when this operation created the version directory (so a failure removes it) */
  createdDir: boolean;
  error?: string;
  output?: string;
  skipped?: boolean;
  /** an uninstall (its final report says step 'remove') */
  removal?: boolean;
}

export type Outcome = 'done' | 'failed' | 'rolled-back';

export class InstallMachine {
  constructor(private readonly d: MachineDeps) {
    mkdirSync(d.downloadDir, { recursive: true });
    mkdirSync(d.installRoot, { recursive: true });
  }

  /** Install (or re-install) one package version. Already installed: nothing to do. */
  async install(job: InstallJob): Promise<Outcome> {
    const { name, version } = job.record;
    const current = this.d.journal.installedOne(name);
    if (current?.version === version && readCurrent(this.d.installRoot, name) === version) {
      this.d.report({ operation: job.operation, state: 'succeeded', package: name, version, step: 'done' });
      return 'done';
    }
    const opId = this.d.journal.beginOperation({ operation: job.operation, package: name, version, fromVersion: current?.version ?? null, kind: 'install', step: 'download', record: JSON.stringify(job.record) });
    const ctx: RunContext = { opId, operation: job.operation, name, version, fromVersion: current?.version ?? null, record: job.record, watchMs: job.watchMs ?? 0, manifest: null, download: this.downloadPath(name, version, opId), createdDir: false };
    if (current && !job.allowDowngrade && semver.lt(version, current.version)) {
      ctx.error = `FERRY_COMMAND_REJECTED: refusing to downgrade ${name} from ${current.version} to ${version} without an explicit rollback`;
      return this.run(ctx, 'failed');
    }
    return this.run(ctx, 'download');
  }

  /**
   * Uninstall a package through the same persisted state machine as an install: preremove,
   * deactivate (unlink `current`, keep the version directories), postremove, erase. Until erase
   * the removed version stays on disk, so a failed postremove (or a crash) links it back.
   */
  async remove(operation: string, name: string): Promise<Outcome> {
    const current = this.d.journal.installedOne(name);
    if (!current) {
      this.d.report({ operation, state: 'succeeded', package: name, version: '0.0.0', step: 'remove' });
      return 'done';
    }
    const opId = this.d.journal.beginOperation({ operation, package: name, version: current.version, fromVersion: current.version, kind: 'remove', step: 'preremove' });
    this.d.journal.saveManifest(opId, current.manifest); // recovery needs the hooks even once the journal forgot the package
    // Never pull a package out from under another that depends on it: nothing changes, the removal fails.
    const dependents = this.d.journal.installed().filter((q) => q.name !== name && q.manifest.depends?.[name] !== undefined);
    const refusal = dependents.length ? `FERRY_INSTALL_FAILED: ${name} is needed by ${dependents.map((q) => `${q.name}@${q.version} (depends on ${name} ${q.manifest.depends![name]})`).join(', ')}; remove those first` : undefined;
    const ctx: RunContext = {
      opId,
      operation,
      name,
      version: current.version,
      fromVersion: current.version,
      record: null,
      watchMs: 0,
      manifest: current.manifest,
      download: this.downloadPath(name, current.version, opId),
      createdDir: false,
      removal: true,
      ...(refusal ? { error: refusal } : {}),
    };
    return this.run(ctx, refusal ? 'failed' : 'preremove');
  }

  /**
   * Switch back to the previous kept version at once: an operator's local rollback, or a health
   * check that failed during the soak (then, with no previous version, the package is unlinked).
   */
  async rollbackToPrevious(operation: string, name: string, reason?: string): Promise<Outcome> {
    const root = this.d.installRoot;
    const current = this.d.journal.installedOne(name);
    if (!current) throw new FerryError('FERRY_NOT_FOUND', `${name} is not installed on this host`);
    const target = current.previousVersion;
    const kept = target ? this.d.journal.versions(name).find((v) => v.version === target) : undefined;
    const canRestore = target !== null && kept !== undefined && versionExists(root, name, target);
    if (!canRestore && !reason) {
      throw new FerryError('FERRY_NOT_FOUND', `${name} has no previous version kept on this host to roll back to`, { hint: 'roll out the version you want instead' });
    }
    const opId = this.d.journal.beginOperation({ operation, package: name, version: target ?? current.version, fromVersion: current.version, kind: 'rollback', step: 'rollback' });
    if (canRestore) switchCurrent(root, name, target);
    else removeCurrent(root, name);
    // As in an install's rollback step, FERRY_PREVIOUS_VERSION is the version being returned to.
    const hook = await runHook('rollback', { manifest: current.manifest, dir: versionDir(root, name, current.version), previousVersion: canRestore ? target : null, installRoot: root });
    if (!hook.ok) this.d.log.warn({ package: name, output: hook.output }, 'rollback hook failed (ignored: the previous version is active)');
    if (canRestore) this.d.journal.setInstalled(name, target, null, kept.manifest);
    else this.d.journal.removeInstalled(name);
    this.d.journal.saveStep(opId, 'rolled-back', reason);
    this.d.report({
      operation,
      state: 'rolled-back',
      package: name,
      version: canRestore ? target : current.version,
      previousVersion: current.version,
      step: 'rollback',
      ...(reason ? { error: reason } : {}),
      ...(hook.output ? { output: hook.output } : {}),
    });
    return 'rolled-back';
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
  async recover(): Promise<void> {
    for (const op of this.d.journal.unfinishedOperations()) {
      if (!isWorkStep(op.step)) continue;
      const next = RECOVERY[op.step];
      this.d.log.warn({ operation: op.operation, package: op.package, step: op.step, resume: next }, 'recovering an interrupted install');
      const versions = this.d.journal.versions(op.package);
      const ctx: RunContext = {
        opId: op.id,
        operation: op.operation,
        name: op.package,
        version: op.version,
        fromVersion: op.fromVersion,
        record: op.record ? (JSON.parse(op.record) as DmlRecord) : null,
        watchMs: 0,
        manifest: null,
        download: this.downloadPath(op.package, op.version, op.id),
        // A removal never created the directory it works on.
        createdDir: op.kind !== 'remove' && !versions.some((v) => v.version === op.version),
        error: `interrupted during ${op.step} (agent restarted)`,
        ...(op.kind === 'remove' ? { removal: true } : {}),
      };
      ctx.manifest = op.manifest ?? versions.find((v) => v.version === op.version)?.manifest ?? null;
      await this.run(ctx, next);
    }
  }

  private async run(ctx: RunContext, first: InstallStep): Promise<Outcome> {
    let step = first;
    let lastState: HostState | undefined;
    for (;;) {
      const saves = this.d.journal.saveStep(ctx.opId, step, ctx.error);
      // Fault injection for the crash-matrix tests: die for real right after the step was saved.
      if (process.env.FERRY_TEST_CRASH_AT === step) process.kill(process.pid, 'SIGKILL');
      if (saves > MAX_SAVES && isWorkStep(step) && step !== 'rollback' && step !== 'restore') {
        ctx.error = `gave up after ${saves} saved steps (a loop?)`;
        step = step === 'activate' || step === 'postinstall' || step === 'healthcheck' || step === 'commit' ? 'rollback' : step === 'deactivate' || step === 'postremove' ? 'restore' : 'failed';
        continue;
      }
      const state = ctx.skipped && step === 'failed' ? 'skipped' : hostStateFor(step);
      if (!isWorkStep(step)) {
        this.finish(ctx);
        this.d.report({
          operation: ctx.operation,
          state,
          package: ctx.name,
          version: ctx.version,
          ...(ctx.fromVersion ? { previousVersion: ctx.fromVersion } : {}),
          step: ctx.removal ? 'remove' : step,
          // A recovered install that still committed is a success, not an error.
          ...(ctx.error && step !== 'done' ? { error: ctx.error } : {}),
          ...(ctx.output ? { output: ctx.output } : {}),
        });
        return step === 'done' ? 'done' : step === 'rolled-back' ? 'rolled-back' : 'failed';
      }
      if (state !== lastState) {
        this.d.report({ operation: ctx.operation, state, package: ctx.name, version: ctx.version, step });
        lastState = state;
      }
      let ok: boolean;
      try {
        if (this.d.beforeStep && step !== 'rollback' && step !== 'restore') await this.d.beforeStep(step);
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
        if (versionExists(root, ctx.name, ctx.version) && !ctx.createdDir && this.retained(ctx)) return true;
        this.checkFreeSpace(this.d.downloadDir, ctx.record!.size, 'download');
        await this.d.fetch(ctx.record!, ctx.download);
        return true;
      case 'verify': {
        if (this.retained(ctx)) return true;
        // The bytes already match the signed record's SHA-256 (checked while downloading). Here the
        // manifest is read and checked against the record and this host; every file's hash and
        // every archive rule are enforced by the one verifying pass of `stage`, before any hook.
        const manifest = await readPackageManifest(ctx.download);
        if (manifest.name !== ctx.name || manifest.version !== ctx.version) {
          throw new FerryError('FERRY_PACKAGE_INVALID', `package is ${manifest.name}@${manifest.version}, the signed record says ${ctx.name}@${ctx.version}`);
        }
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
      case 'stage': {
        if (this.retained(ctx)) return true;
        const need = (ctx.manifest!.requires?.diskMB ?? 0) * 1024 * 1024 + ctx.manifest!.files.reduce((n, f) => n + f.size, 0);
        this.checkFreeSpace(root, need, 'extraction');
        const staging = stagingDir(root, ctx.name, ctx.version);
        try {
          await extractPackage(ctx.download, staging);
        } catch (err) {
          // The free-space check counts bytes, not blocks: a disk can still fill up here.
          if (/ENOSPC/.test(String((err as Error).message))) {
            throw new FerryError('FERRY_INSTALL_FAILED', `not enough free space while extracting into ${root} (ENOSPC); nothing was kept`, { cause: err });
          }
          throw err;
        }
        rmSync(dir, { recursive: true, force: true }); // a leftover from an earlier interrupted try
        renameSync(staging, dir);
        ctx.createdDir = true;
        return true;
      }
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
          if (!result.ok) this.d.log.warn({ package: ctx.name, output: result.output }, 'rollback hook failed (ignored: the previous version is active)');
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
      default:
        throw new FerryError('FERRY_INTERNAL', `no handler for step ${step}`);
    }
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
  private finish(ctx: RunContext): void {
    rmSync(ctx.download, { force: true });
    cleanStaging(this.d.installRoot, ctx.name);
    const current = readCurrent(this.d.installRoot, ctx.name);
    if (ctx.createdDir && current !== ctx.version) rmSync(versionDir(this.d.installRoot, ctx.name, ctx.version), { recursive: true, force: true });
    // A first install that failed leaves no trace of the package at all.
    removeIfEmpty(join(this.d.installRoot, ctx.name));
  }

  private hook(result: HookResult, ctx: RunContext, name: string): boolean {
    if (result.output) ctx.output = `[${name}]\n${result.output}`;
    if (!result.ok) ctx.error = `${name} hook failed${result.timedOut ? ' (timed out)' : result.code !== null ? ` (exit ${result.code})` : ''}${lastLine(result.output) ? `: ${lastLine(result.output)}` : ''}`;
    return result.ok;
  }

  /** A version kept from an earlier install is reused without downloading it again. */
  private retained(ctx: RunContext): boolean {
    const kept = this.d.journal.versions(ctx.name).find((v) => v.version === ctx.version);
    if (kept && versionExists(this.d.installRoot, ctx.name, ctx.version)) {
      ctx.manifest = kept.manifest;
      return true;
    }
    return false;
  }

  private incompatibility(m: Manifest): string | undefined {
    const { os, arch } = m.requires ?? {};
    if (os?.length && !os.includes(this.d.host.os as never)) return `incompatible: requires os ${os.join('|')}, this host is ${this.d.host.os}`;
    if (arch?.length && !arch.includes(this.d.host.arch as never)) return `incompatible: requires arch ${arch.join('|')}, this host is ${this.d.host.arch}`;
    return undefined;
  }

  private checkFreeSpace(dir: string, bytes: number, what: string): void {
    const st = statfsSync(dir);
    const free = st.bavail * st.bsize;
    if (free < bytes) {
      throw new FerryError('FERRY_INSTALL_FAILED', `not enough free space for ${what}: need ${Math.ceil(bytes / 1048576)} MiB, ${Math.floor(free / 1048576)} MiB free in ${dir}`);
    }
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

  private downloadPath(name: string, version: string, opId: number): string {
    return join(this.d.downloadDir, `${name}@${version}.${opId}.ferry`);
  }
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

