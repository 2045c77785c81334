// `rollout status --watch`: follow a rollout until it ends. On a terminal the view is redrawn
// in place (cursor back up over the last frame, then clear below: one write per frame, no
// flicker, no scrollback flood) every interval so countdowns tick. Into a pipe, a frame is
// printed only when the rollout changed; with --json each change is one JSON document per line.
import { TERMINAL_ROLLOUT_STATES, type RolloutState } from '../../../shared/protocol/api.js';
import type { RolloutStatusDoc } from '../../rollouts/service.js';
import { configureOutput, printJsonLine } from '../output.js';
import { statusLines } from './rollout.js';

export function rolloutEnded(s: RolloutStatusDoc): boolean {
  return TERMINAL_ROLLOUT_STATES.includes(s.state as RolloutState) && !(s.state === 'halted' && !s.endedAt);
}

/** Polls `ask` until the rollout ends; returns its final status. */
export async function watchRollout(ask: () => Promise<RolloutStatusDoc>, opts: { json: boolean; intervalMs: number }): Promise<RolloutStatusDoc> {
  const tty = process.stdout.isTTY === true && !opts.json;
  if (opts.json) configureOutput({ streaming: true });
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
      if (opts.json) printJsonLine(s);
      else process.stdout.write((lastDoc ? '\n' : '') + statusLines(s).join('\n') + '\n');
    }
    lastDoc = doc;
    if (rolloutEnded(s)) return s;
    await new Promise((r) => setTimeout(r, opts.intervalMs));
  }
}
