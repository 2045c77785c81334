// `npm run sim -- --agents N [--processes P] [--fail-rate P] [--step-delay MS]`: join N simulated agents to the
// running server (FERRY_HOME or --data-dir) and keep them running until Ctrl-C.
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startSimulatedFleet } from '../agent/sim/fleet.js';
import { startFleetProcesses } from '../agent/sim/fleet-procs.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: '100' },
    'fail-rate': { type: 'string', default: '0' },
    'step-delay': { type: 'string', default: '0' },
    'data-dir': { type: 'string' },
    processes: { type: 'string', default: '1' },
  },
});
const count = Number(values.agents);
const env = { ...process.env, ...(values['data-dir'] ? { FERRY_HOME: values['data-dir'] } : {}) };
const token = spawnSync(process.execPath, [join(root, 'bin/ferry.js'), 'token', 'create', '--uses', String(Math.ceil(count * 1.1) + 10), '--ttl', '1h', '--tag', 'fleet=sim', '--json'], { env, encoding: 'utf8' });
if (token.status !== 0) {
  process.stderr.write(token.stderr);
  process.exit(1);
}
const started = Date.now();
const simOptions = { token: (JSON.parse(token.stdout) as { token: string }).token, count, failRate: Number(values['fail-rate']), stepDelayMs: Number(values['step-delay']) };
// --processes N spreads the agents over N processes (one process runs out of descriptors at ~5,000).
const processes = Number(values.processes);
const fleet = processes > 1 ? await startFleetProcesses({ ...simOptions, processes }) : await startSimulatedFleet(simOptions);
process.stdout.write(`${count} simulated agents joined and running in ${((Date.now() - started) / 1000).toFixed(1)}s (state in ${fleet.dir}); Ctrl-C stops them.\n`);
await new Promise<void>((r) => {
  process.once('SIGINT', r);
  process.once('SIGTERM', r);
});
await fleet.stop();
