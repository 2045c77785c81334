#!/usr/bin/env node
// Test-only entry point: the real `ferry-agent` CLI (compiled dist/), with the install machine's
// beforeStep hook set to SIGKILL this process right after the step named by FERRY_HARNESS_CRASH_AT
// was saved to the journal — "STEP" (any kind of operation) or "KIND:STEP" (install, remove or
// rollback, e.g. "rollback:revert-switch"). Production code has no crash switch; only this harness,
// which the crash tests start instead of bin/ferry-agent.js, reads that variable.
import { main } from '../../dist/agent/cli/main.js';

const at = process.env.FERRY_HARNESS_CRASH_AT ?? '';
const [kind, step] = at.includes(':') ? at.split(':') : [undefined, at];

await main(process.argv, {
  beforeStep: async (s, op) => {
    if (s === step && (kind === undefined || op.kind === kind)) process.kill(process.pid, 'SIGKILL');
  },
});
