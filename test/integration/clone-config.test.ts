// `ferry cmdb clone-config PROD --to TEST` (issue 17, part 5: test on a copy of production), with a
// real server and two real agents: the test host ends with exactly the production host's versions
// (an upgrade, a downgrade and a removal in one rollout), the rollout and the review of the
// release tested there name the production host, and every refusal is one line with its code.
// Requires the compiled dist/ (`npx tsc -p .`) and nats-server on PATH.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCurrent } from '../helpers/faults.js';
import { cleanupFleet, createToken, initServer, joinAgent, runFerry, startAgents, waitFor, type AgentHandle, type JoinedAgent, type PackageSpec, type ServerHandle } from '../helpers/fleet.js';
import { buildAll, firstJson, publishAll, startAndWait, type FullRolloutStatus } from '../helpers/rollouts.js';

afterAll(cleanupFleet, 60_000);

const pkg = (name: string, version: string): PackageSpec => ({ name, version, files: { VERSION: `${name} ${version}\n` } });

interface CmdbDoc {
  id: string;
  installed: Record<string, string>;
}

interface CloneDoc {
  id: string;
  operation: string;
  copyOf: { agent: string; hostname: string };
  install: { name: string; version: string; downgrade?: true }[];
  remove: string[];
}

interface Review {
  copyOf: { agent: string; hostname: string } | null;
  packages: string[];
  testedOnCopies: { agent: string; hostname: string; copyOf: { agent: string; hostname: string }; cloneRollout: string }[];
}

describe('cmdb clone-config: a test host becomes a copy of a production host', () => {
  let server: ServerHandle;
  let home: string;
  let agents: AgentHandle[] = [];
  let prod: JoinedAgent;
  let test: JoinedAgent;

  const installed = async (host: string) => (await runFerry(home, ['cmdb', 'show', host, '--json'])).json<CmdbDoc>().installed;
  const rolloutCount = async () => (await runFerry(home, ['rollout', 'list', '--json'])).json<unknown[]>().length;
  /** the CMDB has caught up with what the agent reported */
  const settled = (host: string, want: Record<string, string>) =>
    waitFor(async () => JSON.stringify(await installed(host)) === JSON.stringify(want), 30_000, { message: () => `${host} never reported ${JSON.stringify(want)}` });

  beforeAll(async () => {
    const start = async () => {
      const s = await initServer();
      const token = await createToken(s.home, { uses: 2 });
      return { s, list: [await joinAgent(s.home, 'prod-1', { token, tags: { env: 'prod' } }), await joinAgent(s.home, 'test-1', { token, tags: { env: 'test' } })] };
    };
    const specs = [pkg('web', '1.0.0'), pkg('web', '2.0.0'), pkg('db', '1.0.0'), pkg('extra', '1.0.0')];
    const [{ s, list }, files] = await Promise.all([start(), buildAll(specs, 2)]);
    server = s;
    home = s.home;
    [prod, test] = list as [JoinedAgent, JoinedAgent];
    agents = await startAgents(list);
    await publishAll(home, files, [
      { name: 'prod-base', packages: ['web@1.0.0', 'db@1.0.0'] },
      { name: 'test-base', packages: ['web@2.0.0', 'extra@1.0.0'] },
      { name: 'web-next', packages: ['web@2.0.0'] },
    ]);
    // Production runs web 1.0.0 and db; the test host drifted: a newer web, no db, an extra package.
    // (production's policy wants approvals and test evidence: overridden for the baseline)
    for (const [release, target] of [['prod-base', 'env=prod'], ['test-base', 'env=test']] as const) {
      const { code, status, result } = await startAndWait(home, release, ['--target', target, ...(target === 'env=prod' ? ['--force', '--reason', 'test baseline'] : [])]);
      if (code !== 0) throw new Error(`baseline ${release} did not complete: ${JSON.stringify(status)}\n${result.stderr}`);
    }
    await settled('prod-1', { db: '1.0.0', web: '1.0.0' });
    await settled('test-1', { extra: '1.0.0', web: '2.0.0' });
  }, 180_000);

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await server?.stop();
  }, 120_000);

  it('--dry-run shows the installs, the downgrade and the removal, and starts nothing', async () => {
    const before = await rolloutCount();
    const plan = (await runFerry(home, ['cmdb', 'clone-config', 'prod-1', '--to', 'test-1', '--dry-run', '--json'])).json<CloneDoc & { dryRun: true }>();
    expect(plan.dryRun).toBe(true);
    expect(plan.install).toEqual([{ name: 'db', version: '1.0.0' }, { name: 'web', version: '1.0.0', downgrade: true }]);
    expect(plan.remove).toEqual(['extra']);
    expect(await rolloutCount()).toBe(before);
  });

  it('one rollout gives the test host exactly the production host\'s installed set (--wait exits 0)', async () => {
    const r = await runFerry(home, ['cmdb', 'clone-config', 'prod-1', '--to', 'test-1', '--wait', '--json', '--timeout', '60s'], { allowFail: true, timeoutMs: 80_000 });
    const final = firstJson<FullRolloutStatus & { operation: string; copyOf: { hostname: string } }>(r.stdout);
    expect(r.code, r.stderr).toBe(0);
    expect(final).toMatchObject({ state: 'completed', operation: 'clone', copyOf: { hostname: 'prod-1' } });
    expect(final.hosts.map((h) => [h.hostname, h.state])).toEqual([['test-1', 'succeeded']]);
    await settled('test-1', await installed('prod-1'));
    // on disk too: the extra package is gone, web is back on the production version
    expect(readCurrent(test.installRoot, 'extra')).toBeUndefined();
    expect(readCurrent(test.installRoot, 'web')).toBe('1.0.0');
    expect(readCurrent(test.installRoot, 'db')).toBe('1.0.0');
    // production was not touched
    expect(await installed('prod-1')).toEqual({ db: '1.0.0', web: '1.0.0' });

    const review = (await runFerry(home, ['rollout', 'review', final.id, '--json'])).json<Review>();
    expect(review.copyOf).toEqual({ agent: prod.id, hostname: 'prod-1' });
    expect(review.packages).toEqual(['db@1.0.0', 'web@1.0.0 (downgrade)', 'extra (removed)']);
    const text = (await runFerry(home, ['rollout', 'review', final.id])).stdout;
    expect(text).toContain(`| Copy of | production host prod-1 (${prod.id})`);
    // audited through the API router, like every change
    const audit = (await runFerry(home, ['audit', '--action', 'cmdb.clone', '--json'])).json<{ action: string; result: string }[]>();
    expect(audit.filter((e) => e.result === 'ok').length).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('a test host that already matches: says so, exit 0, no rollout', async () => {
    const before = await rolloutCount();
    const r = await runFerry(home, ['cmdb', 'clone-config', 'prod-1', '--to', 'test-1', '--wait']);
    expect(r.stdout.trim()).toBe('test-1 already runs exactly the versions of prod-1 (2 package(s)); nothing to do, no rollout started');
    expect(await rolloutCount()).toBe(before);
  });

  it('the review of the release tested on the copy names the production host it copied', async () => {
    const { code, status } = await startAndWait(home, 'web-next', ['--target', 'env=test']);
    expect(code).toBe(0);
    const review = (await runFerry(home, ['rollout', 'review', status.id, '--json'])).json<Review>();
    expect(review.testedOnCopies).toEqual([expect.objectContaining({ agent: test.id, hostname: 'test-1', copyOf: { agent: prod.id, hostname: 'prod-1' } })]);
    const text = (await runFerry(home, ['rollout', 'review', status.id])).stdout;
    expect(text).toContain('## Tested on copies of production');
    expect(text).toContain(`- test-1 (${test.id}) was a copy of production host prod-1 (${prod.id}), made by ${review.testedOnCopies[0]!.cloneRollout}`);
  }, 180_000);

  it('refusals are one line with a stable code: unknown host, the same host twice, a retired production version', async () => {
    const oneLine = (stderr: string) => expect(stderr.trim().split('\n')).toHaveLength(1);
    const unknown = await runFerry(home, ['cmdb', 'clone-config', 'prod-9', '--to', 'test-1'], { allowFail: true });
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/^FERRY_NOT_FOUND: no production host "prod-9" in the CMDB — hint: /);
    oneLine(unknown.stderr);
    const same = await runFerry(home, ['cmdb', 'clone-config', 'test-1', '--to', test.id], { allowFail: true });
    expect(same.code).toBe(2);
    expect(same.stderr).toMatch(/^FERRY_USAGE: clone-config needs two different hosts/);
    oneLine(same.stderr);
    // a copy onto a production host: its environment takes changes only through releases
    const ontoProd = await runFerry(home, ['cmdb', 'clone-config', 'test-1', '--to', 'prod-1'], { allowFail: true });
    expect(ontoProd.code).not.toBe(0);
    expect(ontoProd.stderr).toMatch(/^FERRY_POLICY_DENIED: copy of test-1 onto prod-1 refused by policy: env=prod hosts change only through approved, tested releases/);
    oneLine(ontoProd.stderr);
    // The test host now runs web 2.0.0 (the release under test); production's 1.0.0 is retired.
    await runFerry(home, ['dml', 'retire', 'web@1.0.0', '--reason', 'superseded', '--json']);
    const before = await rolloutCount();
    const retired = await runFerry(home, ['cmdb', 'clone-config', 'prod-1', '--to', 'test-1'], { allowFail: true });
    expect(retired.code).not.toBe(0);
    expect(retired.stderr).toMatch(/^FERRY_CONFLICT: cannot copy prod-1: it runs web@1.0.0, retired in the DML — hint: /);
    oneLine(retired.stderr);
    expect(await rolloutCount()).toBe(before);
  }, 120_000);
});
