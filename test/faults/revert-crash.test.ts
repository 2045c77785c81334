// The crash matrix for reverts — every way the agent switches a package back to a kept version:
// an operator's `ferry-agent rollback` (asked of the daemon, or alone with no daemon), a health
// check failing during the soak, a release undone package by package, and the journal's side of a
// self-update that did not confirm. A real agent (the crash harness, test/helpers/crash-agent.mjs)
// is SIGKILLed right after it saved each revert step, then restarted normally. The host must end on
// the version the revert was going to, `current`, the journal and the server agreeing — never on
// the version it was leaving while reporting rolled-back.
//
// One server; every case has its own agent (tag case=<name>), all brought to their starting point
// by a few rollouts in beforeAll.
import { existsSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats } from '../../shared/nats/connect.js';
import { readCredsFile } from '../../shared/nats/creds.js';
import { REPORT_CONSUMER, REPORT_STREAM, subjects } from '../../shared/protocol/subjects.js';
import { apiRequest, cleanupFleet, createToken, initServer, joinAgent, listAgents, pollAgents, runAgentCli, runFerry, startAgent, startAgents, waitFor, type JoinedAgent, type PackageSpec, type ServerHandle } from '../helpers/fleet.js';
import {
  CRASH_AGENT_BIN,
  agentStatus,
  appliedGeneration,
  cmdbHistory,
  createRelease,
  hookLog,
  hookScript,
  limiter,
  mapLimit,
  pendingReports,
  publishPackage,
  readCurrent,
  rolloutStatus,
  startCrashingAgent,
  startRollout,
  unfinishedOperations,
  versionDirProblems,
  waitAgentSettled,
  waitExit,
  waitRolloutEnd,
  type RolloutDoc,
} from '../helpers/faults.js';

const AGENT_ENV = { FERRY_DESIRED_POLL_MS: '1000', FERRY_HEARTBEAT_MS: '500', FERRY_HEALTH_WATCH_MS: '300' };
/** The revert steps a crash can hit (revert-fetch only runs for a modified kept version: its own case). */
const STEPS = ['revert-verify', 'revert-switch', 'revert-hook', 'revert-commit'] as const;
/** `current` at the moment of the crash: the step is saved before it runs. */
const SWITCHED = (step: string) => step === 'revert-hook' || step === 'revert-commit';

function app(name: string, version: string, opts: { health?: 'marker' | 'fail'; depends?: Record<string, string> } = {}): PackageSpec {
  // 'marker': healthy until $FERRY_ROOT/unhealthy exists (turns unhealthy during the soak).
  const health = opts.health === 'fail' ? hookScript(1) : `#!/bin/sh\n[ -e "$FERRY_ROOT/unhealthy" ] && exit 1\nexit 0\n`;
  return {
    name,
    version,
    files: { 'bin/app': `#!/bin/sh\necho ${name} ${version}\n`, 'etc/app.conf': `version=${version}\n${'z'.repeat(1500)}\n`, 'hooks/rollback': hookScript(), 'hooks/healthcheck': health },
    executable: ['bin/app'],
    hooks: { rollback: 'hooks/rollback', healthcheck: 'hooks/healthcheck' },
    healthcheck: { retries: 1, intervalSeconds: 1 },
    hookTimeoutSeconds: 20,
    ...(opts.depends ? { depends: opts.depends } : {}),
  };
}

const REV1 = app('revapp', '1.0.0');
const REV2 = app('revapp', '2.0.0');
const BASE1 = app('base', '1.0.0');
const BASE2 = app('base', '2.0.0');
const TOP1 = app('top', '1.0.0', { depends: { base: '>=1.0.0' } });
const TOP2 = app('top', '2.0.0', { depends: { base: '>=1.0.0' }, health: 'fail' }); // fails its install health check
const AGENT1 = app('ferry-agent', '1.0.0');
const AGENT2 = app('ferry-agent', '1.1.0');

type Group = 'local' | 'soak' | 'undo' | 'self';
const CASES: { name: string; group: Group; step: string }[] = [
  ...STEPS.map((step) => ({ name: `local-${step}`, group: 'local' as const, step })),
  { name: 'local-revert-fetch', group: 'local', step: 'revert-fetch' },
  ...STEPS.map((step) => ({ name: `alone-${step}`, group: 'local' as const, step })),
  ...STEPS.map((step) => ({ name: `soak-${step}`, group: 'soak' as const, step })),
  ...STEPS.map((step) => ({ name: `undo-${step}`, group: 'undo' as const, step })),
  ...STEPS.map((step) => ({ name: `self-${step}`, group: 'self' as const, step })),
];

let server: ServerHandle;
const agents = new Map<string, JoinedAgent>();
/** the rollout that installed ferry-agent 1.1.0 on the self-update agents */
let agentRollout: string;

beforeAll(async () => {
  server = await initServer({ env: { FERRY_LOG_LEVEL: 'debug' } });
  const home = server.home;
  // The packages and releases, and the agents, a few CLI calls at a time.
  const published = (async () => {
    await mapLimit([REV1, REV2, BASE1, BASE2, TOP1, TOP2, AGENT1, AGENT2], 3, (s) => publishPackage(home, s));
    await Promise.all([
      createRelease(home, 'rev-start', ['revapp@1.0.0', 'base@1.0.0', 'top@1.0.0', 'ferry-agent@1.0.0']),
      createRelease(home, 'rev-v2', ['revapp@2.0.0']),
      createRelease(home, 'undo-v2', ['base@2.0.0', 'top@2.0.0']),
      createRelease(home, 'agent-1.1.0', ['ferry-agent@1.1.0']),
    ]);
  })();
  const token = await createToken(home, { uses: CASES.length });
  const joined = await mapLimit(CASES, 3, (c) => joinAgent(home, `rev-${c.name}`, { tags: { case: c.name, group: c.group }, token }));
  joined.forEach((a, i) => agents.set(CASES[i]!.name, a));
  const [running] = await Promise.all([startAgents(joined, { env: AGENT_ENV, timeoutMs: 60_000 }), published]);
  const start = (await runFerry(home, ['rollout', 'start', 'rev-start', '--wait', '--timeout', '90s', '--json'])).json<RolloutDoc>();
  expect(start.state, JSON.stringify(start.hosts)).toBe('completed');
  // local: on revapp 2.0.0 with 1.0.0 kept; self: on ferry-agent 1.1.0 with 1.0.0 kept (other hosts: at once).
  const [local, self] = (
    await Promise.all([
      runFerry(home, ['rollout', 'start', 'rev-v2', '--target', 'group=local', '--wait', '--timeout', '90s', '--json']),
      runFerry(home, ['rollout', 'start', 'agent-1.1.0', '--target', 'group=self', '--wait', '--timeout', '90s', '--json']),
    ])
  ).map((r) => r.json<RolloutDoc>()) as [RolloutDoc, RolloutDoc];
  expect(local.state).toBe('completed');
  expect(self.state).toBe('completed');
  agentRollout = self.id;
  await Promise.all(running.map((r) => r.stop()));
}, 300_000);

afterAll(cleanupFleet, 60_000);

/** The daemon's control socket is up (it serves `ferry-agent rollback` once recovery is done). */
function socketUp(agent: JoinedAgent): boolean {
  return existsSync(join(agent.stateDir, 'run', 'agent.sock'));
}

async function expectCrashed(child: Parameters<typeof waitExit>[0], logs: () => string, at: string): Promise<void> {
  const exit = await waitExit(child, 40_000).catch((err: Error) => {
    throw new Error(`${err.message}; the agent did not crash at ${at}:\n${logs()}`);
  });
  expect(exit.signal, logs()).toBe('SIGKILL');
}

/** Restart normally and wait until the agent finished every operation and sent every report. */
async function restartAndSettle(agent: JoinedAgent, settledGeneration?: number): Promise<void> {
  const restarted = await startAgent(agent, { waitOnline: false, env: AGENT_ENV });
  try {
    if (settledGeneration !== undefined) await waitAgentSettled(server.home, agent, settledGeneration, 60_000);
    else await waitFor(() => socketUp(agent) && unfinishedOperations(agent.stateDir).length === 0 && pendingReports(agent.stateDir) === 0, 40_000, { message: 'agent did not settle' });
  } catch (err) {
    throw new Error(`${(err as Error).message}\nagent output:\n${restarted.logs()}`);
  } finally {
    await restarted.stop();
  }
}

/** The server's log lines that name this agent or its reports (for a failure message). */
function serverLogAbout(agentId: string): string {
  return server.logs().split('\n').filter((l) => l.includes(agentId) || /report/.test(l)).slice(-30).join('\n');
}

/** Where the server's report consumer stands, and this agent's last status report in the stream. */
async function reportStreamState(agentId: string): Promise<string> {
  const nc = await connectNats({ url: server.url, creds: readCredsFile(join(server.home, 'keys', 'admin.creds')), name: 'test-diagnostics' });
  try {
    const jsm = await jetstreamManager(nc);
    const c = await jsm.consumers.info(REPORT_STREAM, REPORT_CONSUMER);
    const last = await jsm.streams.getMessage(REPORT_STREAM, { last_by_subj: subjects.status(agentId) }).catch(() => null);
    const report = last ? (JSON.parse(new TextDecoder().decode(last.data)) as { operation: string; state: string; installed: unknown }) : null;
    return JSON.stringify({
      consumer: { delivered: c.delivered.stream_seq, ackFloor: c.ack_floor.stream_seq, pending: c.num_pending, ackPending: c.num_ack_pending, redelivered: c.num_redelivered, waiting: c.num_waiting },
      lastStatus: last ? { seq: last.seq, operation: report?.operation, state: report?.state, installed: report?.installed } : null,
    });
  } catch (err) {
    return `unavailable: ${(err as Error).message}`;
  } finally {
    await nc.close();
  }
}

/** current, the journal and the server (CMDB) all say `version`; the last operation is a finished revert to it. */
async function expectRevertedTo(agent: JoinedAgent, pkg: string, version: string, from: string, spec: PackageSpec): Promise<void> {
  const status = await agentStatus(agent.stateDir);
  const detail = JSON.stringify({ current: readCurrent(agent.installRoot, pkg), installed: status.installed, ops: status.operations.slice(0, 3) }, null, 2);
  expect(readCurrent(agent.installRoot, pkg), detail).toBe(version);
  expect(status.installed[pkg], detail).toBe(version);
  expect(versionDirProblems(agent.installRoot, spec), detail).toEqual([]);
  expect(unfinishedOperations(agent.stateDir), detail).toEqual([]);
  const revert = status.operations.find((o) => o.package === pkg && o.kind === 'rollback');
  expect(revert, detail).toMatchObject({ version, from, step: 'rolled-back' });
  let seen: unknown;
  try {
    await waitFor(async () => (seen = (await pollAgents(server.home)).find((a) => a.id === agent.id)?.installed)?.[pkg as never] === version, 60_000, {
      message: () => `the server does not show ${pkg}@${version} on ${agent.hostname}: ${JSON.stringify(seen)}\nserver log about it:\n${serverLogAbout(agent.id)}`,
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}\nreport stream: ${await reportStreamState(agent.id)}`);
  }
  const history = await cmdbHistory(server.home, agent.id);
  // An operator's `ferry-agent rollback` is a rollback that succeeded; a revert the agent made of
  // itself (soak, self-update) is the install it undid, rolled back.
  const recorded = revert!.operation.startsWith('local-rollback-') ? { kind: 'rollback', result: 'succeeded' } : { kind: 'install', result: 'rolled-back' };
  expect(history.find((h) => h.package === pkg && h.operation === revert!.operation), JSON.stringify(history.slice(0, 5))).toMatchObject({ ...recorded, version, fromVersion: from });
}

const slot = limiter(3);
const CASE_TIMEOUT_MS = 200_000;

describe.concurrent('revert crash matrix: ferry-agent rollback, asked of the running daemon', () => {
  it.each(STEPS)('daemon killed after saving %s → on 1.0.0, reported rolled-back', { timeout: CASE_TIMEOUT_MS }, (step) =>
    slot(async () => {
      const agent = agents.get(`local-${step}`)!;
      const crashing = await startCrashingAgent(agent, `rollback:${step}`, AGENT_ENV);
      await waitFor(() => socketUp(agent) || crashing.child.exitCode !== null, 30_000, { message: () => `no control socket:\n${crashing.logs()}` });
      const cli = await runAgentCli(agent.stateDir, ['rollback', 'revapp', '--json'], { allowFail: true });
      // The daemon died before it answered: a clear error, not a claim of success.
      expect(cli.code, cli.stdout + cli.stderr).toBe(5);
      expect(cli.stderr).toMatch(/^FERRY_AGENT_UNREACHABLE: the agent daemon closed .*agent\.sock without a valid answer/);
      await expectCrashed(crashing.child, crashing.logs, step);
      expect(readCurrent(agent.installRoot, 'revapp')).toBe(SWITCHED(step) ? '1.0.0' : '2.0.0');
      await restartAndSettle(agent);
      await expectRevertedTo(agent, 'revapp', '1.0.0', '2.0.0', REV1);
      expect(hookLog(agent.installRoot)).toContain('rollback 2.0.0');
    }),
  );

  it('daemon killed while fetching a modified kept version again → fetched, verified, on 1.0.0', { timeout: CASE_TIMEOUT_MS }, () =>
    slot(async () => {
      const agent = agents.get('local-revert-fetch')!;
      writeFileSync(join(agent.installRoot, 'revapp', '1.0.0', 'etc', 'app.conf'), 'tampered\n');
      const crashing = await startCrashingAgent(agent, 'rollback:revert-fetch', AGENT_ENV);
      await waitFor(() => socketUp(agent), 30_000, { message: () => `no control socket:\n${crashing.logs()}` });
      const cli = await runAgentCli(agent.stateDir, ['rollback', 'revapp'], { allowFail: true });
      expect(cli.code).toBe(5);
      await expectCrashed(crashing.child, crashing.logs, 'revert-fetch');
      expect(readCurrent(agent.installRoot, 'revapp')).toBe('2.0.0'); // nothing unverified was activated
      await restartAndSettle(agent);
      await expectRevertedTo(agent, 'revapp', '1.0.0', '2.0.0', REV1);
      expect(readFileSync(join(agent.installRoot, 'revapp', 'current', 'etc', 'app.conf'), 'utf8')).toBe(REV1.files['etc/app.conf']);
    }),
  );

  it.each(STEPS)('ferry-agent rollback alone (no daemon) killed after saving %s → the daemon finishes it', { timeout: CASE_TIMEOUT_MS }, (step) =>
    slot(async () => {
      const agent = agents.get(`alone-${step}`)!;
      const cli = await runAgentCli(agent.stateDir, ['rollback', 'revapp'], { allowFail: true, entry: CRASH_AGENT_BIN, env: { FERRY_HARNESS_CRASH_AT: `rollback:${step}` } });
      expect(cli.signal, cli.stdout + cli.stderr).toBe('SIGKILL');
      expect(readCurrent(agent.installRoot, 'revapp')).toBe(SWITCHED(step) ? '1.0.0' : '2.0.0');
      await restartAndSettle(agent);
      await expectRevertedTo(agent, 'revapp', '1.0.0', '2.0.0', REV1);
    }),
  );
});

describe.concurrent('revert crash matrix: a health check failing during the soak', () => {
  it.each(STEPS)('killed after saving %s → on 1.0.0, the rollout host rolled back', { timeout: CASE_TIMEOUT_MS }, (step) =>
    slot(async () => {
      const name = `soak-${step}`;
      const agent = agents.get(name)!;
      const crashing = await startCrashingAgent(agent, `rollback:${step}`, AGENT_ENV);
      const id = await startRollout(server.home, 'rev-v2', `case=${name}`, ['--include-offline', '--soak', '10m']);
      const host = () => rolloutStatus(server.home, id).then((s) => s.hosts.find((h) => h.agent === agent.id));
      await waitFor(async () => (await host())?.state === 'succeeded', 60_000, { message: () => `rev-v2 did not succeed on ${name}:\n${crashing.logs()}` });
      writeFileSync(join(agent.installRoot, 'unhealthy'), '');
      await expectCrashed(crashing.child, crashing.logs, step);
      rmSync(join(agent.installRoot, 'unhealthy'));
      expect(readCurrent(agent.installRoot, 'revapp')).toBe(SWITCHED(step) ? '1.0.0' : '2.0.0');
      await restartAndSettle(agent, appliedGeneration(agent.stateDir));
      await expectRevertedTo(agent, 'revapp', '1.0.0', '2.0.0', REV1);
      const final = await waitFor(async () => {
        const h = await host();
        return h?.state === 'rolled-back' ? h : undefined;
      }, 120_000);
      expect(final.error).toMatch(/health check failed during soak/);
    }),
  );
});

describe.concurrent('revert crash matrix: a release undone package by package', () => {
  it.each(STEPS)('killed after saving %s while base went back (top@2.0.0 failed) → base and top on 1.0.0', { timeout: CASE_TIMEOUT_MS }, (step) =>
    slot(async () => {
      const name = `undo-${step}`;
      const agent = agents.get(name)!;
      const before = appliedGeneration(agent.stateDir);
      const crashing = await startCrashingAgent(agent, `rollback:${step}`, AGENT_ENV);
      const id = await startRollout(server.home, 'undo-v2', `case=${name}`, ['--include-offline']);
      await expectCrashed(crashing.child, crashing.logs, step);
      // top@2.0.0 was already switched back by its own install rollback; base is mid-revert.
      expect(readCurrent(agent.installRoot, 'top')).toBe('1.0.0');
      expect(readCurrent(agent.installRoot, 'base')).toBe(SWITCHED(step) ? '1.0.0' : '2.0.0');
      await restartAndSettle(agent, before);
      const status = await agentStatus(agent.stateDir);
      for (const pkg of ['base', 'top']) {
        expect(readCurrent(agent.installRoot, pkg), pkg).toBe('1.0.0');
        expect(status.installed[pkg], pkg).toBe('1.0.0');
      }
      expect(versionDirProblems(agent.installRoot, BASE1)).toEqual([]);
      expect(versionDirProblems(agent.installRoot, TOP1)).toEqual([]);
      const final = await waitRolloutEnd(server.home, id, 60_000);
      expect(['failed', 'rolled-back']).toContain(final.hosts[0]!.state);
      const installed = (await listAgents(server.home)).find((a) => a.id === agent.id)?.installed;
      expect(installed).toMatchObject({ base: '1.0.0', top: '1.0.0' });
    }),
  );
});

describe.concurrent('revert crash matrix: the journal side of a self-update that did not confirm', () => {
  it.each(STEPS)('killed after saving %s → ferry-agent 1.0.0 in the journal, the rollout host rolled back', { timeout: CASE_TIMEOUT_MS }, (step) =>
    slot(async () => {
      const agent = agents.get(`self-${step}`)!;
      const root = agent.installRoot;
      // What the supervisor does when 1.1.0 does not confirm: `current` back to 1.0.0, probation rolled back.
      symlinkSync('1.0.0', join(root, 'ferry-agent', '.current-test'));
      renameSync(join(root, 'ferry-agent', '.current-test'), join(root, 'ferry-agent', 'current'));
      const reason = 'ferry-agent 1.1.0 did not report back healthy within 3s; returned to 1.0.0';
      const report = { operation: agentRollout, state: 'succeeded', package: 'ferry-agent', version: '1.1.0', step: 'done' };
      writeFileSync(join(agent.stateDir, 'self-update.json'), JSON.stringify({ format: 1, state: 'rolled-back', version: '1.1.0', previous: '1.0.0', operation: agentRollout, report, since: new Date().toISOString(), reason }));
      const crashing = await startCrashingAgent(agent, `rollback:${step}`, AGENT_ENV);
      await expectCrashed(crashing.child, crashing.logs, step);
      expect(readCurrent(root, 'ferry-agent')).toBe('1.0.0');
      await restartAndSettle(agent);
      await expectRevertedTo(agent, 'ferry-agent', '1.0.0', '1.1.0', AGENT1);
      expect(existsSync(join(agent.stateDir, 'self-update.json'))).toBe(false);
      const host = await waitFor(async () => {
        const h = (await apiRequest(server.home, 'rollout.status', { id: agentRollout })).hosts.find((x) => x.agent === agent.id);
        return h?.state === 'rolled-back' ? h : undefined;
      }, 120_000);
      expect(host.error).toContain('did not report back healthy');
    }),
  );
});
