// Faults around the install path, with the real CLIs: NATS (the server) down when the agent
// starts, a package that needs more disk than there is, and an apply for what is already there.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupFleet, initServer, isOnlineSince, joinAgent, listAgents, pollAgents, runFerry, startAgent, startServer, waitFor, type AgentHandle, type JoinedAgent, type PackageSpec, type ServerHandle } from '../helpers/fleet.js';
import {
  agentStatus,
  appliedGeneration,
  createRelease,
  downloadLeftovers,
  hookLog,
  hookScript,
  layoutLeftovers,
  publishPackage,
  readCurrent,
  startRollout,
  versionDirProblems,
  versionDirs,
  waitAgentSettled,
  waitRolloutEnd,
  type RolloutDoc,
} from '../helpers/faults.js';

const AGENT_ENV = { FERRY_DESIRED_POLL_MS: '1000', FERRY_HEARTBEAT_MS: '500' };

function spec(name: string, version: string, extra: Partial<PackageSpec> = {}): PackageSpec {
  return {
    name,
    version,
    files: {
      'bin/app': `#!/bin/sh\necho ${name} ${version}\n`,
      'etc/app.conf': `version=${version}\n`,
      'hooks/preinstall': hookScript(),
      'hooks/postinstall': hookScript(),
      'hooks/healthcheck': hookScript(),
    },
    executable: ['bin/app'],
    hooks: { preinstall: 'hooks/preinstall', postinstall: 'hooks/postinstall', healthcheck: 'hooks/healthcheck' },
    healthcheck: { retries: 1, intervalSeconds: 1 },
    ...extra,
  };
}

afterAll(async () => {
  await cleanupFleet();
});

describe('NATS down when the agent starts', () => {
  it('keeps retrying, then comes online and converges on its desired state', async () => {
    const first = await initServer();
    const home = first.home;
    const port = first.port;
    const pkg = spec('downapp', '1.0.0');
    await publishPackage(home, pkg);
    await createRelease(home, 'down-1', ['downapp@1.0.0']);
    const agent = await joinAgent(home, 'down-1', { tags: { case: 'natsdown' } });
    // The agent never ran: the rollout targets it offline, its desired state waits in KV.
    const id = await startRollout(home, 'down-1', 'case=natsdown', ['--include-offline']);
    expect((await runFerry(home, ['rollout', 'status', id, '--json'])).json<RolloutDoc>().hosts.map((h) => h.state)).toEqual(['sent']);

    await first.stop();
    expect(first.child.exitCode ?? first.child.signalCode).not.toBeNull();

    const handle = await startAgent(agent, { waitOnline: false, env: AGENT_ENV });
    // NATS is unreachable: the agent must keep trying, not exit.
    await new Promise((r) => setTimeout(r, 4000));
    expect(handle.child.exitCode, handle.logs()).toBeNull();
    expect(handle.child.signalCode, handle.logs()).toBeNull();
    expect(readCurrent(agent.installRoot, 'downapp')).toBeUndefined();

    const startedAgain = Date.now();
    const second = await startServer(home, { listen: `127.0.0.1:${port}` });
    expect(second.port).toBe(port);
    await waitFor(async () => handle.child.exitCode === null && isOnlineSince(await pollAgents(home), agent.id, startedAgain), 30_000, {
      message: () => `agent did not come online after the server returned:\n${handle.logs()}`,
    });
    const final = await waitRolloutEnd(home, id, 30_000);
    expect(final.state, JSON.stringify(final)).toBe('completed');
    expect(final.hosts.map((h) => h.state)).toEqual(['succeeded']);
    await waitAgentSettled(home, agent, 0, 20_000);
    expect(readCurrent(agent.installRoot, 'downapp')).toBe('1.0.0');
    expect(versionDirProblems(agent.installRoot, pkg)).toEqual([]);
    expect((await agentStatus(agent.stateDir)).installed).toEqual({ downapp: '1.0.0' });
    expect(handle.child.exitCode).toBeNull();
    await handle.stop();
    await second.stop();
  }, 180_000);
});

describe('with one server and one agent on v1', () => {
  let server: ServerHandle;
  let agent: JoinedAgent;
  let handle: AgentHandle;
  const V1 = spec('spaceapp', '1.0.0');
  // Needs 100 TB free: no test machine has that.
  const HUGE = spec('spaceapp', '2.0.0', { requires: { diskMB: 100_000_000 } });

  beforeAll(async () => {
    server = await initServer();
    await publishPackage(server.home, V1);
    await publishPackage(server.home, HUGE);
    await createRelease(server.home, 'space-1', ['spaceapp@1.0.0']);
    await createRelease(server.home, 'space-2', ['spaceapp@2.0.0']);
    agent = await joinAgent(server.home, 'space-1', { tags: { case: 'space' } });
    handle = await startAgent(agent, { env: AGENT_ENV });
    const first = (await runFerry(server.home, ['rollout', 'start', 'space-1', '--target', 'case=space', '--wait', '--timeout', '60s', '--json'])).json<RolloutDoc>();
    expect(first.state).toBe('completed');
    expect(readCurrent(agent.installRoot, 'spaceapp')).toBe('1.0.0');
  }, 180_000);

  afterAll(async () => {
    await handle?.stop();
    await server?.stop();
  });

  it('a package needing more disk than is free fails cleanly; the previous version stays', async () => {
    const before = appliedGeneration(agent.stateDir);
    const hooksBefore = hookLog(agent.installRoot);
    const id = await startRollout(server.home, 'space-2', 'case=space');
    const final = await waitRolloutEnd(server.home, id, 30_000);
    await waitAgentSettled(server.home, agent, before, 20_000);
    const host = final.hosts[0]!;
    expect(host.state, JSON.stringify(final)).toBe('failed');
    expect(host.error ?? '', JSON.stringify(host)).toMatch(/free space/i);
    // Nothing of 2.0.0 on disk; 1.0.0 still current and whole; no leftovers.
    expect(existsSync(join(agent.installRoot, 'spaceapp', '2.0.0'))).toBe(false);
    expect(versionDirs(agent.installRoot, 'spaceapp')).toEqual(['1.0.0']);
    expect(readCurrent(agent.installRoot, 'spaceapp')).toBe('1.0.0');
    expect(versionDirProblems(agent.installRoot, V1)).toEqual([]);
    expect(layoutLeftovers(agent.installRoot, 'spaceapp')).toEqual([]);
    expect(downloadLeftovers(agent.stateDir)).toEqual([]);
    expect((await agentStatus(agent.stateDir)).installed).toEqual({ spaceapp: '1.0.0' });
    // No hook of 2.0.0 ran: it failed before anything was staged.
    expect(hookLog(agent.installRoot).slice(hooksBefore.length).filter((l) => l.endsWith(' 2.0.0'))).toEqual([]);
    expect(handle.child.exitCode).toBeNull();
  });

  it('rolling out what is already installed does nothing: the host is skipped', async () => {
    await createRelease(server.home, 'space-1-again', ['spaceapp@1.0.0']);
    const opsBefore = (await agentStatus(agent.stateDir)).operations.length;
    const hooksBefore = hookLog(agent.installRoot);

    const plan = (await runFerry(server.home, ['rollout', 'start', 'space-1-again', '--target', 'case=space', '--dry-run', '--json'])).json<{
      dryRun: boolean;
      hosts: { agent: string; wave: number | null; reason: string }[];
    }>();
    expect(plan.dryRun).toBe(true);
    expect(plan.hosts).toEqual([expect.objectContaining({ agent: agent.id, wave: null, reason: 'already at this version' })]);

    const id = await startRollout(server.home, 'space-1-again', 'case=space');
    const final = await waitRolloutEnd(server.home, id, 20_000);
    expect(final.state, JSON.stringify(final)).toBe('completed');
    expect(final.hosts).toEqual([expect.objectContaining({ agent: agent.id, state: 'skipped', reason: 'already at this version' })]);
    // Nothing happened on the host.
    await new Promise((r) => setTimeout(r, 1500));
    expect(readCurrent(agent.installRoot, 'spaceapp')).toBe('1.0.0');
    expect((await agentStatus(agent.stateDir)).operations.length).toBe(opsBefore);
    expect(hookLog(agent.installRoot)).toEqual(hooksBefore);
    expect(handle.child.exitCode).toBeNull();
  });
});
