// The progress bar of the commands that wait for a rollout at a terminal (rollout start --wait,
// rollout status --wait, cmdb clone-config): loaded only when one is drawn (waitForEnd in
// server/cli/commands/rollout.ts).
import { SingleBar } from 'cli-progress';
import { TERMINAL_HOST_STATES, type HostState } from '../../../shared/protocol/host-states.js';
import type { RolloutStatusDoc } from '../../../shared/protocol/replies.js';

/** A rollout's hosts done (cli-progress, on stderr), with its failures and current wave in words. */
export class RolloutProgress {
  private readonly bar = new SingleBar({
    stream: process.stderr,
    format: '{bar} {value}/{total} hosts{failed} · {state}',
    barCompleteChar: '█',
    barIncompleteChar: '░',
    barsize: 24,
    hideCursor: true,
    clearOnComplete: true,
  });
  private started = false;

  show(s: RolloutStatusDoc): void {
    const done = s.hosts.filter((h) => TERMINAL_HOST_STATES.includes(h.state as HostState)).length;
    // A skipped host (already at this version, not installed) is done, not failed.
    const failed = s.hosts.filter((h) => h.state === 'failed' || h.state === 'rolled-back').length;
    const wave = s.waves.find((w) => w.state !== 'completed');
    const payload = { failed: failed ? `, ${failed} failed` : '', state: `${s.state}${wave ? `, wave ${wave.index + 1} ${wave.state}` : ''}` };
    if (!this.started) {
      this.started = true;
      this.bar.start(s.hosts.length, done, payload);
      return;
    }
    this.bar.setTotal(s.hosts.length);
    this.bar.update(done, payload);
  }

  stop(): void {
    if (this.started) this.bar.stop();
  }
}
