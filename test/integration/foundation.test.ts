// End-to-end tests of the foundation through the real CLIs: `ferry` (server + admin) and
// `ferry-agent` (join + daemon), each a child process in its own temporary directory.
// Requires the compiled dist/ (`npx tsc -p .`) and nats-server on PATH.
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { readCredsFile } from '../../shared/nats/creds.js';
import { nativeAuthenticator } from '../../shared/nats/nkey-auth.js';
import { Objm } from '@nats-io/obj';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  buildPackage,
  cleanupFleet,
  createToken,
  initServer,
  isOnlineSince,
  joinAgent,
  apiRequest,
  listAgents,
  pollAgents,
  runAgentCli,
  runFerry,
  startAgent,
  startAgents,
  startServer,
  tempDir,
  waitFor,
  type AgentHandle,
  type JoinedAgent,
  type ServerHandle,
} from '../helpers/fleet.js';
import { firstJson } from '../helpers/rollouts.js';

interface HostStatus {
  agent: string;
  hostname: string;
  wave: number | null;
  state: string;
  error?: string;
  reason?: string;
}
interface RolloutStatus {
  id: string;
  release: string;
  strategy: string;
  state: string;
  target: string;
  reason?: string;
  createdAt: string;
  endedAt?: string;
  waves: { index: number; state: string; hosts: number; succeeded: number; failed: number; pending: number }[];
  hosts: HostStatus[];
}

afterAll(cleanupFleet);


const currentOf = (agent: JoinedAgent, pkg: string): string | undefined => {
  try {
    return readlinkSync(join(agent.installRoot, pkg, 'current'));
  } catch {
    return undefined;
  }
};

const stagingLeftovers = (agent: JoinedAgent, pkg: string): string[] =>
  existsSync(join(agent.installRoot, pkg)) ? readdirSync(join(agent.installRoot, pkg)).filter((e) => e.startsWith('.staging-') || e.startsWith('.current-')) : [];

async function rolloutStatus(home: string, id: string): Promise<RolloutStatus> {
  return (await runFerry(home, ['rollout', 'status', id, '--json'])).json<RolloutStatus>();
}

async function addToDml(home: string, file: string): Promise<{ name: string; version: string; digest: string; size: number; state: string; added: boolean }> {
  return (await runFerry(home, ['dml', 'add', file, '--json'])).json();
}

/** dml add + release create + rollout start --wait --json; returns the exit code and final status. */
async function shipAndWait(home: string, release: string, ref: string, target: string, extra: string[] = []): Promise<{ code: number | null; status: RolloutStatus; stderr: string }> {
  await runFerry(home, ['release', 'create', release, '--package', ref]);
  const r = await runFerry(home, ['rollout', 'start', release, '--target', target, '--wait', '--json', '--timeout', '60s', ...extra], { allowFail: true, timeoutMs: 75_000 });
  if (!r.stdout.trim()) throw new Error(`rollout start ${release} printed nothing (exit ${r.code}): ${r.stderr}`);
  return { code: r.code, status: firstJson<RolloutStatus>(r.stdout), stderr: r.stderr };
}

const ENV_HOOK = [
  '#!/bin/sh',
  'set -e',
  'printf "FERRY_PACKAGE=%s\\nFERRY_VERSION=%s\\nFERRY_INSTALL_DIR=%s\\nFERRY_ROOT=%s\\n" "$FERRY_PACKAGE" "$FERRY_VERSION" "$FERRY_INSTALL_DIR" "$FERRY_ROOT" > "$FERRY_INSTALL_DIR/postinstall.env"',
  '',
].join('\n');

describe('foundation: one shared server', () => {
  let server: ServerHandle;
  let home: string;
  const agents: AgentHandle[] = [];

  beforeAll(async () => {
    server = await initServer();
    home = server.home;
  }, 180_000);

  // Each test stops its agents (less background load; nothing carries over between tests).
  afterEach(async (ctx) => {
    const stopped = agents.splice(0);
    if (ctx.task.result?.state === 'fail') {
      for (const a of stopped) console.error(`--- output of agent ${a.agent.hostname}:\n${a.logs().slice(-4000)}`);
      console.error(`--- output of the server (${server.child.exitCode ?? server.child.signalCode ?? 'running'}):\n${server.logs().slice(-8000)}`);
    }
    await Promise.all(stopped.map((a) => a.stop()));
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
  }, 180_000);

  async function fleetOf(names: string[], tags: Record<string, string>): Promise<JoinedAgent[]> {
    const token = await createToken(home, { uses: names.length });
    const joined = await Promise.all(names.map((n) => joinAgent(home, n, { token, tags })));
    agents.push(...(await startAgents(joined)));
    return joined;
  }

  it('a. happy path: three agents install a package through the CLI contract', async () => {
    const fleet = await fleetOf(['happy-1', 'happy-2', 'happy-3'], { suite: 'happy' });
    expect(new Set(fleet.map((a) => a.id)).size).toBe(3);

    const file = await buildPackage({
      name: 'hello',
      version: '1.0.0',
      files: {
        'bin/hello.sh': '#!/bin/sh\necho "hello 1.0.0"\n',
        'etc/greeting.txt': 'greeting=hi from 1.0.0\n',
        'hooks/postinstall.sh': ENV_HOOK,
      },
      hooks: { postinstall: 'hooks/postinstall.sh' },
      executable: ['bin/hello.sh'],
    });
    const added = await addToDml(home, file);
    expect(added).toMatchObject({ name: 'hello', version: '1.0.0', state: 'draft', added: true });
    expect(added.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(added.size).toBe(readFileSync(file).length);

    const { code, status: final, stderr } = await shipAndWait(home, 'happy-r1', 'hello@1.0.0', 'suite=happy');
    expect(code, stderr).toBe(0);
    expect(final.state).toBe('completed');
    expect(final.hosts.map((h) => h.state)).toEqual(['succeeded', 'succeeded', 'succeeded']);

    for (const a of fleet) {
      expect(currentOf(a, 'hello')).toBe('1.0.0');
      const dir = join(a.installRoot, 'hello', 'current');
      expect(readFileSync(join(dir, 'bin/hello.sh'), 'utf8')).toBe('#!/bin/sh\necho "hello 1.0.0"\n');
      expect(readFileSync(join(dir, 'etc/greeting.txt'), 'utf8')).toBe('greeting=hi from 1.0.0\n');
      expect(lstatSync(join(dir, 'bin/hello.sh')).mode & 0o777).toBe(0o755);
      expect(lstatSync(join(dir, 'etc/greeting.txt')).mode & 0o777).toBe(0o644);
      // The postinstall hook ran in the version directory with the FERRY_* environment.
      expect(readFileSync(join(a.installRoot, 'hello', '1.0.0', 'postinstall.env'), 'utf8')).toBe(
        [`FERRY_PACKAGE=hello`, `FERRY_VERSION=1.0.0`, `FERRY_INSTALL_DIR=${join(a.installRoot, 'hello', '1.0.0')}`, `FERRY_ROOT=${a.installRoot}`, ''].join('\n'),
      );
      expect(stagingLeftovers(a, 'hello')).toEqual([]);
    }

    const listed = await listAgents(home);
    for (const a of fleet) {
      expect(listed.find((x) => x.id === a.id)).toMatchObject({ hostname: a.hostname, online: true, tags: { suite: 'happy' }, installed: { hello: '1.0.0' } });
    }

    const status = await rolloutStatus(home, final.id);
    expect(status).toMatchObject({ id: final.id, release: 'happy-r1', strategy: 'big-bang', state: 'completed' });
    expect(status.waves).toEqual([expect.objectContaining({ index: 0, state: 'completed', hosts: 3, succeeded: 3, failed: 0, pending: 0 })]);
    expect(status.hosts).toHaveLength(3);
    for (const h of status.hosts) {
      expect(h).toMatchObject({ agent: expect.any(String), hostname: expect.any(String), wave: 0, state: 'succeeded' });
      expect(h.error).toBeUndefined();
    }
    expect(status.hosts.map((h) => h.hostname).sort()).toEqual(['happy-1', 'happy-2', 'happy-3']);
    expect(status.hosts.map((h) => h.agent).sort()).toEqual(fleet.map((a) => a.id).sort());

    // A second rollout of the same release: every host is already there, so nothing is sent.
    const again = (await runFerry(home, ['rollout', 'start', 'happy-r1', '--target', 'suite=happy', '--json'])).json<{ id: string }>();
    const againStatus = await waitFor(async () => {
      const s = await apiRequest(home, 'rollout.status', { id: again.id });
      return s.state === 'completed' && s;
    }, 20_000);
    expect(againStatus.hosts.map((h) => [h.state, h.reason])).toEqual(Array(3).fill(['skipped', 'already at this version']));

    const list = (await runFerry(home, ['rollout', 'list', '--json'])).json<{ id: string; release: string; state: string; createdAt: string; hosts: number }[]>();
    const ids = list.map((r) => r.id);
    expect(ids.indexOf(again.id)).toBeGreaterThanOrEqual(0);
    expect(ids.indexOf(again.id)).toBeLessThan(ids.indexOf(final.id)); // newest first
    const times = list.map((r) => Date.parse(r.createdAt));
    expect(times).toEqual([...times].sort((x, y) => y - x));
    expect(list.find((r) => r.id === final.id)).toMatchObject({ release: 'happy-r1', state: 'completed', hosts: 3 });
  }, 180_000);

  it('b. a failed health check is rolled back locally to the previous version', async () => {
    const fleet = await fleetOf(['health-1', 'health-2'], { suite: 'health' });
    const pkg = (version: string, healthy: boolean) =>
      buildPackage({
        name: 'svc',
        version,
        files: {
          'app.txt': `svc ${version}\n`,
          'hooks/health.sh': healthy ? '#!/bin/sh\necho "svc is healthy"\n' : `#!/bin/sh\necho "checking svc ${version}"\necho "health: svc ${version} is not answering" >&2\nexit 1\n`,
          'hooks/rollback.sh': '#!/bin/sh\nset -e\necho "rolled back $FERRY_PACKAGE $FERRY_VERSION to $FERRY_PREVIOUS_VERSION" > "$FERRY_ROOT/svc-rollback.marker"\n',
        },
        hooks: { healthcheck: 'hooks/health.sh', rollback: 'hooks/rollback.sh' },
        healthcheck: { retries: 1, intervalSeconds: 1 },
      });
    await Promise.all([pkg('1.0.0', true), pkg('2.0.0', false)].map(async (file) => addToDml(home, await file)));

    const first = await shipAndWait(home, 'health-r1', 'svc@1.0.0', 'suite=health');
    expect(first.code, first.stderr).toBe(0);
    for (const a of fleet) expect(currentOf(a, 'svc')).toBe('1.0.0');

    const second = await shipAndWait(home, 'health-r2', 'svc@2.0.0', 'suite=health');
    expect(second.code, second.stderr).toBe(6); // FERRY_ROLLOUT_FAILED
    expect(second.stderr).toMatch(/FERRY_ROLLOUT_FAILED/);
    expect(second.status.state).toBe('halted');

    const status = await rolloutStatus(home, second.status.id);
    expect(status.state).toBe('halted');
    expect(status.waves[0]).toMatchObject({ state: 'failed', hosts: 2, failed: 2, succeeded: 0, pending: 0 });
    expect(status.hosts).toHaveLength(2);
    for (const h of status.hosts) {
      expect(h.state).toBe('rolled-back');
      expect(h.error).toContain('healthcheck');
      expect(h.error).toContain('health: svc 2.0.0 is not answering');
    }

    // What each host says (ferry-agent status) and what the CMDB says, for every host at once.
    const views = await Promise.all(
      fleet.map(async (a) => {
        const [local, cmdb] = await Promise.all([runAgentCli(a.stateDir, ['status', '--json']), runFerry(home, ['cmdb', 'show', a.hostname, '--json'])]);
        return { local, cmdb };
      }),
    );
    for (const [i, a] of fleet.entries()) {
      expect(currentOf(a, 'svc')).toBe('1.0.0');
      expect(readFileSync(join(a.installRoot, 'svc', 'current', 'app.txt'), 'utf8')).toBe('svc 1.0.0\n');
      expect(existsSync(join(a.installRoot, 'svc', '2.0.0'))).toBe(false);
      expect(stagingLeftovers(a, 'svc')).toEqual([]);
      expect(readFileSync(join(a.installRoot, 'svc-rollback.marker'), 'utf8')).toBe('rolled back svc 2.0.0 to 1.0.0\n');

      const local = views[i]!.local.json<{ agentId: string; running: boolean; installed: Record<string, string>; operations: { kind: string; version: string; step: string }[] }>();
      expect(local.agentId).toBe(a.id);
      expect(local.running).toBe(true);
      expect(local.installed).toEqual({ svc: '1.0.0' });
      expect(local.operations[0]).toMatchObject({ kind: 'install', version: '2.0.0', step: 'rolled-back' });

      const cmdb = views[i]!.cmdb.json<{ id: string; installed: Record<string, string>; history: { kind: string; package: string; version: string; fromVersion: string | null; result: string; detail: string | null }[] }>();
      expect(cmdb.id).toBe(a.id);
      expect(cmdb.installed).toEqual({ svc: '1.0.0' });
      expect(cmdb.history).toContainEqual(expect.objectContaining({ kind: 'install', package: 'svc', version: '2.0.0', fromVersion: '1.0.0', result: 'rolled-back' }));
      expect(cmdb.history).toContainEqual(expect.objectContaining({ kind: 'install', package: 'svc', version: '1.0.0', result: 'succeeded' }));
    }
  }, 180_000);

  it('c(i). a byte-flipped package file is refused by dml add', async () => {
    const file = await buildPackage({ name: 'corrupt', version: '1.0.0', files: { 'data.txt': 'x'.repeat(5000) + '\n', 'more.txt': 'some more content\n' } });
    const bytes = readFileSync(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    const tampered = join(tempDir('ferry-tampered-'), 'corrupt-1.0.0.ferry');
    writeFileSync(tampered, bytes);

    const r = await runFerry(home, ['dml', 'add', tampered], { allowFail: true });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/FERRY_(PACKAGE_INVALID|DIGEST_MISMATCH)/);
    const listed = (await runFerry(home, ['dml', 'list', '--json'])).json<{ name: string }[]>();
    expect(listed.map((p) => p.name)).not.toContain('corrupt');

    // The untouched original is accepted: the refusal was about the flipped byte.
    expect(await addToDml(home, file)).toMatchObject({ name: 'corrupt', version: '1.0.0', added: true });
  }, 120_000);

  it('c(ii). a DML object tampered with after signing is refused by the agent; nothing is extracted', async () => {
    const pkg = (version: string) => buildPackage({ name: 'tamp', version, files: { 'payload.txt': `tamp ${version}\n`.repeat(2000) } });
    const [[agent]] = await Promise.all([fleetOf(['tamper-1'], { suite: 'tamper' }), pkg('1.0.0').then((f) => addToDml(home, f))]);
    const first = await shipAndWait(home, 'tamper-r1', 'tamp@1.0.0', 'suite=tamper');
    expect(first.code, first.stderr).toBe(0);
    expect(currentOf(agent!, 'tamp')).toBe('1.0.0');

    const v2 = await pkg('2.0.0');
    const signed = await addToDml(home, v2);
    expect(signed.added).toBe(true);

    // Replace the stored object with a byte-flipped copy, as an attacker with bucket access could.
    const natsUrl = (JSON.parse(readFileSync(join(home, 'server.json'), 'utf8')) as { natsUrl: string }).natsUrl;
    const admin = readCredsFile(join(home, 'keys', 'admin.creds'));
    const nc = await connect({ servers: natsUrl, authenticator: nativeAuthenticator(admin.seed, admin.jwt) });
    try {
      const bytes = new Uint8Array(readFileSync(v2));
      bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
      const store = await new Objm(nc).open('ferry-dml');
      const info = await store.putBlob({ name: 'tamp@2.0.0' }, bytes);
      expect(info.size).toBe(signed.size);
    } finally {
      await nc.close();
    }

    const second = await shipAndWait(home, 'tamper-r2', 'tamp@2.0.0', 'suite=tamper');
    expect(second.code, second.stderr).toBe(6);
    const status = await rolloutStatus(home, second.status.id);
    expect(status.hosts).toHaveLength(1);
    expect(status.hosts[0]).toMatchObject({ agent: agent!.id, state: 'failed' });
    expect(status.hosts[0]!.error).toContain('FERRY_DIGEST_MISMATCH');

    expect(existsSync(join(agent!.installRoot, 'tamp', '2.0.0'))).toBe(false);
    expect(stagingLeftovers(agent!, 'tamp')).toEqual([]);
    expect(currentOf(agent!, 'tamp')).toBe('1.0.0');
    expect(readFileSync(join(agent!.installRoot, 'tamp', 'current', 'payload.txt'), 'utf8')).toBe('tamp 1.0.0\n'.repeat(2000));
    // No download (complete or partial) was kept either.
    expect(readdirSync(join(agent!.stateDir, 'staging')).filter((f) => f.includes('tamp@2.0.0'))).toEqual([]);
    const local = (await runAgentCli(agent!.stateDir, ['status', '--json'])).json<{ installed: Record<string, string> }>();
    expect(local.installed).toEqual({ tamp: '1.0.0' });
  }, 180_000);

  it('e. a late joiner has nothing installed; an offline host targeted with --include-offline converges when it starts', async () => {
    const [[early], offline] = await Promise.all([
      fleetOf(['late-0'], { suite: 'late', role: 'early' }),
      // Joined but not running: offline from the server's point of view.
      joinAgent(home, 'late-off', { tags: { suite: 'late', role: 'offline' } }),
      buildPackage({ name: 'late-app', version: '1.0.0', files: { README: 'late-app 1.0.0\n' } }).then((f) => addToDml(home, f)),
    ]);

    const first = await shipAndWait(home, 'late-r1', 'late-app@1.0.0', 'suite=late');
    expect(first.code, first.stderr).toBe(0);
    expect(first.status.state).toBe('completed');
    expect(first.status.hosts).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ agent: early!.id, wave: 0, state: 'succeeded' }),
        expect.objectContaining({ agent: offline.id, wave: null, state: 'skipped', reason: 'offline' }),
      ]),
    );
    expect(first.status.hosts).toHaveLength(2);
    expect(currentOf(early!, 'late-app')).toBe('1.0.0');

    // Joins after the rollout, matching its selector: visible, online, tagged, nothing installed.
    const late = await joinAgent(home, 'late-1', { tags: { suite: 'late', role: 'late' } });
    agents.push(await startAgent(late));
    expect((await listAgents(home)).find((a) => a.id === late.id)).toMatchObject({ hostname: 'late-1', online: true, tags: { suite: 'late', role: 'late' }, installed: {} });
    // os/arch come from the inventory report, which may land just after the first heartbeat.
    const withFacts = await waitFor(async () => (await pollAgents(home)).find((a) => a.id === late.id && a.os !== null), 10_000, { message: 'late-1 reported no inventory' });
    expect(withFacts).toMatchObject({ os: process.platform, arch: process.arch, installed: {} });

    // The offline host is targeted with --include-offline: its desired state waits in KV and the
    // rollout keeps running with the host `sent`.
    expect((await listAgents(home)).find((a) => a.id === offline.id)).toMatchObject({ online: false, installed: {} });
    const started = (await runFerry(home, ['rollout', 'start', 'late-r1', '--target', 'role=offline', '--include-offline', '--json'])).json<{ id: string; state: string; hosts: number }>();
    expect(started).toMatchObject({ state: 'running', hosts: 1 });

    await new Promise((r) => setTimeout(r, 2500)); // longer than one desired-state poll of the running agents

    const waiting = await rolloutStatus(home, started.id);
    expect(waiting.state).toBe('running');
    expect(waiting.hosts).toEqual([expect.objectContaining({ agent: offline.id, hostname: 'late-off', wave: 0, state: 'sent' })]);
    expect(waiting.waves[0]).toMatchObject({ state: 'running', hosts: 1, pending: 1 });
    expect(existsSync(join(offline.installRoot, 'late-app'))).toBe(false);
    // Meanwhile nothing reached the late joiner: no rollout targeted it.
    expect((await listAgents(home)).find((a) => a.id === late.id)!.installed).toEqual({});
    expect(existsSync(join(late.installRoot, 'late-app'))).toBe(false);
    expect((await runAgentCli(late.stateDir, ['status', '--json'])).json<{ installed: object; operations: unknown[] }>()).toMatchObject({ installed: {}, operations: [] });

    // The offline host starts: it reads its desired state, converges, and the rollout completes.
    agents.push(await startAgent(offline));
    const done = await waitFor(async () => {
      const s = await apiRequest(home, 'rollout.status', { id: started.id });
      return ['completed', 'halted', 'aborted', 'rolled-back'].includes(s.state) && s;
    }, 30_000, { message: 'the include-offline rollout did not end' });
    expect(done.state).toBe('completed');
    expect(done.hosts).toEqual([expect.objectContaining({ agent: offline.id, state: 'succeeded' })]);
    expect(currentOf(offline, 'late-app')).toBe('1.0.0');
    expect(readFileSync(join(offline.installRoot, 'late-app', 'current', 'README'), 'utf8')).toBe('late-app 1.0.0\n');
    expect((await listAgents(home)).find((a) => a.id === offline.id)).toMatchObject({ online: true, installed: { 'late-app': '1.0.0' } });
    expect(currentOf(late, 'late-app')).toBeUndefined();
  }, 180_000); // a cap for a busy machine: some twenty CLI calls and three agents, one after another
});

describe('foundation: server restart', () => {
  it('d. a server restarted between two rollouts keeps its state and its agents', async () => {
    let server = await initServer();
    const home = server.home;
    const running: AgentHandle[] = [];
    try {
      const token = await createToken(home, { uses: 2 });
      const pkg = (version: string) => buildPackage({ name: 'persist', version, files: { 'version.txt': `${version}\n` } });
      const [fleet] = await Promise.all([
        Promise.all([joinAgent(home, 'restart-1', { token }), joinAgent(home, 'restart-2', { token })]),
        ...['1.0.0', '2.0.0'].map(async (v) => addToDml(home, await pkg(v))),
      ]);
      running.push(...(await startAgents(fleet)));

      const first = await shipAndWait(home, 'persist-r1', 'persist@1.0.0', 'all');
      expect(first.code, first.stderr).toBe(0);
      for (const a of fleet) expect(currentOf(a, 'persist')).toBe('1.0.0');

      const port = server.port;
      await server.stop();
      expect(existsSync(join(home, 'server.json'))).toBe(false);
      const restartedAt = Date.now();
      // The agents know the server by the URL in their token, so the restart reuses the port.
      server = await startServer(home, { listen: `127.0.0.1:${port}` });
      expect(server.url).toBe(`nats://127.0.0.1:${port}`);

      await waitFor(async () => {
        const listed = await pollAgents(home);
        return fleet.every((a) => isOnlineSince(listed, a.id, restartedAt));
      }, 30_000, { message: 'agents did not reconnect after the server restart' });

      // State survived: the DML, the release and the first rollout are still there.
      const [dml, firstAgain] = await Promise.all([runFerry(home, ['dml', 'list', '--json']), rolloutStatus(home, first.status.id)]);
      expect(dml.json<{ name: string; version: string }[]>().map((p) => `${p.name}@${p.version}`).sort()).toEqual(['persist@1.0.0', 'persist@2.0.0']);
      expect(firstAgain.state).toBe('completed');

      const second = await shipAndWait(home, 'persist-r2', 'persist@2.0.0', 'all');
      expect(second.code, second.stderr).toBe(0);
      expect(second.status.hosts.map((h) => h.state)).toEqual(['succeeded', 'succeeded']);
      for (const a of fleet) {
        expect(currentOf(a, 'persist')).toBe('2.0.0');
        expect(readFileSync(join(a.installRoot, 'persist', 'current', 'version.txt'), 'utf8')).toBe('2.0.0\n');
      }

      const list = (await runFerry(home, ['rollout', 'list', '--json'])).json<{ id: string; release: string; state: string }[]>();
      expect(list.map((r) => [r.id, r.release, r.state])).toEqual([
        [second.status.id, 'persist-r2', 'completed'],
        [first.status.id, 'persist-r1', 'completed'],
      ]);
    } finally {
      await Promise.all(running.map((a) => a.stop()));
      await server.stop();
    }
  }, 180_000);
});
