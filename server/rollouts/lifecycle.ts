// The rollout lifecycle as one table: rollout state × action → state. The engine and the
// operator actions (pause, resume, abort, rollback, supersede) move a rollout only through
// nextRolloutState(), so a transition that is not in the table cannot happen anywhere.
//
// `rolling-back` is a state of its own: the rollout sent its hosts back to their previous versions
// and waits for their reports; it ends `rolled-back`, or `aborted` when an operator stops waiting for
// hosts that never report. (Before it existed, a fleet rollback was
// "halted with no end time", which every reader had to know about.)
import { FerryError } from '../../shared/errors.js';
import type { RolloutState } from '../../shared/protocol/api.js';

export type RolloutAction =
  /** the schedule (window or start time) does not allow the next wave now */
  | 'wait'
  /** the schedule allows it again */
  | 'window-open'
  | 'pause'
  | 'resume'
  /** a wave failed past --max-failures, or a package was retired */
  | 'halt'
  /** fleet rollback: --on-failure rollback, or `ferry rollout rollback` */
  | 'rollback'
  /** every host sent back has reported */
  | 'rollback-done'
  /** the last wave completed */
  | 'complete'
  /** `ferry rollout abort`, or every host taken over by a newer rollout (--supersede) */
  | 'abort'
  /** `ferry rollout retry`: a halted rollout sends again to its failed hosts, gated like a wave */
  | 'retry'
  /** `ferry rollout start-now`: a waiting rollout's start time is dropped (audited) */
  | 'start-now';

export const ROLLOUT_TRANSITIONS: Readonly<Record<RolloutState, Partial<Record<RolloutAction, RolloutState>>>> = {
  planned: { wait: 'waiting', 'window-open': 'running', pause: 'paused', abort: 'aborted', rollback: 'rolling-back' },
  waiting: { wait: 'waiting', 'window-open': 'running', pause: 'paused', halt: 'halted', abort: 'aborted', rollback: 'rolling-back', 'start-now': 'running' },
  running: { wait: 'waiting', pause: 'paused', halt: 'halted', complete: 'completed', abort: 'aborted', rollback: 'rolling-back' },
  paused: { resume: 'running', halt: 'halted', abort: 'aborted', rollback: 'rolling-back' },
  halted: { rollback: 'rolling-back', retry: 'running' },
  // abort: a host that never reports its rollback would otherwise keep the rollout (and its hosts) open for ever
  'rolling-back': { 'rollback-done': 'rolled-back', abort: 'aborted' },
  completed: { rollback: 'rolling-back' },
  aborted: { rollback: 'rolling-back' },
  'rolled-back': {},
};

/** States in which the engine still starts, judges or times out waves. */
export const ACTIVE_ROLLOUT_STATES: readonly RolloutState[] = ['planned', 'waiting', 'running', 'paused'];

/** The state after `action`, or undefined when the table has no such transition. */
export function transition(state: RolloutState, action: RolloutAction): RolloutState | undefined {
  return ROLLOUT_TRANSITIONS[state][action];
}

/** The actions an operator runs (`ferry rollout ACTION ID`); the others are the engine's. */
const OPERATOR_ACTIONS: readonly RolloutAction[] = ['pause', 'resume', 'abort', 'rollback', 'retry', 'start-now'];

/** The state after `action`; FERRY_CONFLICT (naming the rollout) when the table does not allow it. */
export function nextRolloutState(id: string, state: RolloutState, action: RolloutAction): RolloutState {
  const next = transition(state, action);
  if (next === undefined) {
    // The hint names only what an operator can run now (not the engine's halt, complete, …).
    const allowed = OPERATOR_ACTIONS.filter((a) => ROLLOUT_TRANSITIONS[state][a] !== undefined);
    const a = /^[aeiou]/.test(state) ? 'an' : 'a';
    throw new FerryError('FERRY_CONFLICT', `cannot ${action} rollout ${id}: it is ${state}`, {
      hint: allowed.length ? `${a} ${state} rollout allows: ${allowed.join(', ')} (ferry rollout ${allowed.length > 1 ? 'ACTION' : allowed[0]} ${id})` : `${a} ${state} rollout is final`,
    });
  }
  return next;
}

/** Ended: nothing more will happen to it (except a fleet rollback an operator asks for). */
export function isEnded(state: RolloutState): boolean {
  return state === 'completed' || state === 'aborted' || state === 'rolled-back' || state === 'halted';
}
