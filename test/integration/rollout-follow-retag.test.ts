// `rollout start --follow` (issue 17, part 4) for hosts that were there all along, with a real
// server, nats-server and agents: a host retagged with `ferry agent tag` to match the selector
// after the waves is brought to the release, and so is a host that was offline when the rollout
// started (skipped as offline) once it comes back. Negative checks never sleep: the retagged host
// is checked against a host that still does not match only after the follower brought it in.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCurrent } from '../helpers/faults.js';
import { cleanupFleet, createToken, initServer, joinAgent, pollAgents, runFerry, startAgent, waitFor, type AgentHandle, type JoinedAgent, type ServerHandle } from '../helpers/fleet.js';
import { publishRelease, startAndWait, waitStatus, type FullRolloutStatus, type PackageSpec } from '../helpers/rollouts.js';

afterAll(cleanupFleet, 60_000);

type FollowStatus = FullRolloutStatus & { follow?: { state: string; reason?: string }; hosts: (FullRolloutStatus['hosts'][number] & { late?: true; reason?: string })[] };

const pkg: PackageSpec = { name: 'retag', version: '1.0.0', files: { VERSION: 'retag 1.0.0\n' } };

describe('rollout start --follow: a tag change and a host back online (real server, NATS and agents)', () => {
  let server: ServerHandle;
  let home: string;
  const handles: AgentHandle[] = [];
  const agents: Record<string, JoinedAgent> = {};

  /** Join and run an agent; resolves once the server has its inventory (the follower considers it). */
  async function addAgent(hostname: string, token: string): Promise<JoinedAgent> {
    const agent = await joinAgent(home, hostname, { token });
    handles.push(await startAgent(agent));
    await waitFor(async () => (await runFerry(home, ['cmdb', 'show', hostname, '--json'])).json<{ inventory?: unknown }>().inventory, 30_000, { message: `no inventory from ${hostname}` });
    agents[hostname] = agent;
    return agent;
  }

  beforeAll(async () => {
    server = await initServer();
    home = server.home;
    const blue = await createToken(home, { uses: 10, tags: { lane: 'blue' } });
    const green = await createToken(home, { uses: 10, tags: { lane: 'green' } });
    for (const name of ['rt-1', 'rt-2', 'rt-off']) await addAgent(name, blue);
    await addAgent('rt-green', green);
    await addAgent('rt-stays', green);
    // rt-off is known to the server (inventory and tags), then goes away before the rollout starts.
    const off = handles.find((h) => h.agent.hostname === 'rt-off')!;
    await off.stop();
    await waitFor(async () => (await pollAgents(home)).find((a) => a.hostname === 'rt-off')?.online === false, 30_000, { message: 'rt-off never showed offline' });
    await publishRelease(home, 'rt-1.0', pkg);
  }, 180_000);

  afterAll(async () => {
    await Promise.all(handles.map((h) => h.stop()));
  });

  let followId: string;

  it('a host retagged to match the selector after the waves is brought to the release; one that still does not match is not', async () => {
    const done = await startAndWait(home, 'rt-1.0', ['--target', 'lane=blue', '--follow']);
    expect(done.code, done.result.stderr).toBe(0);
    followId = done.status.id;
    const s0 = done.status as FollowStatus;
    expect(s0.follow).toEqual({ state: 'following' });
    expect(s0.hosts.filter((h) => h.state === 'succeeded').map((h) => h.hostname).sort()).toEqual(['rt-1', 'rt-2']);
    expect(s0.hosts.find((h) => h.hostname === 'rt-off')).toMatchObject({ state: 'skipped', reason: 'offline' });

    const tagged = await runFerry(home, ['agent', 'tag', 'rt-green', 'lane=blue', 'owner=ops']);
    expect(tagged.stdout.trim()).toBe(`Tagged rt-green (${agents['rt-green']!.id}): lane=blue owner=ops`);
    const doc = (await runFerry(home, ['agent', 'show', 'rt-green', '--json'])).json<{ tags: Record<string, string>; history: { kind: string; detail: string | null }[] }>();
    expect(doc.tags).toEqual({ lane: 'blue', owner: 'ops' });
    // (the follower may already have installed the release: the tag entry is not always the newest)
    expect(doc.history.find((h) => h.kind === 'tags')).toMatchObject({ kind: 'tags', detail: 'tags lane=green→blue +owner=ops, by admin' });

    const green = agents['rt-green']!;
    const s = (await waitStatus(home, followId, (x) => x.hosts.some((h) => h.agent === green.id && h.state === 'succeeded'), 60_000, 'rt-green brought in')) as FollowStatus;
    expect(s.hosts.find((h) => h.agent === green.id)).toMatchObject({ hostname: 'rt-green', wave: null, late: true, state: 'succeeded' });
    expect(s.hosts.some((h) => h.hostname === 'rt-stays')).toBe(false);
    expect(readCurrent(green.installRoot, 'retag')).toBe('1.0.0');
    expect(readCurrent(agents['rt-stays']!.installRoot, 'retag')).toBeUndefined();

    // The change is in the audit log, under the operator who made it.
    const audit = (await runFerry(home, ['audit', '--action', 'agents.tag', '--json'])).json<{ action: string; result: string }[]>();
    expect(audit).toEqual([expect.objectContaining({ action: 'agents.tag', result: 'ok' })]);
  }, 180_000);

  it('a host skipped as offline at the start is brought to the release when it comes back', async () => {
    const off = agents['rt-off']!;
    expect(readCurrent(off.installRoot, 'retag')).toBeUndefined();
    handles.push(await startAgent(off));
    const s = (await waitStatus(home, followId, (x) => x.hosts.some((h) => h.agent === off.id && h.state === 'succeeded'), 60_000, 'rt-off brought in')) as FollowStatus;
    expect(s.hosts.find((h) => h.agent === off.id)).toMatchObject({ hostname: 'rt-off', wave: null, late: true, state: 'succeeded' });
    expect(s.state).toBe('completed');
    expect(s.follow).toEqual({ state: 'following' });
    expect(readCurrent(off.installRoot, 'retag')).toBe('1.0.0');
    const text = (await runFerry(home, ['rollout', 'status', followId])).stdout;
    expect(text).toContain('follows lane=blue; 2 host(s) brought in after the waves: 2 succeeded, 0 failed');
  }, 180_000);

  it('agent tag --remove; a tag already set is no change', async () => {
    const removed = await runFerry(home, ['agent', 'tag', 'rt-green', '--remove', 'owner', '--json']);
    expect(removed.json<{ tags: Record<string, string>; changed: boolean }>()).toMatchObject({ tags: { lane: 'blue' }, changed: true });
    const same = await runFerry(home, ['agent', 'tag', 'rt-green', 'lane=blue']);
    expect(same.stdout.trim()).toBe(`rt-green (${agents['rt-green']!.id}) already has these tags: lane=blue`);
  });

  it('bad input: a bad tag, an unknown host, the site tag, nothing to change — one line, a stable code, nothing changed', async () => {
    const cases: [string[], number, RegExp][] = [
      [['agent', 'tag', 'rt-stays', 'bad key=x'], 2, /^FERRY_INVALID_INPUT: tag key "bad key" is not valid — hint: /],
      [['agent', 'tag', 'rt-stays', 'lane'], 2, /^FERRY_INVALID_INPUT: "lane" is not key=value — hint: /],
      [['agent', 'tag', 'rt-stays', 'lane=x\u001b[2J'], 2, /^FERRY_INVALID_INPUT: tag .* contains control characters — hint: /],
      [['agent', 'tag', 'rt-stays', `lane=${'v'.repeat(300)}`], 2, /^FERRY_INVALID_INPUT: the value of tag lane is 300 characters, more than 256 — hint: /],
      [['agent', 'tag', 'rt-stays'], 2, /^FERRY_INVALID_INPUT: no tag to set or remove — hint: /],
      [['agent', 'tag', 'rt-stays', 'site=paris'], 2, /^FERRY_INVALID_INPUT: the site tag cannot be changed: .* — hint: /],
      [['agent', 'tag', 'rt-stays', 'lane=a', '--remove', 'lane'], 2, /^FERRY_INVALID_INPUT: tag lane is both set and removed — hint: /],
      [['agent', 'tag', 'no-such-host', 'lane=blue'], 3, /^FERRY_NOT_FOUND: no host "no-such-host" in the CMDB — hint: /],
    ];
    for (const [args, code, message] of cases) {
      const r = await runFerry(home, args, { allowFail: true });
      expect(r.code, args.join(' ')).toBe(code);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr.trim(), args.join(' ')).toMatch(message);
    }
    const doc = (await runFerry(home, ['agent', 'show', 'rt-stays', '--json'])).json<{ tags: Record<string, string>; history: { kind: string }[] }>();
    expect(doc.tags).toEqual({ lane: 'green' });
    expect(doc.history.some((h) => h.kind === 'tags')).toBe(false);
  });
});
