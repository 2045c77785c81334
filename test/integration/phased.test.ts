// End-to-end tests of phased rollouts through the real CLIs: wave sizes and order, canary
// failure, fleet rollback, failures during soak, pause/resume, deployment windows and start
// times, a server SIGKILLed mid-wave, and the post-implementation review.
// Requires the compiled dist/ (`npx tsc -p .`) and nats-server on PATH.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanupFleet, createToken, initServer, joinAgent, pollAgents, runFerry, startAgents, startServer, tempDir, waitFor, type AgentHandle, type JoinedAgent, type ServerHandle } from '../helpers/fleet.js';
import { readCurrent, startRollout, waitRolloutEnd } from '../helpers/faults.js';
import {
  agentHistory,
  dryRun,
  endSoak,
  fullStatus,
  HEALTH_ERROR,
  healthPackage,
  packageHooks,
  buildAll,
  publishAll,
  reviewJson,
  setHealthFailure,
  startAndWait,
  waitStatus,
  waveStartCounts,
  type FullRolloutStatus,
  type HistoryEntry,
} from '../helpers/rollouts.js';
import type { FleetStatusReply } from '../../shared/protocol/replies.js';

afterAll(cleanupFleet, 60_000);

const PHASED = ['--strategy', 'phased', '--waves', '1,50%,100%'];
const IN_FLIGHT = ['sent', 'downloading', 'verifying', 'installing'];
const AGENT_ENV = { FERRY_HEALTH_WATCH_MS: '1000' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ms = (iso: string | null | undefined): number => {
  if (!iso) throw new Error(`expected a timestamp, got ${String(iso)}`);
  return Date.parse(iso);
};

/** What the server looked like when a test failed: process state, data directory, output. */
function serverDiagnostics(server: ServerHandle): string {
  const c = server.child;
  return [
    `--- ferry server (pid ${c.pid}): exitCode ${c.exitCode}, signal ${c.signalCode}; ${server.home} exists: ${existsSync(server.home)}, server.json/runtime present: ${existsSync(join(server.home, 'server.json'))}`,
    `--- ferry server output (tail) ---`,
    server.logs().slice(-6000),
    '',
  ].join('\n');
}

/** A fresh server with `n` agents (same tags: one stratum), health-watched every second. */
async function startFleet(n: number, prefix: string): Promise<{ server: ServerHandle; agents: AgentHandle[] }> {
  const server = await initServer();
  const token = await createToken(server.home, { uses: n, tags: { suite: 'phased' } });
  const joined = await Promise.all(Array.from({ length: n }, (_, i) => joinAgent(server.home, `${prefix}-${i + 1}`, { token })));
  return { server, agents: await startAgents(joined, { env: AGENT_ENV }) };
}

/** Expected per-wave sizes for cumulative waves 1, 50%, 100% of n hosts (empty waves dropped). */
function expectedSizes(n: number): number[] {
  const targets = [Math.min(1, n), Math.max(1, Math.ceil(n / 2)), n];
  const sizes: number[] = [];
  let reached = 0;
  for (const t of targets) {
    if (t > reached) sizes.push(t - reached);
    reached = Math.max(reached, t);
  }
  return sizes;
}

/** `ferry-agent history --json` of several agents at once, by agent id. */
async function historiesOf(list: JoinedAgent[]): Promise<Map<string, HistoryEntry[]>> {
  return new Map(await Promise.all(list.map(async (a) => [a.id, await agentHistory(a.stateDir)] as const)));
}

function wavesOf(s: FullRolloutStatus): Map<number, string[]> {
  const m = new Map<number, string[]>();
  for (const h of s.hosts) if (h.wave !== null) m.set(h.wave, [...(m.get(h.wave) ?? []), h.agent]);
  return m;
}

describe('phased rollouts: one shared server, four agents', () => {
  let server: ServerHandle;
  let home: string;
  let agents: AgentHandle[] = [];
  const byId = (id: string): JoinedAgent => {
    const a = agents.find((x) => x.agent.id === id);
    if (!a) throw new Error(`no agent ${id}`);
    return a.agent;
  };
  /** Rollouts the review test reads: one that completed, one that halted. */
  let completedId: string | undefined;
  let haltedId: string | undefined;
  let haltedCanary: string | undefined;
  /** The canary that test 3's fleet rollback returned to 1.0.0. */

  beforeAll(async () => {
    // Packages are built while the fleet starts, and published a few at a time: the CLIs are
    // the slow part of these tests.
    const specs = [
      healthPackage('ph1', '1.0.0'),
      healthPackage('ph2', '1.0.0'),
      healthPackage('ph2', '2.0.0'),
      healthPackage('ph3', '1.0.0'),
      healthPackage('ph3', '2.0.0'),
      healthPackage('ph4', '1.0.0'),
      healthPackage('ph5', '1.0.0'),
      healthPackage('ph6', '1.0.0'),
      healthPackage('ph6w', '1.0.0'),
      healthPackage('ph7', '1.0.0', { postinstallSleepS: 3 }),
      healthPackage('ph8', '1.0.0'),
    ];
    const [fleet, files] = await Promise.all([startFleet(4, 'ph'), buildAll(specs, 2)]);
    ({ server, agents } = fleet);
    home = server.home;
    await publishAll(home, files, [
      { name: 'ph1-r', packages: ['ph1@1.0.0'], rfc: 'CHG-2001' },
      { name: 'base', packages: ['ph2@1.0.0', 'ph3@1.0.0'] },
      { name: 'ph2-r', packages: ['ph2@2.0.0'] },
      { name: 'ph3-r', packages: ['ph3@2.0.0'] },
      ...['ph4', 'ph5', 'ph6', 'ph6w', 'ph7', 'ph8'].map((p) => ({ name: `${p}-r`, packages: [`${p}@1.0.0`] })),
    ]);
    // The "previous version" of tests 2 and 3, on every host.
    const { code, status, result } = await startAndWait(home, 'base', ['--strategy', 'big-bang']);
    if (code !== 0 || status.state !== 'completed') throw new Error(`baseline rollout did not complete (exit ${code}): ${JSON.stringify(status)}\n${result.stderr}`);
  }, 150_000);

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await server?.stop();
  }, 120_000);

  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail' && !ctx.task.fails && server) process.stderr.write(serverDiagnostics(server));
  });

  it('1. a phased rollout completes wave by wave: 1 host, then up to 50%, then the rest, each wave started once and after the previous one', async () => {
    const { code, status, result } = await startAndWait(home, 'ph1-r', PHASED);
    expect(code, result.stderr).toBe(0);
    expect(status.state).toBe('completed');
    completedId = status.id;

    const n = agents.length;
    expect(status.waves.map((w) => w.hosts)).toEqual(expectedSizes(n));
    expect(status.waves[0]!.hosts).toBe(1);
    expect(status.waves[0]!.hosts + status.waves[1]!.hosts).toBeLessThanOrEqual(Math.ceil(n / 2));
    expect(status.waves.reduce((s, w) => s + w.hosts, 0)).toBe(n);
    expect(status.waves.every((w) => w.state === 'completed' && w.succeeded === w.hosts && w.failed === 0)).toBe(true);
    expect(status.hosts.map((h) => h.state)).toEqual(status.hosts.map(() => 'succeeded'));
    for (const a of agents) expect(readCurrent(a.agent.installRoot, 'ph1')).toBe('1.0.0');

    const review = await reviewJson(home, status.id);
    const starts = waveStartCounts(review);
    expect([...starts.entries()].sort((a, b) => a[0] - b[0])).toEqual(status.waves.map((w) => [w.index + 1, 1]));
    for (let i = 1; i < review.waves.length; i++) {
      expect(ms(review.waves[i]!.startedAt)).toBeGreaterThanOrEqual(ms(review.waves[i - 1]!.endedAt));
      const started = review.timeline.find((e) => e.action === 'wave-started' && e.detail?.startsWith(`wave ${i + 1}:`))!;
      const prevDone = review.timeline.find((e) => e.action === 'wave-completed' && e.detail === `wave ${i}`);
      expect(prevDone, `wave ${i} has a wave-completed event`).toBeDefined();
      expect(ms(started.at)).toBeGreaterThanOrEqual(ms(prevDone!.at));
    }
    // On the hosts themselves: no host of wave N+1 began installing before wave N ended.
    const waves = wavesOf(status);
    const histories = await historiesOf(agents.map((a) => a.agent));
    for (const [wave, ids] of waves) {
      if (wave === 0) continue;
      for (const id of ids) {
        const ops = histories.get(id)!.filter((o) => o.package === 'ph1' && o.kind === 'install');
        expect(ops).toHaveLength(1);
        expect(ms(ops[0]!.startedAt)).toBeGreaterThanOrEqual(ms(review.waves[wave - 1]!.endedAt));
      }
    }
  });

  it('2. a canary whose health check fails halts the rollout before wave 2; --wait exits 6', async () => {
    for (const a of agents) expect(readCurrent(a.agent.installRoot, 'ph2')).toBe('1.0.0');
    const plan = await dryRun(home, 'ph2-r', PHASED);
    const canaryId = plan.hosts.find((h) => h.wave === 0)!.agent;
    const canary = byId(canaryId);
    setHealthFailure(canary.installRoot, 'ph2', true);
    try {
      const { code, status, result } = await startAndWait(home, 'ph2-r', PHASED);
      expect(code, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`).toBe(6);
      expect(result.stderr).toMatch(/FERRY_ROLLOUT_FAILED/);
      expect(status.state).toBe('halted');
      expect(status.reason).toMatch(/wave 1: 1 host\(s\) failed/);
      haltedId = status.id;
      haltedCanary = canaryId;

      // The plan shown by --dry-run is the plan that ran.
      expect(status.hosts.map((h) => [h.agent, h.wave]).sort()).toEqual(plan.hosts.map((h) => [h.agent, h.wave]).sort());
      const c = status.hosts.find((h) => h.agent === canaryId)!;
      expect(c.wave).toBe(0);
      expect(c.state).toBe('rolled-back');
      expect(c.error).toContain(HEALTH_ERROR);
      expect(status.waves[0]!.state).toBe('failed');
      expect(status.waves.slice(1).map((w) => w.state)).toEqual(status.waves.slice(1).map(() => 'pending'));

      // Still nothing sent to the later waves a little later (a halted rollout does not move).
      await sleep(1000);
      const later = await fullStatus(home, status.id);
      expect(later.state).toBe('halted');
      const rest = later.hosts.filter((h) => h.wave !== 0);
      expect(rest.length).toBe(agents.length - 1);
      expect(rest.map((h) => h.state)).toEqual(rest.map(() => 'pending'));
      expect(waveStartCounts(await reviewJson(home, status.id))).toEqual(new Map([[1, 1]]));

      const histories = await historiesOf(rest.map((h) => byId(h.agent)));
      for (const h of rest) {
        const a = byId(h.agent);
        expect(readCurrent(a.installRoot, 'ph2'), h.hostname).toBe('1.0.0');
        expect(existsSync(join(a.installRoot, 'ph2', '2.0.0')), h.hostname).toBe(false);
        expect(histories.get(a.id)!.filter((o) => o.package === 'ph2' && o.version === '2.0.0'), h.hostname).toEqual([]);
      }
      // The canary switched itself back and ran the new version's rollback hook.
      expect(readCurrent(canary.installRoot, 'ph2')).toBe('1.0.0');
      expect(packageHooks(canary.installRoot, 'ph2')).toContainEqual(['rollback', '2.0.0', '1.0.0']);
    } finally {
      setHealthFailure(canary.installRoot, 'ph2', false);
    }
  });

  it('8. review: Markdown (stdout and --out) and JSON, for a completed and for a halted rollout', async () => {
    expect(completedId, 'test 1 must have produced a completed rollout').toBeDefined();
    expect(haltedId, 'test 2 must have produced a halted rollout').toBeDefined();
    const sections = ['## Waves', '## Timeline', '## Failures', '## Rollbacks', '## Hosts that did not converge'];

    const out = join(tempDir('ferry-review-'), 'review.md');
    const [mdRun, wrote, done, hmdRun, halted] = await Promise.all([
      runFerry(home, ['rollout', 'review', completedId!]),
      runFerry(home, ['rollout', 'review', completedId!, '--out', out]),
      reviewJson(home, completedId!),
      runFerry(home, ['rollout', 'review', haltedId!]),
      reviewJson(home, haltedId!),
    ]);

    // Completed.
    const md = mdRun.stdout;
    for (const s of sections) expect(md).toContain(s);
    expect(md).toContain(`# Post-implementation review: rollout ${completedId}`);
    expect(md).toContain('CHG-2001');
    expect(md).toMatch(/\*\*completed\*\*/);
    expect(wrote.stdout).toContain(out);
    expect(readFileSync(out, 'utf8')).toBe(md);
    expect(done.state).toBe('completed');
    expect(done.rfc).toBe('CHG-2001');
    expect(done.failures).toEqual([]);
    expect(done.rollbacks).toEqual([]);
    expect(done.notConverged).toEqual([]);
    const succeeded = done.waves.reduce((s, w) => s + w.succeeded, 0);
    expect(succeeded).toBe(agents.length);
    expect(done.installTimeMs.count).toBe(succeeded);
    expect(done.installTimeMs.p50).toBeGreaterThan(0);
    expect(done.installTimeMs.max).toBeGreaterThanOrEqual(done.installTimeMs.p95!);
    expect(done.installTimeMs.p95).toBeGreaterThanOrEqual(done.installTimeMs.p50!);
    expect(done.timeline.map((e) => e.action)).toEqual(expect.arrayContaining(['created', 'wave-started', 'wave-completed', 'completed']));
    expect(done.timeline[0]!.action).toBe('created');
    expect(done.timeline[done.timeline.length - 1]!.action).toBe('completed');

    // Halted.
    const hmd = hmdRun.stdout;
    for (const s of sections) expect(hmd).toContain(s);
    expect(hmd).toMatch(/\*\*halted\*\*/);
    expect(halted.state).toBe('halted');
    expect(halted.failures).toHaveLength(1);
    const f = halted.failures[0]!;
    expect(f).toMatchObject({ agent: haltedCanary, wave: 0, state: 'rolled-back' });
    expect(f.error).toContain(HEALTH_ERROR);
    // The failure is listed in Markdown with its error line.
    const failuresSection = hmd.slice(hmd.indexOf('## Failures'), hmd.indexOf('## Rollbacks'));
    expect(failuresSection).toContain(f.hostname);
    expect(failuresSection).toContain(HEALTH_ERROR);
    expect(halted.installTimeMs.count).toBe(halted.waves.reduce((s, w) => s + w.succeeded, 0));
    expect(halted.installTimeMs.count).toBe(0);
    expect(halted.notConverged.map((h) => h.state).sort()).toEqual(['pending', 'pending', 'pending', 'rolled-back']);
    expect(halted.timeline.map((e) => e.action)).toContain('halted');
    const notConverged = hmd.slice(hmd.indexOf('## Hosts that did not converge'));
    for (const h of halted.notConverged) expect(notConverged).toContain(h.hostname);
  });

  it('3. --on-failure rollback: a wave-2 failure returns the canary to the previous version', async () => {
    for (const a of agents) expect(readCurrent(a.agent.installRoot, 'ph3')).toBe('1.0.0');
    const opts = [...PHASED, '--on-failure', 'rollback'];
    const plan = await dryRun(home, 'ph3-r', opts);
    const canaryId = plan.hosts.find((h) => h.wave === 0)!.agent;
    const badId = plan.hosts.find((h) => h.wave === 1)!.agent;
    const lastWave = plan.hosts.filter((h) => h.wave === 2).map((h) => h.agent);
    const canary = byId(canaryId);
    const bad = byId(badId);
    setHealthFailure(bad.installRoot, 'ph3', true);
    try {
      const { code, status, result } = await startAndWait(home, 'ph3-r', opts);
      expect(code, result.stderr).toBe(6);
      expect(status.state).toBe('rolled-back');
      expect(status.reason).toMatch(/wave 2/);
      const state = (id: string) => status.hosts.find((h) => h.agent === id)!;
      expect(state(canaryId).wave).toBe(0);
      expect(state(canaryId).state).toBe('rolled-back');
      expect(state(badId).wave).toBe(1);
      expect(state(badId).state).toBe('rolled-back');
      expect(state(badId).error).toContain(HEALTH_ERROR);
      // The last wave never runs: it ends aborted, its hosts skipped (never sent), not pending for ever.
      for (const id of lastWave) expect(state(id)).toMatchObject({ state: 'skipped', reason: 'not sent: the rollout was rolled back' });
      expect(status.waves.map((w) => w.state)).toEqual(['completed', 'failed', 'aborted']);
      // The canary was sent back by the fleet rollback: not a failure (wave tally, failing hosts); the bad host is.
      expect(state(canaryId).cause).toBe('fleet-rollback');
      expect(status.waves[0]).toMatchObject({ succeeded: 0, failed: 0 });
      const text = (await runFerry(home, ['rollout', 'status', status.id], { env: { COLUMNS: '200' } })).stdout;
      expect(text).toContain(`Failing hosts (1):\n  ${state(badId).hostname}: `);
      expect(text).toMatch(/wave 1 +completed .*1 sent back by the fleet rollback/);
      expect(text).not.toMatch(/pending/);

      // Every host is on the previous version: on disk and in the CMDB.
      for (const a of agents) expect(readCurrent(a.agent.installRoot, 'ph3'), a.agent.hostname).toBe('1.0.0');
      await waitFor(async () => (await pollAgents(home)).every((a) => a.installed.ph3 === '1.0.0'), 15_000, { message: 'agents list shows ph3@1.0.0 everywhere' });
      // The last wave never received 2.0.0.
      const lastHistories = await historiesOf(lastWave.map(byId));
      for (const id of lastWave) expect(lastHistories.get(id)!.filter((o) => o.package === 'ph3' && o.version === '2.0.0')).toEqual([]);
      // The failing host rolled itself back (rollback hook of 2.0.0).
      expect(packageHooks(bad.installRoot, 'ph3')).toContainEqual(['rollback', '2.0.0', '1.0.0']);
      // The canary had 2.0.0 committed and was sent back to 1.0.0 by the fleet rollback.
      const canaryHooks = packageHooks(canary.installRoot, 'ph3');
      expect(canaryHooks).toContainEqual(['postinstall', '2.0.0', '1.0.0']);
      const canaryOps = (await agentHistory(canary.stateDir)).filter((o) => o.package === 'ph3');
      expect(canaryOps.find((o) => o.version === '2.0.0' && o.kind === 'install')?.step).toBe('done');
      // The fleet rollback switched the canary back to its kept 1.0.0 (a rollback operation).
      expect(canaryOps.find((o) => o.operation === `${status.id}:rollback`)).toMatchObject({ kind: 'rollback', step: 'rolled-back', version: '1.0.0' });
      // ...and ran the rollback hook of the version it left (regression: it used to be a plain
      // downgrade install that skipped the hook).
      expect(packageHooks(canary.installRoot, 'ph3')).toContainEqual(['rollback', '2.0.0', '1.0.0']);

      const review = await reviewJson(home, status.id);
      expect(review.timeline.map((e) => e.action)).toEqual(expect.arrayContaining(['halted', 'rollback-started', 'rolled-back']));
      expect(review.rollbacks.map((r) => r.agent)).toContain(canaryId);
      // The fleet is back where it was: neither the canary (sent back) nor the host that undid the
      // release itself (its rollout has been rolled back as a whole) is failing now.
      const fleet = (await runFerry(home, ['status', '--json'])).json<FleetStatusReply>();
      expect(fleet.failing.map((f) => f.id)).not.toContain(canaryId);
      expect(fleet.failing.map((f) => f.id)).not.toContain(badId);
    } finally {
      setHealthFailure(bad.installRoot, 'ph3', false);
    }
  });

  it('4. a health check failing during the soak halts the rollout; wave 2 never starts', async () => {
    // A long soak: the halt must come well before it ends, however busy the machine (a halt ends the wait).
    const id = await startRollout(home, 'ph4-r', 'all', [...PHASED, '--soak', '90s']);
    const soaking = await waitStatus(home, id, (s) => s.waves[0]?.state === 'soaking', 20_000, 'wave 1 soaking');
    const c = soaking.hosts.find((h) => h.wave === 0)!;
    expect(c.state).toBe('succeeded');
    expect(ms(soaking.waves[0]!.soakUntil)).toBeGreaterThan(Date.now() + 15_000);
    const canary = byId(c.agent);
    expect(readCurrent(canary.installRoot, 'ph4')).toBe('1.0.0');
    setHealthFailure(canary.installRoot, 'ph4', true);
    try {
      const final = await waitStatus(home, id, (s) => s.state === 'halted' && !!s.endedAt, 20_000, 'halted after the soak failure');
      // Well before the soak would have ended.
      expect(ms(final.endedAt)).toBeLessThan(ms(soaking.waves[0]!.soakUntil));
      expect(final.reason).toMatch(/wave 1: 1 host\(s\) failed/);
      const fc = final.hosts.find((h) => h.agent === c.agent)!;
      expect(fc.state).toBe('rolled-back');
      expect(fc.error).toMatch(/health check failed during soak/);
      expect(fc.error).toContain(HEALTH_ERROR);
      expect(final.waves.map((w) => w.state)).toEqual(['failed', 'pending', 'pending']);
      const rest = final.hosts.filter((h) => h.wave !== 0);
      expect(rest.map((h) => h.state)).toEqual(rest.map(() => 'pending'));
      expect(waveStartCounts(await reviewJson(home, id))).toEqual(new Map([[1, 1]]));
      // The canary had no earlier version: the package is unlinked, and its rollback hook ran.
      expect(readCurrent(canary.installRoot, 'ph4')).toBeUndefined();
      expect(packageHooks(canary.installRoot, 'ph4').map((h) => h[0])).toContain('rollback');
      const ops = (await agentHistory(canary.stateDir)).filter((o) => o.package === 'ph4');
      expect(ops.find((o) => o.kind === 'rollback')).toMatchObject({ operation: id, step: 'rolled-back' });
      const histories = await historiesOf(rest.map((h) => byId(h.agent)));
      for (const h of rest) expect(histories.get(h.agent)!.filter((o) => o.package === 'ph4'), h.hostname).toEqual([]);
    } finally {
      setHealthFailure(canary.installRoot, 'ph4', false);
    }
  });

  it('5. pause while soaking holds the next wave past the soak; resume completes; the timeline names the operator', async () => {
    // A person with the deployer role (issue 18): the name on the timeline is the one their key proves.
    const patCreds = join(tempDir('ferry-pat-'), 'pat.creds');
    await runFerry(home, ['operator', 'add', 'pat-operator', '--role', 'deployer', '--out', patCreds]);
    // Two waves (1 host, then the rest) with a soak long enough to pause in, even on a busy machine
    // (6 s was not: the CLI's pause arrived after the soak had ended under a CPU hog); the test
    // ends it once paused, and wave 2's once it soaks, instead of waiting them out.
    const id = await startRollout(home, 'ph5-r', 'all', ['--strategy', 'phased', '--waves', '1,100%', '--soak', '120s']);
    const soaking = await waitStatus(home, id, (s) => s.waves[0]?.state === 'soaking', 20_000, 'wave 1 soaking');
    const operator = { FERRY_CREDS: patCreds, USER: 'somebody-else' };
    const paused = (await runFerry(home, ['rollout', 'pause', id, '--json'], { env: operator })).json<FullRolloutStatus>();
    expect(paused.state).toBe('paused');
    expect(paused.reason).toContain('pat-operator');
    // Paused: said as such, in the soak and after it; no countdown to a wave that will not start.
    const pausedViews = async () => {
      const [fleet, text] = await Promise.all([runFerry(home, ['status', '--json']), runFerry(home, ['rollout', 'status', id], { env: { COLUMNS: '200' } })]);
      expect(fleet.json<FleetStatusReply>().rollouts.find((r) => r.id === id)?.next).toEqual({ event: `paused — ferry rollout resume ${id}`, at: null });
      expect(text.stdout).toContain(`paused: no wave starts until: ferry rollout resume ${id}`);
      expect(text.stdout).not.toMatch(/ago/);
      return text.stdout;
    };
    expect(await pausedViews()).toMatch(/wave 1 +soaking .*soak ends in .* — paused/);
    // Pausing again names only what an operator can run.
    const again = await runFerry(home, ['rollout', 'pause', id], { allowFail: true });
    expect(again.code).toBe(4);
    expect(again.stderr.trim()).toBe(`FERRY_CONFLICT: cannot pause rollout ${id}: it is paused — hint: a paused rollout allows: resume, abort, rollback (ferry rollout ACTION ${id})`);

    // Past the end of the soak: nothing more starts while paused.
    expect(ms(soaking.waves[0]!.soakUntil)).toBeGreaterThan(Date.now());
    await endSoak(home, id);
    await sleep(2000);
    const held = await fullStatus(home, id);
    expect(held.state).toBe('paused');
    expect(held.waves[0]!.state).toBe('soaking'); // judged once resumed
    expect(await pausedViews()).toMatch(/wave 1 +soaking .*soak over — paused/);
    expect(held.waves[1]!.state).toBe('pending');
    const rest = held.hosts.filter((h) => h.wave !== 0);
    expect(rest.map((h) => h.state)).toEqual(rest.map(() => 'pending'));
    expect(waveStartCounts(await reviewJson(home, id))).toEqual(new Map([[1, 1]]));

    const resumed = (await runFerry(home, ['rollout', 'resume', id, '--json'], { env: operator })).json<FullRolloutStatus>();
    expect(['running', 'completed']).toContain(resumed.state);
    await endSoak(home, id); // wave 2's: the last wave soaks too
    const final = await waitRolloutEnd(home, id, 40_000);
    expect(final.state).toBe('completed');

    const review = await reviewJson(home, id);
    const pause = review.timeline.find((e) => e.action === 'pause');
    const resume = review.timeline.find((e) => e.action === 'resume');
    expect(pause).toMatchObject({ actor: 'pat-operator' });
    expect(resume).toMatchObject({ actor: 'pat-operator' });
    expect(ms(resume!.at)).toBeGreaterThan(ms(pause!.at));
    const wave2 = review.timeline.find((e) => e.action === 'wave-started' && e.detail?.startsWith('wave 2:'))!;
    expect(ms(wave2.at)).toBeGreaterThanOrEqual(ms(resume!.at));
    expect([...waveStartCounts(review).entries()]).toEqual([
      [1, 1],
      [2, 1],
    ]);
  });

  it('6. a rollout outside its window waits (and can be aborted); --start-at +4s waits, then completes', async () => {
    // The scheduled rollout (ph6) is started first; while it waits its 4 s, a rollout of another
    // package (ph6w) outside its window is checked and aborted.
    const t0 = Date.now();
    const sched = (await runFerry(home, ['rollout', 'start', 'ph6-r', ...PHASED, '--start-at', '+4s', '--json'])).json<{ id: string; state: string }>();
    expect(sched.state).toBe('waiting');
    // On a busy machine the 4 s may be over before a status is read: a status read in time
    // shows the wait; the timeline (checked below) records it either way.
    const s = await fullStatus(home, sched.id);
    if (s.state === 'waiting') {
      expect(s.reason).toMatch(/scheduled to start at/);
      expect(s.hosts.map((h) => h.state)).toEqual(s.hosts.map(() => 'pending'));
    }

    // Two days ahead in UTC: not today, even if the test runs across midnight.
    const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][(new Date().getUTCDay() + 2) % 7]!;
    const started = (await runFerry(home, ['rollout', 'start', 'ph6w-r', ...PHASED, '--window', day, '--timezone', 'UTC', '--json'])).json<{ id: string; state: string }>();
    expect(started.state).toBe('waiting');
    await sleep(500);
    const waiting = await fullStatus(home, started.id);
    expect(waiting.state).toBe('waiting');
    expect(waiting.reason).toMatch(/window/);
    expect(waiting.reason).toContain(day);
    expect(waiting.waves.map((w) => w.state)).toEqual(waiting.waves.map(() => 'pending'));
    expect(waiting.hosts.map((h) => h.state)).toEqual(waiting.hosts.map(() => 'pending'));
    const aborted = (await runFerry(home, ['rollout', 'abort', started.id, '--json'])).json<FullRolloutStatus>();
    expect(aborted.state).toBe('aborted');

    // The scheduled one runs to completion on its own.
    const final = await waitRolloutEnd(home, sched.id, 40_000);
    expect(final.state).toBe('completed');
    const [review, abortReview, after, histories] = await Promise.all([reviewJson(home, sched.id), reviewJson(home, started.id), fullStatus(home, started.id), historiesOf(agents.map((a) => a.agent))]);
    const actions = review.timeline.map((e) => e.action);
    expect(actions.indexOf('waiting')).toBeGreaterThanOrEqual(0);
    const waited = review.timeline.find((e) => e.action === 'waiting')!;
    expect(waited.detail).toMatch(/^scheduled to start at /);
    const startAt = ms(/start at (\S+)/.exec(waited.detail!)![1]);
    expect(startAt).toBeGreaterThanOrEqual(t0 + 3000);
    expect(actions.indexOf('window-open')).toBeGreaterThan(actions.indexOf('waiting'));
    const firstWave = review.timeline.find((e) => e.action === 'wave-started')!;
    expect(ms(firstWave.at)).toBeGreaterThanOrEqual(startAt);
    expect([...waveStartCounts(review).values()]).toEqual([1, 1, 1]);
    for (const a of agents) expect(readCurrent(a.agent.installRoot, 'ph6')).toBe('1.0.0');

    // The aborted one never sent anything, seconds later: its hosts are skipped, its waves ended.
    expect(after.state).toBe('aborted');
    expect(after.hosts.map((h) => [h.state, h.reason])).toEqual(after.hosts.map(() => ['skipped', 'not sent: the rollout was aborted by admin']));
    expect(after.waves.map((w) => w.state)).toEqual(after.waves.map(() => 'aborted'));
    const again = await runFerry(home, ['rollout', 'abort', started.id], { allowFail: true });
    expect(again.code).toBe(4);
    expect(again.stderr).toContain(`hint: an aborted rollout allows: rollback (ferry rollout rollback ${started.id})`);
    expect(abortReview.timeline.map((e) => e.action)).toEqual(expect.arrayContaining(['waiting', 'abort']));
    expect(abortReview.timeline.map((e) => e.action)).not.toContain('wave-started');
    for (const a of agents) {
      expect(histories.get(a.agent.id)!.filter((o) => o.package === 'ph6w'), a.agent.hostname).toEqual([]);
      expect(readCurrent(a.agent.installRoot, 'ph6w'), a.agent.hostname).toBeUndefined();
    }
  });

  it('9. aborted in a soak: its waves end, the hosts never sent are skipped, no countdown; a fleet rollback then undoes the canary, which is not failing', async () => {
    const id = await startRollout(home, 'ph8-r', 'all', [...PHASED, '--soak', '120s']);
    const soaking = await waitStatus(home, id, (s) => s.waves[0]?.state === 'soaking', 20_000, 'wave 1 soaking');
    const canary = soaking.hosts.find((h) => h.wave === 0)!;
    const aborted = (await runFerry(home, ['rollout', 'abort', id, '--json'])).json<FullRolloutStatus>();
    expect(aborted.state).toBe('aborted');
    expect(aborted.waves.map((w) => w.state)).toEqual(['aborted', 'aborted', 'aborted']);
    expect(aborted.hosts.find((h) => h.agent === canary.agent)!.state).toBe('succeeded');
    const rest = aborted.hosts.filter((h) => h.agent !== canary.agent);
    expect(rest.map((h) => [h.state, h.reason])).toEqual(rest.map(() => ['skipped', 'not sent: the rollout was aborted by admin']));
    expect(aborted.counts).toEqual({ succeeded: 1, skipped: agents.length - 1 });
    const text = (await runFerry(home, ['rollout', 'status', id], { env: { COLUMNS: '200' } })).stdout;
    expect(text).not.toMatch(/soak|pending/);

    // The rollback of an aborted rollout still reaches the host it changed (and only that one).
    await runFerry(home, ['rollout', 'rollback', id]);
    const back = await waitStatus(home, id, (s) => s.state === 'rolled-back', 30_000, 'fleet rollback done');
    expect(back.hosts.map((h) => [h.agent, h.state, h.cause])).toEqual(aborted.hosts.map((h) => (h.agent === canary.agent ? [h.agent, 'rolled-back', 'fleet-rollback'] : [h.agent, 'skipped', undefined])));
    expect(back.waves.map((w) => w.state)).toEqual(['aborted', 'aborted', 'aborted']);
    expect(readCurrent(byId(canary.agent).installRoot, 'ph8')).toBeUndefined(); // no earlier version: removed
    const [fleet, after] = await Promise.all([runFerry(home, ['status', '--json']), runFerry(home, ['rollout', 'status', id], { env: { COLUMNS: '200' } })]);
    expect(fleet.json<FleetStatusReply>().failing.map((f) => f.id)).not.toContain(canary.agent);
    expect(after.stdout).not.toContain('Failing hosts');
    const histories = await historiesOf(rest.map((h) => byId(h.agent)));
    for (const h of rest) expect(histories.get(h.agent)!.filter((o) => o.package === 'ph8'), h.hostname).toEqual([]);
  });

  it('7. the rollout completes after a restart; each wave started once; no host installed twice', async () => {
    const id = await startRollout(home, 'ph7-r', 'all', PHASED);
    // Wave 2's host is in the middle of its (slow: postinstall sleeps 3 s) install.
    const mid = await waitStatus(home, id, (s) => s.waves[1]?.state === 'running' && s.hosts.some((h) => h.wave === 1 && IN_FLIGHT.includes(h.state)), 30_000, 'wave 2 in flight');
    expect(mid.waves[0]!.state).toBe('completed');
    const port = server.port;
    await server.kill();
    expect(server.child.signalCode).toBe('SIGKILL');
    await sleep(500);
    server = await startServer(home, { listen: `127.0.0.1:${port}` });

    const final = await waitRolloutEnd(home, id, 60_000);
    expect(final.state).toBe('completed');
    expect(final.hosts.map((h) => h.state)).toEqual(final.hosts.map(() => 'succeeded'));
    const review = await reviewJson(home, id);
    expect([...waveStartCounts(review).entries()].sort((a, b) => a[0] - b[0])).toEqual([
      [1, 1],
      [2, 1],
      [3, 1],
    ]);
    const histories = await historiesOf(agents.map((a) => a.agent));
    for (const a of agents) {
      const installs = histories.get(a.agent.id)!.filter((o) => o.package === 'ph7' && o.version === '1.0.0' && o.kind === 'install');
      expect(installs.filter((o) => o.step === 'done'), a.agent.hostname).toHaveLength(1);
      expect(installs, a.agent.hostname).toHaveLength(1);
      expect(packageHooks(a.agent.installRoot, 'ph7').filter((h) => h[0] === 'postinstall'), a.agent.hostname).toHaveLength(1);
      expect(readCurrent(a.agent.installRoot, 'ph7')).toBe('1.0.0');
    }
  });
});
