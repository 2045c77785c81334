// End-to-end tests of release and deployment management through the real CLIs: releases with
// dependencies (install order, whole-release rollback), the DML lifecycle (authorize with
// evidence, retire), the deployment policy (prod needs authorized packages, an approval and a
// completed test rollout; --force --reason is audited), the schedule, the audit log and CMDB
// version queries. Requires the compiled dist/ and nats-server on PATH.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest, cleanupFleet, tempDir, createToken, initServer, joinAgent, listAgents, runFerry, startAgents, waitFor, type AgentHandle, type JoinedAgent, type ServerHandle, type PackageSpec } from '../helpers/fleet.js';
import { cmdbHistory, publishPackage, readCurrent, rolloutStatus, startRollout, type RolloutDoc, waitRolloutEnd } from '../helpers/faults.js';
import { mapLimit } from '../helpers/faults.js';
import { healthPackage, setHealthFailure } from '../helpers/rollouts.js';

afterAll(cleanupFleet, 60_000);

/** Appends "<hook> <package> <version>" to $FERRY_ROOT/hooks.log: the install order, as the host saw it. */
const LOG_HOOK = '#!/bin/sh\necho "$FERRY_HOOK $FERRY_PACKAGE $FERRY_VERSION" >> "$FERRY_ROOT/hooks.log"\n';

function pkg(name: string, version: string, opts: { depends?: Record<string, string>; unhealthy?: boolean } = {}): PackageSpec {
  return {
    name,
    version,
    files: {
      'bin/version.txt': `${name} ${version}\n`,
      'hooks/postinstall.sh': LOG_HOOK,
      'hooks/rollback.sh': LOG_HOOK,
      'hooks/health.sh': opts.unhealthy ? '#!/bin/sh\necho "not healthy" >&2\nexit 1\n' : '#!/bin/sh\nexit 0\n',
    },
    hooks: { postinstall: 'hooks/postinstall.sh', rollback: 'hooks/rollback.sh', healthcheck: 'hooks/health.sh' },
    healthcheck: { retries: 0 },
    ...(opts.depends ? { depends: opts.depends } : {}),
  };
}

function hookLines(installRoot: string): string[] {
  try {
    return readFileSync(join(installRoot, 'hooks.log'), 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

interface PolicyDoc {
  environments: string[];
  violations: string[];
  evidence: { environment: string; rollout: string }[];
  override: { actor: string; reason: string } | null;
  risk: { level: string; computed: string; factors: string[] };
}

describe('release and deployment management: one server, a test host and two prod hosts', () => {
  let server: ServerHandle;
  let home: string;
  let agents: AgentHandle[] = [];
  let testHost: JoinedAgent;
  let prodHosts: JoinedAgent[];
  // People (issue 18): alice manages releases as an admin, bob approves, carol deploys; each with their own credentials.
  const creds: Record<string, string> = {};
  const as = (person: string) => ({ FERRY_CREDS: creds[person]! });
  const ferry = (args: string[], env: Record<string, string> = {}) => runFerry(home, args, { env: { ...as('alice'), ...env } });
  const ferryFails = (args: string[], env: Record<string, string> = {}) => runFerry(home, args, { allowFail: true, env: { ...as('alice'), ...env } });

  beforeAll(async () => {
    server = await initServer();
    home = server.home;
    const credsDir = tempDir('ferry-rm-people-');
    // The people, the fleet and the packages do not wait for each other.
    const people = Promise.all(
      ([['alice', 'admin'], ['bob', 'approver'], ['carol', 'deployer']] as const).map(([person, role]) => {
        creds[person] = join(credsDir, `${person}.creds`);
        return runFerry(home, ['operator', 'add', person, '--role', role, '--out', creds[person]!]);
      }),
    );
    const fleet = (async () => {
      const [testToken, prodToken] = await Promise.all([createToken(home, { uses: 1, tags: { env: 'test' } }), createToken(home, { uses: 2, tags: { env: 'prod' } })]);
      [testHost, ...prodHosts] = await Promise.all([joinAgent(home, 'rm-test-1', { token: testToken }), joinAgent(home, 'rm-prod-1', { token: prodToken }), joinAgent(home, 'rm-prod-2', { token: prodToken })]);
      agents = await startAgents([testHost, ...prodHosts], { env: { FERRY_HEALTH_WATCH_MS: '1000' } });
    })();
    const packages = mapLimit(
      [
        pkg('rt', '2.0.0'),
        pkg('rt', '2.1.0'),
        pkg('rt', '2.2.0'),
        pkg('app', '1.0.0', { depends: { rt: '>=2.1.0' } }),
        pkg('app', '1.1.0', { depends: { rt: '>=2.2.0' }, unhealthy: true }),
        pkg('svc', '1.0.0'),
        pkg('hotfix', '1.0.0'),
        pkg('old', '1.0.0'),
        pkg('pair-a', '1.0.0'),
        pkg('pair-a', '2.0.0'),
        pkg('pair-b', '1.0.0'),
        pkg('pair-b', '2.0.0'),
        healthPackage('db', '1.0.0'),
        healthPackage('db', '2.0.0'),
        { ...healthPackage('web', '1.0.0'), depends: { db: '^1.0.0' } },
        { ...healthPackage('web', '2.0.0'), depends: { db: '^2.0.0' } },
      ],
      3,
      (spec) => publishPackage(home, spec),
    );
    await Promise.all([people, fleet, packages]);
  }, 180_000);

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await server?.stop();
  }, 120_000);

  it('a release with a dependency installs in dependency order and rolls back as one', async () => {
    // Refused: the dependency is in the release at a version outside the range.
    // (At once: the refused release, and the release given app first, stored with rt first: the install order.)
    const [bad, relRun] = await Promise.all([
      ferryFails(['release', 'create', 'rel-bad', '--package', 'app@1.0.0', '--package', 'rt@2.0.0']),
      ferry(['release', 'create', 'rel-1', '--package', 'app@1.0.0', '--package', 'rt@2.1.0', '--rfc', 'CHG-100', '--json']),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/FERRY_INVALID_INPUT: app@1\.0\.0 needs rt >=2\.1\.0, but the release has rt@2\.0\.0/);

    const rel = relRun.json<{
      packages: { name: string }[];
      owner: string;
      rollbackPlan: string;
    }>();
    expect(rel.packages.map((p) => p.name)).toEqual(['rt', 'app']);
    expect(rel.owner).toBe('alice');
    expect(rel.rollbackPlan).toMatch(/previous versions/);

    const id = await startRollout(home, 'rel-1', 'env=test');
    expect((await waitRolloutEnd(home, id)).state).toBe('completed');
    expect(hookLines(testHost.installRoot)).toEqual(['postinstall rt 2.1.0', 'postinstall app 1.0.0']);

    // rel-2: rt moves to 2.2.0 first, then app 1.1.0 fails its health check: the host goes back
    // to rt 2.1.0 and app 1.0.0 together.
    await ferry(['release', 'create', 'rel-2', '--package', 'app@1.1.0', '--package', 'rt@2.2.0']);
    const id2 = await startRollout(home, 'rel-2', 'env=test');
    const end = await waitRolloutEnd(home, id2);
    expect(end.state).toBe('halted');
    const host = end.hosts.find((h) => h.agent === testHost.id)!;
    expect(host.error).toMatch(/rolled back the rest of the release: rt/);
    expect(readCurrent(testHost.installRoot, 'rt')).toBe('2.1.0');
    expect(readCurrent(testHost.installRoot, 'app')).toBe('1.0.0');
    expect(hookLines(testHost.installRoot).slice(2)).toEqual(['postinstall rt 2.2.0', 'postinstall app 1.1.0', 'rollback app 1.1.0', 'rollback rt 2.2.0']);
    const installed = (await listAgents(home)).find((a) => a.id === testHost.id)!.installed;
    expect(installed).toMatchObject({ rt: '2.1.0', app: '1.0.0' });

    // The CMDB answers by installed version.
    const [versionsRun, selectedRun] = await Promise.all([ferry(['cmdb', 'versions', 'rt', '--json']), ferry(['agents', 'list', '--target', 'installed.rt=2.1.*', '--json'])]);
    const versions = versionsRun.json<{ hosts: number; notInstalled: number; versions: { version: string; hosts: number; hostnames: string[] }[] }>();
    expect(versions).toMatchObject({ hosts: 3, notInstalled: 2, versions: [{ version: '2.1.0', hosts: 1, hostnames: ['rm-test-1'] }] });
    const selected = selectedRun.json<{ hostname: string }[]>();
    expect(selected.map((a) => a.hostname)).toEqual(['rm-test-1']);
  });

  it('a release that turns unhealthy during the soak goes back as a whole, and the review shows it', async () => {
    await ferry(['release', 'create', 'rel-db-1', '--package', 'web@1.0.0', '--package', 'db@1.0.0']);
    const first = await startRollout(home, 'rel-db-1', 'env=test');
    expect((await waitRolloutEnd(home, first)).state).toBe('completed');

    await ferry(['release', 'create', 'rel-db-2', '--package', 'web@2.0.0', '--package', 'db@2.0.0']);
    const id = await startRollout(home, 'rel-db-2', 'env=test', ['--soak', '60s']);
    // Break the health check only once the install is over: the host reported 2.0.0 committed and
    // the soak runs. (Waiting for `current` alone raced the install's own health check on a busy
    // machine: the failure then came during the install, not the soak, and `watched` was 0.)
    await waitFor(async () => (await apiRequest(home, 'rollout.status', { id })).hosts.some((h) => h.agent === testHost.id && h.state === 'succeeded'), 30_000, { intervalMs: 200, message: 'rm-test-1 reported rel-db-2 installed' });
    expect([readCurrent(testHost.installRoot, 'web'), readCurrent(testHost.installRoot, 'db')]).toEqual(['2.0.0', '2.0.0']);
    setHealthFailure(testHost.installRoot, 'web', true);
    try {
      const end = await waitRolloutEnd(home, id, 40_000);
      expect(end.state).toBe('halted');
      // The rollout halts on the first failure report; the host goes on reverting the release
      // (web, then db with it), so wait for it to finish rather than assume it already has.
      await waitFor(() => readCurrent(testHost.installRoot, 'web') === '1.0.0' && readCurrent(testHost.installRoot, 'db') === '1.0.0', 30_000, {
        message: () => `rm-test-1 did not go back to web 1.0.0 + db 1.0.0: web ${readCurrent(testHost.installRoot, 'web')}, db ${readCurrent(testHost.installRoot, 'db')}`,
      });
      const review = (await ferry(['rollout', 'review', id, '--json'])).json<{ earlyLife: { soakMs: number; watched: number; stayedHealthy: number; failedDuringSoak: { hostname: string; error: string }[] } }>();
      expect(review.earlyLife).toMatchObject({ soakMs: 60_000, watched: 1, stayedHealthy: 0 });
      expect(review.earlyLife.failedDuringSoak).toEqual([expect.objectContaining({ hostname: 'rm-test-1', error: expect.stringMatching(/during soak/) })]);
      const markdown = (await ferry(['rollout', 'review', id])).stdout;
      expect(markdown).toMatch(/## Early life support[\s\S]*0 of 1 host\(s\) stayed healthy[\s\S]*rm-test-1/);
    } finally {
      setHealthFailure(testHost.installRoot, 'web', false);
    }
  });

  it('the CMDB records every package a release changed, with the version each replaced; a fleet rollback of it too', async () => {
    await Promise.all([
      ferry(['release', 'create', 'rel-pair-1', '--package', 'pair-a@1.0.0', '--package', 'pair-b@1.0.0']),
      ferry(['release', 'create', 'rel-pair-2', '--package', 'pair-a@2.0.0', '--package', 'pair-b@2.0.0']),
    ]);
    const first = await startRollout(home, 'rel-pair-1', 'env=test');
    expect((await waitRolloutEnd(home, first)).state).toBe('completed');
    const second = await startRollout(home, 'rel-pair-2', 'env=test');
    expect((await waitRolloutEnd(home, second)).state).toBe('completed');
    await ferry(['rollout', 'rollback', second]);
    await waitFor(async () => (await rolloutStatus(home, second)).state === 'rolled-back', 30_000, { message: 'the fleet rollback of rel-pair-2 did not finish' });
    expect([readCurrent(testHost.installRoot, 'pair-a'), readCurrent(testHost.installRoot, 'pair-b')]).toEqual(['1.0.0', '1.0.0']);

    const rollback = `${second}:rollback`;
    const history = await waitFor(async () => {
      const h = await cmdbHistory(home, testHost.id);
      return h.some((e) => e.operation === rollback) ? h : undefined;
    }, 30_000, { message: 'the fleet rollback never reached the CMDB' });
    const lines = (operation: string) =>
      history
        .filter((e) => e.operation === operation)
        .map((e) => `${e.kind} ${e.package} ${e.version} from ${e.fromVersion ?? '-'} ${e.result}`)
        .sort();
    expect(lines(first)).toEqual(['install pair-a 1.0.0 from - succeeded', 'install pair-b 1.0.0 from - succeeded']);
    expect(lines(second)).toEqual(['install pair-a 2.0.0 from 1.0.0 succeeded', 'install pair-b 2.0.0 from 1.0.0 succeeded']);
    expect(lines(rollback)).toEqual(['rollback pair-a 1.0.0 from 2.0.0 succeeded', 'rollback pair-b 1.0.0 from 2.0.0 succeeded']);
    // The hooks' output of both packages is kept, once (on the line of the package installed last).
    const logs = (await ferry(['logs', testHost.hostname, '--rollout', second, '--json'])).json<{ entries: { operation: string; package: string; output: string | null }[] }>();
    const outputs = logs.entries.filter((e) => e.operation === second && e.output).map((e) => e.output!);
    expect(outputs).toHaveLength(1);
    expect(outputs[0]).toMatch(/# pair-a@2\.0\.0\n[\s\S]*# pair-b@2\.0\.0\n|# pair-b@2\.0\.0\n[\s\S]*# pair-a@2\.0\.0\n/);
  });

  it('a prod rollout is refused without authorization, approval and test evidence, and accepted after them', async () => {
    await ferry(['release', 'create', 'rel-svc', '--package', 'svc@1.0.0', '--rfc', 'CHG-200']);

    // (At once: the refusal, the dry run and the bogus evidence change nothing.)
    const [refused, planRun, bogus] = await Promise.all([
      ferryFails(['rollout', 'start', 'rel-svc', '--target', 'env=prod']),
      ferry(['rollout', 'start', 'rel-svc', '--target', 'env=prod', '--dry-run', '--json']),
      ferryFails(['dml', 'authorize', 'svc@1.0.0', '--evidence', 'r-00000000']),
    ]);
    expect(refused.code).toBe(7);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/^FERRY_POLICY_DENIED: rollout of rel-svc refused by policy: /);
    expect(refused.stderr).toMatch(/svc@1\.0\.0 is draft/);
    expect(refused.stderr).toMatch(/needs 1 approval\(s\) of release rel-svc, it has 0/);
    expect(refused.stderr).toMatch(/needs a completed rollout of rel-svc on env=test hosts first/);
    expect(refused.stderr).toMatch(/--force --reason/);

    // The dry run shows the same verdict without refusing.
    const plan = planRun.json<{ policy: PolicyDoc }>();
    expect(plan.policy.environments).toEqual(['prod']);
    expect(plan.policy.violations).toHaveLength(3);

    // Evidence that is not a completed rollout of this package is refused.
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toMatch(/FERRY_INVALID_INPUT: evidence r-00000000 is not a rollout/);

    // Test first (the default policy asks nothing of env=test), then authorize with that evidence.
    const testRun = await startRollout(home, 'rel-svc', 'env=test');
    expect((await waitRolloutEnd(home, testRun)).state).toBe('completed');
    const authorized = (await ferry(['dml', 'authorize', 'svc@1.0.0', '--evidence', testRun, '--json'])).json<{ state: string; authorizedBy: string; evidence: string }>();
    expect(authorized).toMatchObject({ state: 'authorized', authorizedBy: 'alice', evidence: testRun });

    const stillRefused = await ferryFails(['rollout', 'start', 'rel-svc', '--target', 'env=prod']);
    expect(stillRefused.code).toBe(7);
    expect(stillRefused.stderr).toMatch(/approval/);
    expect(stillRefused.stderr).not.toMatch(/is draft|completed rollout/);

    const approved = (await ferry(['release', 'approve', 'rel-svc', '--comment', 'CAB 2026-11-22', '--json'], as('bob'))).json<{ approvals: { actor: string }[] }>();
    expect(approved.approvals.map((a) => a.actor)).toEqual(['bob']);

    const started = (await ferry(['rollout', 'start', 'rel-svc', '--target', 'env=prod', '--json'])).json<{ id: string; policy: PolicyDoc }>();
    expect(started.policy.violations).toEqual([]);
    expect(started.policy.evidence).toEqual([{ environment: 'test', rollout: testRun }]);
    expect((await waitRolloutEnd(home, started.id)).state).toBe('completed');

    const review = (await ferry(['rollout', 'review', started.id, '--json'])).json<{ rfc: string; owner: string; approvals: { actor: string }[]; policy: PolicyDoc }>();
    expect(review).toMatchObject({ rfc: 'CHG-200', owner: 'alice' });
    expect(review.approvals.map((a) => a.actor)).toEqual(['bob']);
    expect(review.policy.evidence[0]!.rollout).toBe(testRun);
  });

  it('--force --reason overrides the policy, and the override is in the audit log and the review', async () => {
    await ferry(['release', 'create', 'rel-hotfix', '--package', 'hotfix@1.0.0', '--risk', 'high']);
    const [noReason, refused] = await Promise.all([ferryFails(['rollout', 'start', 'rel-hotfix', '--target', 'env=prod', '--force']), ferryFails(['rollout', 'start', 'rel-hotfix', '--target', 'env=prod'], as('carol'))]);
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toMatch(/FERRY_USAGE: --force needs --reason/);
    expect(refused.code).toBe(7);

    const forced = (await ferry(['rollout', 'start', 'rel-hotfix', '--target', 'env=prod', '--force', '--reason', 'INC-42 emergency fix', '--json'], as('carol'))).json<{
      id: string;
      risk: string;
      policy: PolicyDoc;
    }>();
    expect(forced.risk).toBe('high');
    expect(forced.policy.override).toMatchObject({ actor: 'carol', reason: 'INC-42 emergency fix' });
    expect(forced.policy.violations.length).toBe(3);
    expect((await waitRolloutEnd(home, forced.id)).state).toBe('completed');

    const audit = (await ferry(['audit', '--action', 'rollout.*', '--actor', 'carol', '--json'])).json<
      { actor: string; action: string; target: string; args: Record<string, unknown>; result: string; error: string | null }[]
    >();
    expect(audit.map((e) => [e.action, e.result])).toEqual([
      ['rollout.start', 'error'],
      ['rollout.start', 'ok'],
    ]);
    expect(audit[0]!.error).toMatch(/^FERRY_POLICY_DENIED/);
    expect(audit[1]).toMatchObject({ target: 'rel-hotfix', args: { force: true, reason: 'INC-42 emergency fix', target: 'env=prod' } });

    const markdown = (await ferry(['rollout', 'review', forced.id])).stdout;
    expect(markdown).toMatch(/\*\*Policy overridden\*\* by carol at .*: INC-42 emergency fix/);
    expect(markdown).toMatch(/Risk \| high/);
  });

  it('a retired package cannot be released, authorized or deployed', async () => {
    await ferry(['release', 'create', 'rel-old', '--package', 'old@1.0.0']);
    const retired = (await ferry(['dml', 'retire', 'old@1.0.0', '--reason', 'CVE-2026-1234', '--json'])).json<{ state: string; retiredBy: string; retireReason: string }>();
    expect(retired).toMatchObject({ state: 'retired', retiredBy: 'alice', retireReason: 'CVE-2026-1234' });

    const [deploy, release, authorize, shownRun] = await Promise.all([
      ferryFails(['rollout', 'start', 'rel-old', '--target', 'env=test']),
      ferryFails(['release', 'create', 'rel-old-2', '--package', 'old@1.0.0']),
      ferryFails(['dml', 'authorize', 'old@1.0.0']),
      ferry(['dml', 'show', 'old@1.0.0', '--json']),
    ]);
    expect(deploy.code).toBe(4);
    expect(deploy.stderr).toMatch(/FERRY_CONFLICT: old@1\.0\.0 is retired and cannot be deployed \(CVE-2026-1234\)/);
    expect(release.stderr).toMatch(/FERRY_CONFLICT: old@1\.0\.0 is retired/);
    expect(authorize.stderr).toMatch(/FERRY_CONFLICT: old@1\.0\.0 is retired and cannot be authorized/);
    const shown = shownRun.json<{ state: string; retiredAt: string | null }>();
    expect(shown.state).toBe('retired');
    expect(shown.retiredAt).not.toBeNull();
    // Nothing was started for it.
    const list = (await ferry(['rollout', 'list', '--json'])).json<{ release: string }[]>();
    expect(list.some((r) => r.release === 'rel-old')).toBe(false);
  });

  it('the schedule lists a scheduled rollout with its change record, as JSON and as iCalendar', async () => {
    const id = await startRollout(home, 'rel-1', 'env=prod', ['--start-at', '+2h', '--window', 'Sat,Sun', '--force', '--reason', 'weekend window test']);
    const [entriesRun, icsRun] = await Promise.all([ferry(['schedule', '--json']), ferry(['schedule', '--ics'])]);
    const entries = entriesRun.json<
      { rollout: string; release: string; state: string; hosts: number; owner: string; rfc: string; risk: string; rollbackPlan: string; window: string; start: string; end: string | null }[]
    >();
    const e = entries.find((x) => x.rollout === id)!;
    expect(e).toMatchObject({ release: 'rel-1', state: 'waiting', hosts: 2, owner: 'alice', rfc: 'CHG-100', window: 'Sat,Sun' });
    expect(['low', 'medium', 'high']).toContain(e.risk);
    expect(Date.parse(e.start)).toBeGreaterThanOrEqual(Date.now() + 2 * 3_600_000 - 120_000);
    expect([0, 6]).toContain(new Date(e.start).getUTCDay());
    expect(Date.parse(e.end!)).toBeGreaterThan(Date.parse(e.start));

    const ics = icsRun.stdout;
    expect(ics.startsWith('BEGIN:VCALENDAR\r\n')).toBe(true);
    expect(ics).toContain(`UID:${id}@ferry\r\n`);
    expect(ics).toMatch(/DTSTART:\d{8}T\d{6}Z\r\n/);
    expect(ics.replace(/\r\n /g, '')).toContain('RFC: CHG-100');

    await ferry(['rollout', 'abort', id]);
    const [afterRun, withEndedRun] = await Promise.all([ferry(['schedule', '--json']), ferry(['schedule', '--all', '--json'])]);
    const after = afterRun.json<{ rollout: string }[]>();
    expect(after.some((x) => x.rollout === id)).toBe(false);
    const withEnded = withEndedRun.json<{ rollout: string; state: string }[]>();
    expect(withEnded.find((x) => x.rollout === id)?.state).toBe('aborted');
  });

  it('the audit log records administrative actions with who and the result, and not read-only ones', async () => {
    const [allRun, tableRun] = await Promise.all([ferry(['audit', '--json']), ferry(['audit', '--action', 'dml.retire'])]);
    const all = allRun.json<{ actor: string; action: string; target: string | null; result: string }[]>();
    const actions = new Set(all.map((e) => e.action));
    for (const a of ['token.create', 'dml.add', 'dml.authorize', 'dml.retire', 'release.create', 'release.approve', 'rollout.start', 'rollout.action']) expect(actions).toContain(a);
    for (const a of ['dml.list', 'rollout.status', 'agents.list', 'audit.list', 'schedule', 'cmdb.versions']) expect(actions).not.toContain(a);
    expect(all.find((e) => e.action === 'release.approve')).toMatchObject({ actor: 'bob', target: 'rel-svc', result: 'ok' });
    expect(all.find((e) => e.action === 'dml.retire')).toMatchObject({ actor: 'alice', target: 'old@1.0.0' });
    // Tokens are secrets: the log never holds one.
    expect(JSON.stringify(all)).not.toMatch(/"token":"[^[]/);
    const table = tableRun.stdout;
    expect(table).toMatch(/alice.*dml\.retire.*old@1\.0\.0.*ok/);
  });
});
