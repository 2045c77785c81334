// `rollout status --watch`: follow a rollout until it ends. On a terminal the view is redrawn
// in place (cursor back up over the last frame, then clear below: one write per frame, no
// flicker, no scrollback flood) every interval so countdowns tick. Into a pipe, a frame is
// printed only when the rollout changed. (With --json the command waits instead: one document.)
import { FerryError } from '../../../shared/errors.js';
import { TERMINAL_ROLLOUT_STATES, type RolloutState } from '../../../shared/protocol/rollout-states.js';
import type { RolloutStatusDoc } from '../../rollouts/service.js';
import { statusLines } from './rollout.js';

export function rolloutEnded(s: RolloutStatusDoc): boolean {
  return TERMINAL_ROLLOUT_STATES.includes(s.state as RolloutState) && !(s.state === 'halted' && !s.endedAt);
}

/** `--timeout` ran out before the rollout ended. */
export function stillRunning(s: RolloutStatusDoc): FerryError {
  return new FerryError('FERRY_TIMEOUT', `rollout ${s.id} is still ${s.state}`, { hint: `follow it with: ferry rollout status ${s.id} --watch` });
}

/** Polls `ask` until the rollout ends (or `timeoutMs` passes: FERRY_TIMEOUT); returns its final status. */
export async function watchRollout(ask: () => Promise<RolloutStatusDoc>, opts: { intervalMs: number; timeoutMs?: number | undefined }): Promise<RolloutStatusDoc> {
  const tty = process.stdout.isTTY === true;
  const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs;
  let lastDoc = '';
  let drawnLines = 0;
  for (;;) {
    const s = await ask();
    const doc = JSON.stringify(s);
    if (tty) {
      const frame = statusLines(s);
      // Back to the first line of the previous frame, clear from there down, draw the new one.
      const up = drawnLines ? `\x1b[${drawnLines}F\x1b[J` : '';
      process.stdout.write(up + frame.join('\n') + '\n');
      drawnLines = frame.length;
    } else if (doc !== lastDoc) {
      process.stdout.write((lastDoc ? '\n' : '') + statusLines(s).join('\n') + '\n');
    }
    lastDoc = doc;
    if (rolloutEnded(s)) return s;
    if (Date.now() > deadline) throw stillRunning(s);
    await new Promise((r) => setTimeout(r, opts.intervalMs));
  }
}
