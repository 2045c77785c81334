#!/usr/bin/env node
// Test-only entry point: the real `ferry-agent` CLI (compiled dist/), with the maintenance window
// checked against a shifted clock. FERRY_HARNESS_WINDOW_CLOCK_FILE holds the shift in milliseconds;
// the file is watched, so a test moves the clock when it is ready instead of racing a real one.
// Production code has no clock switch; only this harness, which the window tests start instead of
// bin/ferry-agent.js, reads that variable.
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { main } from '../../dist/agent/cli/main.js';

const file = process.env.FERRY_HARNESS_WINDOW_CLOCK_FILE;
if (!file) throw new Error('window-clock-agent: set FERRY_HARNESS_WINDOW_CLOCK_FILE');

await main(process.argv, {
  windowClock: {
    offsetMs: () => {
      try {
        return Number(readFileSync(file, 'utf8').trim()) || 0;
      } catch {
        return 0;
      }
    },
    watch: (changed) => {
      const listener = () => changed();
      watchFile(file, { interval: 100, persistent: false }, listener);
      return () => unwatchFile(file, listener);
    },
  },
});
