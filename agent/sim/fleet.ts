// A simulated fleet: N real agents in one process — each with its own NATS identity and
// connection, its own state directory and install root, the real protocol and the real install
// machine — with a synthetic inventory and optional injected delays and failures. Tests and
// benchmarks use it to exercise the server at fleet scale on one machine.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FerryError } from '../../shared/errors.js';
import { silentLogger, type Logger } from '../../shared/log.js';
import { syntheticInventory } from '../../shared/sim-inventory.js';
import { agentPaths } from '../config.js';
import { joinServer } from '../enroll/join.js';
import type { InstallStep } from '../install/states.js';
import { AgentRuntime } from '../runtime.js';
import { limiter, mapLimit } from '../../shared/concurrency.js';

export interface SimOptions {
  token: string;
  count: number;
  /** number of the first agent (hostnames sim-NNNNN): processes sharing a fleet count on from each other */
  firstIndex?: number;
  /** directory for the agents' state (default: a new temporary directory, removed on stop) */
  dir?: string;
  /** probability that an install fails at its health check */
  failRate?: number;
  /** delay added before every install step, in ms */
  stepDelayMs?: number;
  heartbeatMs?: number;
  desiredPollMs?: number;
  /** agents joined/started at once */
  concurrency?: number;
  /**
   * Desired states applied at once in this process (default 16, or no limit with stepDelayMs, whose
   * delays stand for each host's own time; 0: no limit). A host of a real fleet installs on its own
   * CPU in tens of milliseconds; thousands of simulated agents interleaved on one event loop made
   * every install last as long as the whole wave, and report every step on the way (each agent
   * still does all of its work: only the order changes). FERRY_SIM_INSTALLS_AT_ONCE overrides the
   * default (to compare: 0 interleaves them all again).
   */
  installsAtOnce?: number;
  log?: Logger;
  tlsCa?: string;
}

export interface SimulatedFleet {
  dir: string;
  agents: AgentRuntime[];
  ids: string[];
  stop(): Promise<void>;
}

// Data centres, not Ferry sites: the site tag comes only with a token of that site (token create --site).
const DCS = ['lon', 'fra', 'nyc', 'sgp'];
const ROLES = ['web', 'api', 'db', 'cache'];

export async function startSimulatedFleet(o: SimOptions): Promise<SimulatedFleet> {
  const ownDir = !o.dir;
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'ferry-sim-'));
  mkdirSync(dir, { recursive: true });
  const log = o.log ?? silentLogger;
  const agents: AgentRuntime[] = new Array(o.count);
  const started: AgentRuntime[] = [];
  const limit = o.installsAtOnce ?? Number(process.env.FERRY_SIM_INSTALLS_AT_ONCE ?? (o.stepDelayMs ? 0 : 16));
  const applyGate = limit > 0 ? limiter(limit) : undefined;
  const stop = async () => {
    await mapLimit(started, 200, (a) => a.stop().catch(() => undefined));
    if (ownDir) rmSync(dir, { recursive: true, force: true });
  };
  try {
    await mapLimit(range(o.count), o.concurrency ?? 25, async (slot) => {
      const i = slot + (o.firstIndex ?? 0);
      const hostname = `sim-${String(i).padStart(5, '0')}`;
      const paths = agentPaths(join(dir, hostname));
      const tags = { sim: 'true', dc: DCS[i % DCS.length]!, role: ROLES[Math.floor(i / DCS.length) % ROLES.length]! };
      // A busy simulator process can lose a join reply; join again with a fresh identity.
      let identity;
      for (let attempt = 1; ; attempt++) {
        try {
          identity = await joinServer({ paths, token: o.token, tags, hostname, tlsCa: o.tlsCa });
          break;
        } catch (err) {
          if (attempt >= 3 || !(err instanceof FerryError) || err.code !== 'FERRY_SERVER_UNREACHABLE') throw err;
          rmSync(paths.dir, { recursive: true, force: true });
        }
      }
      const agent = new AgentRuntime({
        paths,
        identity,
        seed: readFileSync(paths.seed, 'utf8').trim(),
        log,
        journalSync: 'normal',
        connectionName: `ferry-sim ${identity.agentId}`,
        inventory: async () => syntheticInventory(hostname, i),
        timings: { heartbeatMs: o.heartbeatMs ?? 5000, desiredPollMs: o.desiredPollMs ?? 30_000, inventoryCheckMs: 3_600_000, healthWatchMs: 3_600_000, driftCheckMs: 86_400_000 },
        beforeStep: faults(o),
        ...(applyGate ? { applyGate } : {}),
        controlSocket: false, // nobody runs `ferry-agent rollback` against a simulated agent
        host: { os: 'linux', arch: syntheticInventory(hostname, i).arch },
      });
      await agent.start();
      agents[slot] = agent;
      started.push(agent);
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { dir, agents, ids: agents.map((a) => a.agentId), stop };
}

function faults(o: SimOptions): ((step: InstallStep) => Promise<void>) | undefined {
  if (!o.failRate && !o.stepDelayMs) return undefined;
  return async (step) => {
    if (o.stepDelayMs) await new Promise((r) => setTimeout(r, o.stepDelayMs));
    if (step === 'healthcheck' && o.failRate && Math.random() < o.failRate) {
      throw new FerryError('FERRY_HOOK_FAILED', 'simulated health check failure');
    }
  };
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
