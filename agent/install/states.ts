// The install state machine's vocabulary: the steps, the transition table, the recovery table
// used after a crash, and how each step is reported to the server.
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
  'done',
  'failed',
  'rolled-back',
] as const;
export type InstallStep = (typeof INSTALL_STEPS)[number];
export type WorkStep = Exclude<InstallStep, 'done' | 'failed' | 'rolled-back'>;
export type Outcome = 'ok' | 'fail';

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
};

/** The steps of a removal (their reports say step 'remove' when final). */
export const REMOVAL_STEPS: readonly InstallStep[] = ['preremove', 'deactivate', 'postremove', 'erase', 'restore'];

/** A save counter above this means something loops; the operation is failed. */
export const MAX_SAVES = 30;

export function hostStateFor(step: InstallStep): HostState {
  switch (step) {
    case 'download':
      return 'downloading';
    case 'verify':
    case 'healthcheck':
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
