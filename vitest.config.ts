import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['shared/**/*.test.ts', 'server/**/*.test.ts', 'agent/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**', 'test/bench/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Integration files mostly wait on child processes and NATS: four at once on two cores
    // roughly halves the wall time of the suite without starving any of them.
    maxWorkers: 4,
    reporters: ['default'],
    // the CLI checks that each reply's schema kept every field the server sent (server/cli/client.ts)
    env: { FERRY_CHECK_REPLIES: '1' },
  },
});
