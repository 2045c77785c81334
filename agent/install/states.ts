// The install state machine's vocabulary: the kinds of operation, their steps, the one transition
// table and the one recovery table every kind goes through, and how each step is reported.
//
// Three kinds of operation walk the same persisted loop (InstallMachine.run):
//   install  download → verify → stage → preinstall → activate → postinstall → healthcheck → commit
//            (a failure after activation: rollback)
//   remove   preremove → deactivate → postremove → erase (a failure before erase: restore)
//   revert   revert-verify (→ revert-fetch) → revert-switch → revert-hook → revert-commit: switch a
//            package back to a version kept on disk — an operator's `ferry-agent rollback`, a health
//            check failing during the soak, a release undone package by package, a signed rollback
//            to the previous version, the journal's side of a self-update that did not confirm.
// Each step is saved before it runs; RECOVERY maps the last saved step to where to resume.
import type { HostState } from '../../shared/protocol/messages.js';

export const INSTALL_STEPS = [
  'download',
  'verify',
  'stage',
  'preinstall',
  'activate',
  'postinstall',
  'healthcheck',
  'commit',
  'rollback',
  // removal: preremove → deactivate (current unlinked, versions kept) → postremove → erase
  'preremove',
  'deactivate',
  'postremove',
  'erase',
  'restore',
  // revert: back to a kept version (or, with none kept, unlinked), verified before it is activated
  'revert-verify',
  'revert-fetch',
  'revert-switch',
  'revert-hook',
  'revert-commit',
  'done',
  'failed',
  'rolled-back',
] as const;
export type InstallStep = (typeof INSTALL_STEPS)[number];
export type WorkStep = Exclude<InstallStep, 'done' | 'failed' | 'rolled-back'>;
export type Outcome = 'ok' | 'fail';

/** What the journal calls each kind of operation (a revert is stored as 'rollback'). */
export type OperationKind = 'install' | 'remove' | 'rollback';

/** The first step of each kind of operation. */
export const FIRST_STEP: Record<OperationKind, WorkStep> = { install: 'download', remove: 'preremove', rollback: 'revert-verify' };

/** from → outcome → to. Failures before activation leave the previous version untouched. */
export const TRANSITIONS: Record<WorkStep, Record<Outcome, InstallStep>> = {
  download: { ok: 'verify', fail: 'failed' },
  verify: { ok: 'stage', fail: 'failed' },
  stage: { ok: 'preinstall', fail: 'failed' },
  preinstall: { ok: 'activate', fail: 'failed' },
  activate: { ok: 'postinstall', fail: 'rollback' },
  postinstall: { ok: 'healthcheck', fail: 'rollback' },
  healthcheck: { ok: 'commit', fail: 'rollback' },
  commit: { ok: 'done', fail: 'rollback' },
  // A failing rollback hook is logged, not fatal: the previous version is active either way.
  rollback: { ok: 'rolled-back', fail: 'rolled-back' },
  // A removal changes nothing before `deactivate`; until `erase` the removed version is kept
  // on disk, so any failure in between links it back as `current`.
  preremove: { ok: 'deactivate', fail: 'failed' },
  deactivate: { ok: 'postremove', fail: 'restore' },
  postremove: { ok: 'erase', fail: 'restore' },
  erase: { ok: 'done', fail: 'failed' },
  restore: { ok: 'rolled-back', fail: 'rolled-back' },
  // A revert activates nothing it has not verified: a kept version whose files differ from its
  // manifest is fetched again from the DML by its signed record, or the revert fails (and the
  // version it was leaving stays active). Once `current` was switched it only goes forward.
  'revert-verify': { ok: 'revert-switch', fail: 'revert-fetch' },
  'revert-fetch': { ok: 'revert-switch', fail: 'failed' },
  'revert-switch': { ok: 'revert-hook', fail: 'failed' },
  // the leaving version's rollback hook: a failure is logged, not fatal (as in `rollback`)
  'revert-hook': { ok: 'revert-commit', fail: 'revert-commit' },
  'revert-commit': { ok: 'rolled-back', fail: 'failed' },
};

/**
 * After a crash, where an operation saved in `step` resumes. Nothing unverified is kept;
 * anything that may have touched `current` is rolled back unless it reached commit.
 */
export const RECOVERY: Record<WorkStep, InstallStep> = {
  download: 'failed',
  verify: 'failed',
  stage: 'failed',
  preinstall: 'failed',
  activate: 'rollback',
  postinstall: 'rollback',
  healthcheck: 'rollback',
  commit: 'commit',
  rollback: 'rollback',
  // A removal interrupted before `erase` ends with the package still installed and active;
  // once `erase` was saved it is finished (erasing is idempotent).
  preremove: 'failed',
  deactivate: 'restore',
  postremove: 'restore',
  erase: 'erase',
  restore: 'restore',
  // A revert was asked for because the version it leaves is unwanted (unhealthy, or an operator
  // said so): it is resumed, never turned around. Every revert step is idempotent; the target is
  // verified again before it is activated, so a crash cannot skip the check.
  'revert-verify': 'revert-verify',
  'revert-fetch': 'revert-verify',
  'revert-switch': 'revert-verify',
  'revert-hook': 'revert-hook',
  'revert-commit': 'revert-commit',
};

/**
 * Where an operation goes when its save counter says it loops (> MAX_SAVES): the nearest way
 * out that leaves the host consistent. A revert that gives up before its commit fails, and a
 * failed revert always ends on the version it was leaving (InstallMachine.finish).
 */
export const GIVE_UP: Record<WorkStep, InstallStep> = {
  download: 'failed',
  verify: 'failed',
  stage: 'failed',
  preinstall: 'failed',
  activate: 'rollback',
  postinstall: 'rollback',
  healthcheck: 'rollback',
  commit: 'rollback',
  // switching back to the previous version is never given up (it is what makes the host whole)
  rollback: 'rollback',
  preremove: 'failed',
  deactivate: 'restore',
  postremove: 'restore',
  erase: 'failed',
  restore: 'restore',
  'revert-verify': 'failed',
  'revert-fetch': 'failed',
  'revert-switch': 'failed',
  // the hook may be what kills the agent: skip it and commit the switch
  'revert-hook': 'revert-commit',
  'revert-commit': 'failed',
};

/** The steps of a removal (their reports say step 'remove' when final). */
export const REMOVAL_STEPS: readonly InstallStep[] = ['preremove', 'deactivate', 'postremove', 'erase', 'restore'];
/** The steps of a revert (their reports say step 'rollback' when final). */
export const REVERT_STEPS: readonly InstallStep[] = ['revert-verify', 'revert-fetch', 'revert-switch', 'revert-hook', 'revert-commit'];

/** A save counter above this means something loops; the operation gives up (GIVE_UP). */
export const MAX_SAVES = 30;

export function hostStateFor(step: InstallStep): HostState {
  switch (step) {
    case 'download':
    case 'revert-fetch':
      return 'downloading';
    case 'verify':
    case 'healthcheck':
    case 'revert-verify':
      return 'verifying';
    case 'done':
      return 'succeeded';
    case 'failed':
      return 'failed';
    case 'rolled-back':
      return 'rolled-back';
    default:
      return 'installing';
  }
}

export function isWorkStep(step: InstallStep): step is WorkStep {
  return step !== 'done' && step !== 'failed' && step !== 'rolled-back';
}
