// The crash matrix: a real agent is SIGKILLed right after it saved each install step to its
// journal (through the crash harness, test/helpers/crash-agent.mjs, which sets the install
// machine's beforeStep hook), then restarted normally. Whatever the step, the host must end
// on a complete version — the new one only if it was committed and the server was told it
// succeeded, else the previous one — with no half-made directories or downloads left behind,
// and the server must have received a final report.
//
// One server is shared; every case has its own agent (joined and brought to v1 by one first
// rollout in beforeAll), selected by its `case` tag.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupFleet, createToken, initServer, joinAgent, runAgentCli, runFerry, startAgent, startAgents, type JoinedAgent, type PackageSpec, type ServerHandle } from '../helpers/fleet.js';
import {
  TERMINAL_HOST_STATES,
  agentStatus,
  appliedGeneration,
  createRelease,
  downloadLeftovers,
  hookLog,
  hookScript,
  layoutLeftovers,
  limiter,
  mapLimit,
  publishPackage,
  readCurrent,
  startCrashingAgent,
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
let stopping = false;
const agents = new Map<string, JoinedAgent>();

beforeAll(async () => {
  server = await initServer();
  const home = server.home;
  server.child.once('exit', (code, sig) => {
    if (!stopping) process.stderr.write(`crash-matrix: ferry server exited unexpectedly (${code ?? sig}):\n${server.logs().slice(-4000)}\n`);
  });
  for (const s of [V1, V2, V3]) await publishPackage(home, s);
  await createRelease(home, 'crash-v1', [`${PKG}@${V1.version}`]);
  await createRelease(home, 'crash-v2', [`${PKG}@${V2.version}`]);
  await createRelease(home, 'crash-v3', [`${PKG}@${V3.version}`]);
  // One agent per case, all brought to v1 by one first rollout, then stopped.
  const cases = [...STEPS, 'rollback'];
  // One at a time, with one token: joins are not what this file tests (concurrent joins used to
  // hit nats-server refusing connections while it reloaded its authorization).
  const token = await createToken(home, { uses: cases.length });
  const joined = await mapLimit(cases, 1, (c) => joinAgent(home, `crash-${c}`, { tags: { case: c }, token }));
  joined.forEach((a, i) => agents.set(cases[i]!, a));
  const running = await startAgents(joined, { env: AGENT_ENV, timeoutMs: 40_000 });
  const first = (await runFerry(home, ['rollout', 'start', 'crash-v1', '--wait', '--timeout', '60s', '--json'])).json<RolloutDoc>();
  expect(first.state).toBe('completed');
  expect(first.hosts.map((h) => h.state)).toEqual(cases.map(() => 'succeeded'));
  await Promise.all(running.map((r) => r.stop()));
  for (const a of joined) expect(readCurrent(a.installRoot, PKG)).toBe(V1.version);
}, 180_000);

afterAll(async () => {
  stopping = true;
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
 * Start the case's agent through the crash harness (SIGKILL after saving install:step), roll `release` out to it, wait for the
 * SIGKILL, check the disk, restart it normally, and wait for the rollout to end and the agent to
 * settle. Asserts every invariant that holds whatever the step.
 */
async function crashCase(caseName: string, step: string, release: string, target: PackageSpec): Promise<CaseResult> {
  const agent = agents.get(caseName)!;
  const home = server.home;
  const root = agent.installRoot;
  const before = appliedGeneration(agent.stateDir);

  // --include-offline: the host need not be seen online first (it reads its desired state from
  // KV as it starts), which saves polling `agents list`.
  const crashing = await startCrashingAgent(agent, `install:${step}`, AGENT_ENV);
  const id = await startRollout(home, release, `case=${caseName}`, ['--include-offline']);
  const exit = await waitExit(crashing.child, 30_000).catch((err: Error) => {
    throw new Error(`${err.message}; the agent did not crash at ${step}:\n${crashing.logs()}`);
  });
  expect(exit.signal, `agent output:\n${crashing.logs()}`).toBe('SIGKILL');

  // The moment of the crash: current is the old or the new version, and that version is whole.
  const atCrash = readCurrent(root, PKG);
  expect([V1.version, target.version]).toContain(atCrash);
  expect(versionDirProblems(root, SPECS[atCrash!]!)).toEqual([]);

  const restarted = await startAgent(agent, { waitOnline: false, env: AGENT_ENV });
  let final: RolloutDoc;
  try {
    final = await waitRolloutEnd(home, id, 40_000);
    // After recovery the agent re-reads its desired state and may try again: let it finish.
    await waitAgentSettled(home, agent, before, 40_000);
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

const results = new Map<string, CaseResult>();

// The cases touch disjoint agents (only the server is shared), so they run side by side, three
// at a time (each runs a few processes; more would only fight over a small machine's CPUs).
const slot = limiter(3);
const CASE_TIMEOUT_MS = 150_000;

describe.concurrent('crash matrix: agent SIGKILLed after saving each install step', () => {
  it.each(STEPS)('crash at %s → a whole version, consistent with the server', { timeout: CASE_TIMEOUT_MS }, async (step) => {
    const r = await slot(() => crashCase(step, step, 'crash-v2', V2));
    results.set(step, r);
    // Nothing touched current before activate ran.
    if (['download', 'verify', 'stage', 'preinstall', 'activate'].includes(step)) expect(r.atCrash).toBe(V1.version);
    else expect(r.atCrash).toBe(V2.version);
    // A crash in commit resumes the commit: v2 stays.
    if (step === 'commit') expect(r.current).toBe(V2.version);
  });

  it('crash during rollback (v3 fails its health check) → ends on the previous version', { timeout: CASE_TIMEOUT_MS }, async () => {
    const r = await slot(() => crashCase('rollback', 'rollback', 'crash-v3', V3));
    results.set('rollback', r);
    expect(r.atCrash).toBe(V3.version); // crashed before the rollback switched current back
    expect(r.current).toBe(V1.version);
    expect(r.installed).toBe(V1.version);
    expect(r.final.hosts[0]!.state).toBe('rolled-back');
  });
});

// What recovery must also get right, checked on the agents the matrix left behind (each needs
// its matrix case above to have run).
describe('after the crash matrix', () => {
  function result(name: string): CaseResult {
    const r = results.get(name);
    if (!r) throw new Error(`the matrix case "${name}" did not complete; see its failure above`);
    return r;
  }

  // A crash after activation is recovered by a rollback, and a rollback runs the package's
  // rollback hook (the preinstall/postinstall may have changed things it must undo) — as it
  // does when the same steps fail without a crash.
  it.each([
    ['activate', '2.0.0'],
    ['postinstall', '2.0.0'],
    ['healthcheck', '2.0.0'],
    ['rollback', '3.0.0'],
  ])('recovering a crash at %s runs the rollback hook of %s', (name, version) => {
    const r = result(name);
    expect(r.current).toBe(V1.version);
    expect(r.hooks, JSON.stringify(r.hooks)).toContain(`rollback ${version}`);
  });

  // The journal keeps each installed package's manifest (drift check, hooks of a later
  // rollback, reinstalling a kept version): a recovered install must keep it too.
  it('every crashed agent passes `ferry-agent verify` (its journal manifests are whole)', async () => {
    const names = [...STEPS, 'rollback'];
    for (const name of names) result(name);
    const failures = (
      await mapLimit(names, 3, async (name) => {
        const verify = await runAgentCli(agents.get(name)!.stateDir, ['verify', '--json'], { allowFail: true });
        if (verify.code !== 0) return `${name}: exit ${verify.code}: ${verify.stderr.trim() || verify.stdout.trim()}`;
        const doc = verify.json<{ checked: number; drift: unknown[] }>();
        return doc.checked === 1 && doc.drift.length === 0 ? undefined : `${name}: ${JSON.stringify(doc)}`;
      })
    ).filter(Boolean);
    expect(failures, failures.join("\n")).toEqual([]);
  });

  it('a commit resumed after a crash can still be rolled back locally (`ferry-agent rollback`)', async () => {
    expect(result('commit').current).toBe(V2.version);
    const agent = agents.get('commit')!;
    const rb = await runAgentCli(agent.stateDir, ['rollback', PKG, '--json'], { allowFail: true });
    expect(rb.code, `ferry-agent rollback: ${rb.stderr}${rb.stdout}`).toBe(0);
    expect(readCurrent(agent.installRoot, PKG)).toBe(V1.version);
    expect(hookLog(agent.installRoot)).toContain('rollback 2.0.0');
  });
});
