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
};

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
