// `rollout start --follow` (issue 17, part 4), with a real server, nats-server and agents: after
// the waves complete, a host that joins with a matching tag is brought to the release (listed as a
// late host in `rollout status`), a host that does not match is not; `rollout stop-follow` ends it,
// and so does a newer rollout of the same packages. Negative checks never sleep: a host that must
// not be brought in is known to the server before a host that must be, so the pass that brings
// in the one has looked at the other.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCurrent } from '../helpers/faults.js';
import { cleanupFleet, createToken, initServer, joinAgent, runFerry, startAgent, waitFor, type AgentHandle, type JoinedAgent, type ServerHandle } from '../helpers/fleet.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fullStatus, healthPackage, publishRelease, startAndWait, waitStatus, type FullRolloutStatus, type PackageSpec } from '../helpers/rollouts.js';

afterAll(cleanupFleet, 60_000);

function pkg(name: string, version: string): PackageSpec {
  return { name, version, files: { VERSION: `${name} ${version}\n` } };
}

type FollowStatus = FullRolloutStatus & { follow?: { state: string; reason?: string }; hosts: (FullRolloutStatus['hosts'][number] & { late?: true })[] };

describe('rollout start --follow (real server, NATS and agents)', () => {
  let server: ServerHandle;
  let home: string;
  let prodToken: string;
  let devToken: string;
  const handles: AgentHandle[] = [];

  /** Join and run an agent; resolves once the server has its inventory (the follower considers it). */
  async function addAgent(hostname: string, token: string): Promise<JoinedAgent> {
    const agent = await joinAgent(home, hostname, { token });
    handles.push(await startAgent(agent));
    await waitFor(async () => (await runFerry(home, ['cmdb', 'show', hostname, '--json'])).json<{ inventory?: unknown }>().inventory, 30_000, { message: `no inventory from ${hostname}` });
    return agent;
  }

  beforeAll(async () => {
    server = await initServer();
    home = server.home;
    prodToken = await createToken(home, { uses: 10, tags: { tier: 'web' } });
    devToken = await createToken(home, { uses: 10, tags: { tier: 'db' } });
    for (const name of ['follow-1', 'follow-2', 'follow-3']) await addAgent(name, prodToken);
    await publishRelease(home, 'f-1.0', pkg('follower', '1.0.0'));
    await publishRelease(home, 'o-1.0', pkg('other', '1.0.0'));
    await publishRelease(home, 'o-1.1', pkg('other', '1.1.0'));
  }, 180_000);

  afterAll(async () => {
    await Promise.all(handles.map((h) => h.stop()));
  });

  let followId: string;

  it('completes on three hosts; a fourth that joins tier=web is brought to the release, a fifth in tier=db is not', async () => {
    const done = await startAndWait(home, 'f-1.0', ['--target', 'tier=web', '--follow']);
    expect(done.code, done.result.stderr).toBe(0);
    followId = done.status.id;
    expect(done.status.hosts.map((h) => h.state)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect((done.status as FollowStatus).follow).toEqual({ state: 'following' });

    // The dev host is known to the server before the prod one joins (see the header).
    const dev = await addAgent('follow-dev', devToken);
    const late = await addAgent('follow-4', prodToken);
    const s = (await waitStatus(home, followId, (x) => x.hosts.some((h) => h.agent === late.id && h.state === 'succeeded'), 60_000, 'follow-4 brought in')) as FollowStatus;
    expect(s.state).toBe('completed');
    expect(s.hosts.find((h) => h.agent === late.id)).toMatchObject({ hostname: 'follow-4', wave: null, late: true, state: 'succeeded' });
    expect(s.hosts.some((h) => h.agent === dev.id)).toBe(false);
    expect(readCurrent(late.installRoot, 'follower')).toBe('1.0.0');
    expect(readCurrent(dev.installRoot, 'follower')).toBeUndefined();

    // The text view lists the late host too.
    const text = (await runFerry(home, ['rollout', 'status', followId])).stdout;
    expect(text).toContain(`follows tier=web; 1 host(s) brought in after the waves: 1 succeeded, 0 failed`);
    expect(text).toMatch(/follow-4\s+\S+\s+late\s+succeeded/);
  }, 180_000);

  it('rollout stop-follow: a host that joins the target afterwards is left alone', async () => {
    // A second following rollout (another package) shows when the follower has seen the newcomer.
    const other = await startAndWait(home, 'o-1.0', ['--target', 'tier=web', '--follow']);
    expect(other.code, other.result.stderr).toBe(0);

    const stopped = await runFerry(home, ['rollout', 'stop-follow', followId]);
    expect(stopped.stdout.trim()).toBe(`Rollout ${followId} no longer follows its target (completed)`);
    const after = (await fullStatus(home, followId)) as FollowStatus;
    expect(after.follow).toMatchObject({ state: 'stopped', reason: expect.stringMatching(/^stopped by /) });

    const newcomer = await addAgent('follow-5', prodToken);
    await waitStatus(home, other.status.id, (x) => x.hosts.some((h) => h.agent === newcomer.id && h.state === 'succeeded'), 60_000, 'follow-5 brought into the second rollout');
    expect((await fullStatus(home, followId)).hosts.some((h) => h.agent === newcomer.id)).toBe(false);
    expect(readCurrent(newcomer.installRoot, 'follower')).toBeUndefined();

    // Again: already stopped, said plainly.
    const again = await runFerry(home, ['rollout', 'stop-follow', followId], { allowFail: true });
    expect(again.code).toBe(4);
    expect(again.stderr.trim()).toMatch(new RegExp(`^FERRY_CONFLICT: rollout ${followId} no longer follows its target: stopped by .* — hint: `));
  }, 180_000);

  it('a newer rollout of the same packages ends the following, on the older rollout status', async () => {
    const otherId = (await runFerry(home, ['rollout', 'list', '--json'])).json<{ id: string; release: string }[]>().find((r) => r.release === 'o-1.0')!.id;
    expect(((await fullStatus(home, otherId)) as FollowStatus).follow).toEqual({ state: 'following' });
    const newer = await startAndWait(home, 'o-1.1', ['--target', 'tier=db']);
    expect(newer.code, newer.result.stderr).toBe(0);
    const old = (await fullStatus(home, otherId)) as FollowStatus;
    expect(old.follow).toMatchObject({ state: 'stopped', reason: `superseded by ${newer.status.id} (o-1.1)` });
  }, 120_000);

  it('a late host that fails its health check, past --max-failures 0, ends the following', async () => {
    await publishRelease(home, 'h-1.0', healthPackage('healthy', '1.0.0'));
    const started = await startAndWait(home, 'h-1.0', ['--target', 'tier=web', '--follow', '--max-failures', '0']);
    expect(started.code, started.result.stderr).toBe(0);
    expect((started.status as FollowStatus).follow).toEqual({ state: 'following' });

    // The newcomer's health check fails (the package's hook looks for this file in its root).
    const sick = await joinAgent(home, 'follow-sick', { token: prodToken });
    writeFileSync(join(sick.installRoot, 'fail-health-healthy'), '');
    handles.push(await startAgent(sick));
    const s = (await waitStatus(home, started.status.id, (x) => (x as FollowStatus).follow?.state === 'stopped', 90_000, 'following stopped by the failed late host')) as FollowStatus;
    expect(s.follow!.reason).toBe('1 host(s) brought in after the waves failed, more than the 0 allowed by --max-failures 0');
    expect(s.hosts.find((h) => h.agent === sick.id)).toMatchObject({ late: true, state: expect.stringMatching(/failed|rolled-back/) });
    expect(s.state).toBe('completed'); // the waves' result stands
    expect(readCurrent(sick.installRoot, 'healthy')).toBeUndefined(); // rolled back on the host
  }, 180_000);

  it('bad input: an unknown id, and a rollout that does not follow, are one line with a stable code', async () => {
    const unknown = await runFerry(home, ['rollout', 'stop-follow', 'r-00000000'], { allowFail: true });
    expect(unknown.code).toBe(3);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    expect(unknown.stderr.trim()).toMatch(/^FERRY_NOT_FOUND: rollout r-00000000 does not exist/);

    const plainId = (await runFerry(home, ['rollout', 'list', '--json'])).json<{ id: string; release: string }[]>().find((r) => r.release === 'o-1.1')!.id;
    const plain = await runFerry(home, ['rollout', 'stop-follow', plainId], { allowFail: true });
    expect(plain.code).toBe(4);
    expect(plain.stderr.trim().split('\n')).toHaveLength(1);
    expect(plain.stderr.trim()).toMatch(new RegExp(`^FERRY_CONFLICT: rollout ${plainId} does not follow its target \\(it was started without --follow\\) — hint: `));
  });
});
