// The crash matrix: a real agent is SIGKILLed right after it saved each install step to its
// journal (FERRY_TEST_CRASH_AT), then restarted normally. Whatever the step, the host must end
// on a complete version — the new one only if it was committed and the server was told it
// succeeded, else the previous one — with no half-made directories or downloads left behind,
// and the server must have received a final report.
//
// One server is shared; every case has its own agent (joined and brought to v1 by one first
// rollout in beforeAll), selected by its `case` tag.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupFleet, initServer, joinAgent, runFerry, startAgent, type JoinedAgent, type PackageSpec, type ServerHandle } from '../helpers/fleet.js';
import {
  TERMINAL_HOST_STATES,
  agentStatus,
  appliedGeneration,
  createRelease,
  downloadLeftovers,
  hookLog,
  hookScript,
  layoutLeftovers,
  mapLimit,
  publishPackage,
  readCurrent,
  startRollout,
  versionDirProblems,
  versionDirs,
  waitAgentSettled,
  waitExit,
  waitRolloutEnd,
  type RolloutDoc,
} from '../helpers/faults.js';

const PKG = 'crashapp';
const STEPS = ['download', 'verify', 'stage', 'preinstall', 'activate', 'postinstall', 'healthcheck', 'commit'] as const;
const AGENT_ENV = { FERRY_DESIRED_POLL_MS: '1000', FERRY_HEARTBEAT_MS: '500' };

const HOOKS = { preinstall: 'hooks/preinstall', postinstall: 'hooks/postinstall', healthcheck: 'hooks/healthcheck', rollback: 'hooks/rollback' } as const;

function spec(version: string, opts: { healthy?: boolean } = {}): PackageSpec {
  const healthy = opts.healthy ?? true;
  return {
    name: PKG,
    version,
    files: {
      'bin/app': `#!/bin/sh\necho ${PKG} ${version}\n`,
      'etc/app.conf': `version=${version}\n${'x'.repeat(2000)}\n`,
      'share/data.bin': Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7 + version.length) % 256)),
      [HOOKS.preinstall]: hookScript(),
      [HOOKS.postinstall]: hookScript(),
      [HOOKS.healthcheck]: hookScript(healthy ? 0 : 1),
      [HOOKS.rollback]: hookScript(),
    },
    executable: ['bin/app'],
    hooks: HOOKS,
    healthcheck: { retries: 1, intervalSeconds: 1 },
    hookTimeoutSeconds: 20,
  };
}

const V1 = spec('1.0.0');
const V2 = spec('2.0.0');
const V3 = spec('3.0.0', { healthy: false }); // its health check always fails
const SPECS: Record<string, PackageSpec> = { [V1.version]: V1, [V2.version]: V2, [V3.version]: V3 };

let server: ServerHandle;
const agents = new Map<string, JoinedAgent>();

beforeAll(async () => {
  server = await initServer();
  const home = server.home;
  for (const s of [V1, V2, V3]) await publishPackage(home, s);
  await createRelease(home, 'crash-v1', [`${PKG}@${V1.version}`]);
  await createRelease(home, 'crash-v2', [`${PKG}@${V2.version}`]);
  await createRelease(home, 'crash-v3', [`${PKG}@${V3.version}`]);
  // One agent per case, all brought to v1 by one first rollout, then stopped.
  const cases = [...STEPS, 'rollback'];
  // One at a time: concurrent joins race in the server's NATS auth reload (see the report).
  const joined = await mapLimit(cases, 1, (c) => joinAgent(home, `crash-${c}`, { tags: { case: c } }));
  joined.forEach((a, i) => agents.set(cases[i]!, a));
  const running = await mapLimit(joined, 3, (a) => startAgent(a, { env: AGENT_ENV }));
  const first = (await runFerry(home, ['rollout', 'start', 'crash-v1', '--wait', '--timeout', '60s', '--json'])).json<RolloutDoc>();
  expect(first.state).toBe('completed');
  expect(first.hosts.map((h) => h.state)).toEqual(cases.map(() => 'succeeded'));
  await Promise.all(running.map((r) => r.stop()));
  for (const a of joined) expect(readCurrent(a.installRoot, PKG)).toBe(V1.version);
}, 180_000);

afterAll(async () => {
  await cleanupFleet();
});

interface CaseResult {
  atCrash: string | undefined;
  final: RolloutDoc;
  current: string | undefined;
  installed: string | undefined;
  hooks: string[];
}

/**
 * Start the case's agent with FERRY_TEST_CRASH_AT=step, roll `release` out to it, wait for the
 * SIGKILL, check the disk, restart it normally, and wait for the rollout to end and the agent to
 * settle. Asserts every invariant that holds whatever the step.
 */
async function crashCase(caseName: string, step: string, release: string, target: PackageSpec): Promise<CaseResult> {
  const agent = agents.get(caseName)!;
  const home = server.home;
  const root = agent.installRoot;
  const before = appliedGeneration(agent.stateDir);

  const crashing = await startAgent(agent, { env: { ...AGENT_ENV, FERRY_TEST_CRASH_AT: step } });
  const id = await startRollout(home, release, `case=${caseName}`);
  const exit = await waitExit(crashing.child, 30_000).catch((err: Error) => {
    throw new Error(`${err.message}; the agent did not crash at ${step}:\n${crashing.logs()}`);
  });
  expect(exit.signal, `agent output:\n${crashing.logs()}`).toBe('SIGKILL');

  // The moment of the crash: current is the old or the new version, and that version is whole.
  const atCrash = readCurrent(root, PKG);
  expect([V1.version, target.version]).toContain(atCrash);
  expect(versionDirProblems(root, SPECS[atCrash!]!)).toEqual([]);

  const restarted = await startAgent(agent, { env: AGENT_ENV });
  let final: RolloutDoc;
  try {
    final = await waitRolloutEnd(home, id, 40_000);
    // After recovery the agent re-reads its desired state and may try again: let it finish.
    await waitAgentSettled(agent.stateDir, before, 40_000);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nagent output:\n${restarted.logs()}`);
  }
  await restarted.stop();
  // The rollout may have ended before the retry's report arrived; read the final word.
  final = await waitRolloutEnd(home, id, 10_000);

  const status = await agentStatus(agent.stateDir);
  const current = readCurrent(root, PKG);
  const installed = status.installed[PKG];
  const host = final.hosts.find((h) => h.agent === agent.id);
  const detail = JSON.stringify({ step, atCrash, current, installed, host, rollout: final.state, operations: status.operations.slice(0, 4) }, null, 2);

  // The server received a final report for this host.
  expect(host, detail).toBeDefined();
  expect(TERMINAL_HOST_STATES, detail).toContain(host!.state);
  // current is v1 or the target, never anything else, and what the journal says is installed.
  expect([V1.version, target.version], detail).toContain(current);
  expect(installed, detail).toBe(current);
  if (current === target.version) {
    expect(host!.state, detail).toBe('succeeded');
  } else {
    expect(['failed', 'rolled-back'], detail).toContain(host!.state);
  }
  // Every version directory left is whole (no partial directory), current's included.
  const dirs = versionDirs(root, PKG);
  expect(dirs, detail).toContain(current);
  for (const v of dirs) {
    expect(Object.keys(SPECS), detail).toContain(v);
    expect(versionDirProblems(root, SPECS[v]!), `${v}: ${detail}`).toEqual([]);
  }
  // No leftovers of the interrupted attempt.
  expect(layoutLeftovers(root, PKG), detail).toEqual([]);
  expect(downloadLeftovers(agent.stateDir), detail).toEqual([]);
  return { atCrash, final, current, installed, hooks: hookLog(root) };
}

describe('crash matrix: agent SIGKILLed after saving each install step', () => {
  it.each(STEPS)('crash at %s → a whole version, consistent with the server', async (step) => {
    const r = await crashCase(step, step, 'crash-v2', V2);
    // Nothing touched current before activate ran.
    if (['download', 'verify', 'stage', 'preinstall', 'activate'].includes(step)) expect(r.atCrash).toBe(V1.version);
    else expect(r.atCrash).toBe(V2.version);
    // A crash in commit resumes the commit: v2 stays.
    if (step === 'commit') expect(r.current).toBe(V2.version);
    // A crash after activation is recovered by a rollback, which runs the package's rollback hook
    // (the postinstall may have changed things it must undo).
    if (['activate', 'postinstall', 'healthcheck'].includes(step)) expect(r.hooks, JSON.stringify(r)).toContain('rollback 2.0.0');
  });

  it('crash during rollback (v3 fails its health check) → ends on the previous version', async () => {
    const r = await crashCase('rollback', 'rollback', 'crash-v3', V3);
    expect(r.atCrash).toBe(V3.version); // crashed before the rollback switched current back
    expect(r.current).toBe(V1.version);
    expect(r.installed).toBe(V1.version);
    expect(r.final.hosts[0]!.state).toBe('rolled-back');
    expect(r.hooks).toContain('rollback 3.0.0');
  });
});
