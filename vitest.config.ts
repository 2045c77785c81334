import { defineConfig } from 'vitest/config';
import { SlowestFirstSequencer } from './test/sequencer.js';

export default defineConfig({
  test: {
    include: ['shared/**/*.test.ts', 'server/**/*.test.ts', 'agent/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**', 'test/bench/**'],
    // Upper bounds, not waits: tests wait for conditions. Beside CI's CPU hog, with four files
    // at once on two cores, a rollout test took 60 s and more on a slower day of this machine.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Integration files mostly wait on child processes and NATS: four at once on two cores
    // roughly halves the wall time of the suite without starving any of them.
    maxWorkers: 4,
    // slowest files first, so that no long file starts last (test/sequencer.ts)
    sequence: { sequencer: SlowestFirstSequencer },
    reporters: ['default'],
    // the CLI checks that each reply's schema kept every field the server sent (server/cli/client.ts)
    // and no process of a test reads this machine's /etc/ferry/*.json: the deb test installs the
    // agent's there while other files run (it clears FERRY_CONFIG for the commands it checks)
    env: { FERRY_CHECK_REPLIES: '1', FERRY_CONFIG: 'none' },
  },
});
