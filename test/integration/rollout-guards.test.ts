// Guard rails of `ferry rollout start` and `ferry dml authorize --evidence`, through the real CLIs
// against a real server, real nats-server and real agents (issue 19, "Rollouts"):
// - a selector (or a removal) that reaches no host is refused with FERRY_NO_TARGETS, naming the
//   selector and the nearest values the fleet has, unless --allow-empty; so is a selection whose
//   every host is skipped (offline, incompatible), with the reasons counted;
// - an empty rollout is no QA evidence; a real one says on how many hosts it installed; evidence
//   that looks like a rollout id but names none (a typo) is refused, not kept as a note;
// - a rollout over hosts an unfinished rollout of the same package holds is FERRY_CONFLICT
//   (naming it) unless --supersede, which ends the older one for those hosts, on its timeline;
//   --dry-run shows downgrades;
// - impossible values are refused and implied defaults are said;
// - agent refusals and fleet rollbacks do not raise the packages' risk.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupFleet, createToken, initServer, joinAgent, pollAgents, runFerry, startAgents, waitFor, type JoinedAgent, type ServerHandle } from '../helpers/fleet.js';
import { mapLimit } from '../helpers/faults.js';
import { publishRelease, reviewJson, startAndWait, waitStatus, fullStatus, type PackageSpec } from '../helpers/rollouts.js';

afterAll(cleanupFleet, 60_000);

function greeter(version: string): PackageSpec {
  return { name: 'greeter', version, files: { VERSION: `greeter ${version}\n` } };
}

interface RiskDoc {
  policy: { risk: { level: string; factors: string[] } };
}

describe('rollout guard rails (real server, NATS and agents)', () => {
  let server: ServerHandle;
  let home: string;
  let agents: JoinedAgent[];
  let emptyId: string;
  let realId: string;

  beforeAll(async () => {
    server = await initServer();
    home = server.home;
    const fleet = (async () => {
      const [qa, dev] = await Promise.all([createToken(home, { uses: 2, tags: { env: 'qa' } }), createToken(home, { uses: 1, tags: { env: 'dev' } })]);
      agents = await Promise.all([joinAgent(home, 'guard-1', { token: qa }), joinAgent(home, 'guard-2', { token: qa }), joinAgent(home, 'guard-3', { token: dev })]);
      await startAgents(agents);
    })();
    await Promise.all([fleet, ...['1.0.0', '1.1.0', '1.2.0'].map((v) => publishRelease(home, `g-${v.slice(0, 3)}`, greeter(v)))]);
  }, 120_000);

  it('refuses a selector that matches no host, naming the selector and the nearest tag values; --allow-empty starts it', async () => {
    // (At once: the refused start, and a dry run that shows the (empty) plan and says that a start would be refused.)
    const [refused, planRun] = await Promise.all([
      runFerry(home, ['rollout', 'start', 'g-1.0', '--target', 'env=qaa', '--wait'], { allowFail: true }),
      runFerry(home, ['rollout', 'start', 'g-1.0', '--target', 'env=qaa', '--dry-run', '--json']),
    ]);
    expect(refused.code, refused.stderr).toBe(3);
    const line = refused.stderr.trim().split('\n').at(-1)!;
    expect(line).toMatch(/^FERRY_NO_TARGETS: rollout of g-1.0 refused: selector "env=qaa" matches none of the 3 host\(s\); nearest env values: qa \(2 hosts\), dev \(1 host\)/);
    expect(line).toContain('--allow-empty');
    expect((await runFerry(home, ['rollout', 'list', '--json'])).json<unknown[]>()).toEqual([]); // nothing stored
    const plan = planRun.json<{ hosts: unknown[]; notes: string[] }>();
    expect(plan.hosts).toEqual([]);
    expect(plan.notes).toEqual([expect.stringMatching(/^a start would be refused: FERRY_NO_TARGETS: rollout of g-1.0 refused: selector "env=qaa" matches none/)]);

    const allowed = await startAndWait(home, 'g-1.0', ['--target', 'env=qaa', '--allow-empty']);
    expect(allowed.code, allowed.result.stderr).toBe(0);
    expect(allowed.status.state).toBe('completed');
    expect(allowed.status.hosts).toEqual([]);
    emptyId = allowed.status.id;
  });

  it('an empty rollout is no evidence; a completed one says on how many hosts it installed the package', async () => {
    const refused = await runFerry(home, ['dml', 'authorize', 'greeter@1.0.0', '--evidence', emptyId], { allowFail: true });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`FERRY_INVALID_INPUT: evidence ${emptyId} completed without installing greeter@1.0.0 on any host (0 succeeded)`);

    const done = await startAndWait(home, 'g-1.0', []);
    expect(done.code, done.result.stderr).toBe(0);
    realId = done.status.id;
    // A mistyped rollout id is refused in one line naming it, not stored as a free-text note.
    const typo = `${realId.slice(0, -1)}${realId.endsWith('0') ? '1' : '0'}`;
    const bads = [typo, realId.slice(0, -1), `${typo} (QA run)`];
    const runs = await Promise.all(bads.map((bad) => runFerry(home, ['dml', 'authorize', 'greeter@1.0.0', '--evidence', bad], { allowFail: true })));
    for (const [i, bad] of bads.entries()) {
      const r = runs[i]!;
      expect(r.code, r.stderr).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^FERRY_INVALID_INPUT: evidence ${bad.split(' ')[0]} is not a rollout Ferry knows`));
    }
    expect((await runFerry(home, ['dml', 'show', 'greeter@1.0.0', '--json'])).json<{ state: string }>().state).not.toBe('authorized');
    const ok = await runFerry(home, ['dml', 'authorize', 'greeter@1.0.0', '--evidence', realId]);
    expect(ok.stdout).toContain(`evidence ${realId}: installed on 3 host(s)`);
    const doc = (await runFerry(home, ['dml', 'show', 'greeter@1.0.0', '--json'])).json<{ state: string; evidence: string }>();
    expect(doc).toMatchObject({ state: 'authorized', evidence: realId });
  });

  it('refuses the removal of a package no targeted host has, naming the nearest installed package', async () => {
    const [refused, typo] = await Promise.all([
      runFerry(home, ['rollout', 'start', '--remove', 'greetr', '--wait'], { allowFail: true }),
      runFerry(home, ['rollout', 'start', '--remove', 'greeter', '--target', 'env=prdo'], { allowFail: true }),
    ]);
    expect(refused.code, refused.stderr).toBe(3);
    expect(refused.stderr).toMatch(/FERRY_NO_TARGETS: rollout of remove greetr refused: none of the 3 host\(s\) matching "all" has greetr installed; nearest installed packages: greeter \(3 hosts\)/);
    expect(typo.code).toBe(3);
    expect(typo.stderr).toMatch(/FERRY_NO_TARGETS: .*selector "env=prdo" matches none of the 3 host\(s\); nearest env values: /);
  });

  it('refuses impossible values and says which default an implied flag uses', async () => {
    // None of these starts anything: they run a few at a time.
    const start = (args: string[]) => ['rollout', 'start', 'g-1.1', ...args];
    const usage = [
      [['--timezone', 'Europe/Paris'], /^FERRY_USAGE: --timezone is the time zone of --window; give a --window too/],
      [['--reason', 'INC-7'], /^FERRY_USAGE: --reason explains a --force; without --force nothing is overridden/],
      [['--timeout', '5m'], /^FERRY_USAGE: --timeout is how long --wait waits; add --wait/],
      [['--waves', '1,100%'], /^FERRY_USAGE: --waves applies only to --strategy phased — hint: add --strategy phased \(the default strategy is big-bang\)/],
      [['--strategy', 'phased', '--waves', '0,100%'], /^FERRY_INVALID_INPUT: wave 0 has no hosts: a wave is at least 1 host/],
    ] as const;
    const [bad, plan, jsonRun, utcRun, parisRun, copy, ...usageRuns] = await mapLimit(
      [
        start(['--max-failures', '150%']),
        start(['--strategy', 'phased', '--dry-run']),
        start(['--strategy', 'phased', '--dry-run', '--json']),
        start(['--window', 'Sat,Sun', '--dry-run', '--json']),
        start(['--window', 'Sat,Sun', '--timezone', 'Europe/Paris', '--dry-run', '--json']),
        // the same rule for the other command that can --wait
        ['cmdb', 'clone-config', 'guard-1', '--to', 'guard-3', '--timeout', '5m'],
        ...usage.map(([args]) => start([...args])),
      ],
      4,
      (args) => runFerry(home, args, { allowFail: true }),
    );
    expect(bad!.code).toBe(2);
    expect(bad!.stderr.trim().split('\n').at(-1)).toMatch(/^FERRY_INVALID_INPUT: --max-failures 150% is more than 100% of a wave/);
    expect(plan!.code, plan!.stderr).toBe(0);
    expect(plan!.stderr).toContain('note: --strategy phased without --waves: using the default waves 1,10%,50%,100%');
    const json = jsonRun!.json<{ notes: string[]; options: { waves: string[] } }>();
    expect(json.options.waves).toEqual(['1', '10%', '50%', '100%']);
    expect(json.notes).toEqual(['--strategy phased without --waves: using the default waves 1,10%,50%,100%']);
    // A window's time zone is said when it was not given; a given one is kept.
    const utc = utcRun!.json<{ notes: string[]; options: { timeZone: string } }>();
    expect(utc.notes).toContain('--window without --timezone: the window "Sat,Sun" is in UTC');
    expect(utc.options.timeZone).toBe('UTC');
    const paris = parisRun!.json<{ notes: string[]; options: { timeZone: string } }>();
    expect(paris.options.timeZone).toBe('Europe/Paris');
    expect(paris.notes.join('\n')).not.toContain('--timezone');
    // A flag that would silently do nothing is refused: one line, a stable code, exit 2.
    for (const [i, [args, line]] of usage.entries()) {
      const r = usageRuns[i]!;
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(line);
    }
    expect(copy!.code, copy!.stderr).toBe(2);
    expect(copy.stderr.trim()).toBe('FERRY_USAGE: --timeout is how long --wait waits; add --wait (or drop --timeout)');
    expect((await runFerry(home, ['rollout', 'list', '--json'])).json<unknown[]>()).toHaveLength(2); // nothing new
  });

  it('refuses a rollout over hosts an unfinished rollout of the same package holds; --dry-run shows downgrades; --supersede ends the older one', async () => {
    // g-1.1, phased: the canary installs and soaks for minutes; the rest wait in wave 2.
    const older = (await runFerry(home, ['rollout', 'start', 'g-1.1', '--strategy', 'phased', '--waves', '1,100%', '--soak', '10m', '--json'])).json<{ id: string }>().id;
    const soaking = await waitStatus(home, older, (s) => s.waves[0]?.state === 'soaking', 30_000, 'canary soaking');
    const canary = soaking.hosts.find((h) => h.wave === 0)!;

    const [refused, planRun, text] = await Promise.all([
      runFerry(home, ['rollout', 'start', 'g-1.2'], { allowFail: true }),
      runFerry(home, ['rollout', 'start', 'g-1.0', '--dry-run', '--json']),
      runFerry(home, ['rollout', 'start', 'g-1.0', '--dry-run']),
    ]);
    expect(refused.code, refused.stderr).toBe(4);
    expect(refused.stderr).toMatch(new RegExp(`FERRY_CONFLICT: rollout of g-1.2 refused: rollout ${older} \\(g-1.1, running\\) still holds 3 of its hosts`));
    expect(refused.stderr).toContain('--supersede');

    // A downgrade over the canary (on 1.1.0): the plan says so, and names the conflict.
    const plan = planRun.json<{ downgrades: number; hosts: { agent: string; downgrades?: unknown[] }[]; conflicts: { rollout: string; hosts: string[] }[] }>();
    expect(plan.downgrades).toBe(1);
    expect(plan.hosts.find((h) => h.agent === canary.agent)!.downgrades).toEqual([{ name: 'greeter', from: '1.1.0', to: '1.0.0' }]);
    expect(plan.conflicts).toEqual([expect.objectContaining({ rollout: older })]);
    expect(text.stdout).toMatch(/DOWNGRADE greeter 1\.1\.0 → 1\.0\.0/);
    expect(text.stdout).toContain(`CONFLICT: rollout ${older}`);

    const newer = await startAndWait(home, 'g-1.2', ['--supersede']);
    expect(newer.code, newer.result.stderr).toBe(0);
    expect(newer.status.hosts.map((h) => h.state)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    const old = await fullStatus(home, older);
    expect(old.state).toBe('aborted');
    expect(old.reason).toContain(`superseded by ${newer.status.id}`);
    expect(old.hosts.filter((h) => h.state === 'skipped').every((h) => h.error === `superseded by ${newer.status.id}`)).toBe(true);
    // Ended: its canary's soak (minutes left) and its second wave are over, not counting down or pending.
    expect(old.waves.map((w) => w.state)).toEqual(['aborted', 'aborted']);
    expect(old.hosts.map((h) => h.state).sort()).toEqual(['skipped', 'skipped', 'succeeded']);
    expect((await runFerry(home, ['rollout', 'status', older])).stdout).not.toMatch(/soak|pending/);
    const timeline = (await reviewJson(home, older)).timeline;
    expect(timeline).toContainEqual(expect.objectContaining({ action: 'superseded', detail: `3 host(s) taken over by ${newer.status.id}` }));
    realId = newer.status.id;
  });

  it('agent refusals and fleet rollbacks do not count as failures in the risk score', async () => {
    const riskBefore = (await runFerry(home, ['rollout', 'start', 'g-1.2', '--dry-run', '--json'])).json<RiskDoc>().policy.risk;
    expect(riskBefore.factors).toContain('0 of 7 earlier installs of these packages failed (0.0%)');
    // Every host is on 1.2.0: the agents refuse 1.0.0 (a downgrade that is not a rollback).
    const refused = await startAndWait(home, 'g-1.0', ['--max-failures', '100%']);
    expect(refused.status.hosts.map((h) => h.state)).toEqual(['failed', 'failed', 'failed']);
    for (const h of refused.status.hosts) expect(h.error).toMatch(/^FERRY_COMMAND_REJECTED: refusing to downgrade greeter/);
    // The operator sends the g-1.2 hosts back.
    await runFerry(home, ['rollout', 'rollback', realId]);
    const back = await waitStatus(home, realId, (s) => s.state === 'rolled-back', 30_000, 'fleet rollback done');
    expect(back.hosts.map((h) => h.state)).toEqual(['rolled-back', 'rolled-back', 'rolled-back']);
    await waitFor(async () => (await pollAgents(home)).every((a) => a.installed.greeter !== '1.2.0'), 20_000, { message: 'hosts back from 1.2.0' });

    const risk = (await runFerry(home, ['rollout', 'start', 'g-1.2', '--dry-run', '--json'])).json<RiskDoc>().policy.risk;
    expect(risk.factors).toContain('0 of 7 earlier installs of these packages failed (0.0%)');
  });

  it('refuses a selection whose every host is skipped (offline), counting why; --allow-empty starts it', async () => {
    // Joined, never started: the CMDB has never seen it, so it is offline.
    const edge = await createToken(home, { uses: 1, tags: { env: 'edge' } });
    const [, listed] = await Promise.all([joinAgent(home, 'guard-off', { token: edge }), runFerry(home, ['rollout', 'list', '--json'])]);
    const before = listed.json<unknown[]>().length;
    const [refused, planRun] = await Promise.all([
      runFerry(home, ['rollout', 'start', 'g-1.0', '--target', 'env=edge', '--wait'], { allowFail: true }),
      runFerry(home, ['rollout', 'start', 'g-1.0', '--target', 'env=edge', '--dry-run', '--json']),
    ]);
    expect(refused.code, refused.stderr).toBe(3);
    const line = refused.stderr.trim().split('\n').at(-1)!;
    expect(line).toBe(
      'FERRY_NO_TARGETS: rollout of g-1.0 refused: selector "env=edge" matches 1 host(s) but none would receive it: 1 offline' +
        ' — hint: --include-offline sends it to offline hosts when they return; give --allow-empty to start it anyway',
    );
    expect((await runFerry(home, ['rollout', 'list', '--json'])).json<unknown[]>().length).toBe(before); // nothing stored
    const plan = planRun.json<{ notes: string[] }>();
    expect(plan.notes).toEqual([expect.stringMatching(/^a start would be refused: FERRY_NO_TARGETS: .*1 offline/)]);

    const allowed = await runFerry(home, ['rollout', 'start', 'g-1.0', '--target', 'env=edge', '--allow-empty', '--wait', '--timeout', '60s'], { allowFail: true, timeoutMs: 80_000 });
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stderr).toContain('note: selector "env=edge" matches 1 host(s) but none would receive it: 1 offline; started anyway (--allow-empty)');
    const status = (await runFerry(home, ['rollout', 'status', '--json'])).json<{ state: string; hosts: unknown[] }>();
    expect(status.state).toBe('completed');
    expect(status.hosts).toEqual([expect.objectContaining({ state: 'skipped', reason: 'offline' })]);
  });
});
