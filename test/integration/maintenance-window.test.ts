// Workstation maintenance windows with real agents: an agent whose window is closed holds the
// install and the rollout shows it as waiting (with the reason), not failed, even past the
// rollout's --host-timeout; it installs when the window opens. An agent with a deadline installs
// although its window is still closed. The agents' window clock is shifted through the test-only
// window-clock-agent harness (an offset in ms in a file it watches): the test opens the window
// when it has seen what it must see while the window is closed, so a slow machine cannot race it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupFleet, initServer, createToken, runAgentCli, runFerry, startAgents, tempDir, WINDOW_CLOCK_AGENT_BIN, type JoinedAgent, type ServerHandle } from '../helpers/fleet.js';
import { appliedGeneration, journalMeta, publishPackage, readCurrent } from '../helpers/faults.js';
import { fullStatus, waitStatus, type FullRolloutStatus } from '../helpers/rollouts.js';

type Host = FullRolloutStatus['hosts'][number] & { waiting?: boolean; waitingUntil?: string };

async function joinWithWindow(home: string, hostname: string, flags: string[]): Promise<JoinedAgent> {
  const stateDir = tempDir(`ferry-agent-${hostname}-`);
  const doc = (await runAgentCli(stateDir, ['join', '--token', await createToken(home), '--json', ...flags], { env: { FERRY_HOSTNAME: hostname } })).json<{ agentId: string; installRoot: string; tags: Record<string, string>; maintenance?: unknown }>();
  expect(doc.maintenance).toMatchObject({ window: flags[flags.indexOf('--window') + 1] });
  return { home, hostname, id: doc.agentId, stateDir, installRoot: doc.installRoot, tags: doc.tags };
}

describe('agent maintenance window and deadline', () => {
  let server: ServerHandle;
  let lunch: JoinedAgent;
  let weekend: JoinedAgent;
  /** the removal rollout of test 3, rolled back in test 4 */
  let removalId: string | undefined;

  beforeAll(async () => {
    server = await initServer();
    await publishPackage(server.home, { name: 'office', version: '1.0.0', files: { 'VERSION': 'office 1.0.0\n' } });
    await runFerry(server.home, ['release', 'create', 'office-1', '--package', 'office@1.0.0', '--json']);
    // 2030-01-07 is a Monday. "lunch" may install Mon 10:00-11:00; "weekend" only on Saturdays,
    // but with a deadline of 20 seconds (time for a busy machine to show it waiting first).
    lunch = await joinWithWindow(server.home, 'ws-lunch', ['--window', 'Mon 10:00-11:00']);
    weekend = await joinWithWindow(server.home, 'ws-weekend', ['--window', 'Sat 10:00-11:00', '--timezone', 'Europe/Berlin', '--deadline', '20s']);
  }, 120_000);

  afterAll(async () => {
    await cleanupFleet();
  });

  it('refuses a bad window or a deadline without one, before contacting the server', async () => {
    const dir = tempDir('ferry-agent-bad-');
    const bad = await runAgentCli(dir, ['join', '--token', 'x', '--window', 'Mon 25:00-26:00'], { allowFail: true });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^FERRY_INVALID_INPUT: .*window/);
    const lone = await runAgentCli(dir, ['join', '--token', 'x', '--deadline', '1h'], { allowFail: true });
    expect(lone.code).toBe(2);
    expect(lone.stderr).toMatch(/^FERRY_USAGE: --deadline needs a --window/);
  });

  it('holds installs outside the window as waiting (not failed, not timed out), then installs', async () => {
    // The window clock reads 09:00 on Monday: "lunch" opens in an hour, unless the test moves the clock.
    const clock = join(tempDir('ferry-window-clock-'), 'offset');
    const setClock = (iso: string) => writeFileSync(clock, String(Date.parse(iso) - Date.now()));
    setClock('2030-01-07T09:00:00Z');
    await startAgents([lunch, weekend], { env: { FERRY_HARNESS_WINDOW_CLOCK_FILE: clock }, entry: WINDOW_CLOCK_AGENT_BIN });
    const started = (await runFerry(server.home, ['rollout', 'start', 'office-1', '--host-timeout', '15s', '--json'])).json<{ id: string }>();

    const host = (s: FullRolloutStatus, a: JoinedAgent) => s.hosts.find((h) => h.agent === a.id) as Host;
    const waiting = await waitStatus(server.home, started.id, (s) => Boolean(host(s, lunch).waiting && host(s, weekend).waiting), 30_000, 'both hosts waiting');
    expect(host(waiting, lunch)).toMatchObject({ state: 'sent', waiting: true, reason: expect.stringMatching(/maintenance window "Mon 10:00-11:00" \(UTC\) is closed; it opens at /) });
    expect(host(waiting, weekend)).toMatchObject({ state: 'sent', waiting: true, reason: expect.stringMatching(/"Sat 10:00-11:00" \(Europe\/Berlin\) is closed; .*deadline /) });
    expect(waiting.state).toBe('running');

    const human = await runFerry(server.home, ['rollout', 'status', started.id]);
    // Plain columns into a pipe (no box drawing); the DETAIL column says when the host resumes.
    expect(human.stdout).toMatch(/ws-lunch .* waiting +maintenance window "Mon 10:00-11:00".*; resumes in /);

    // The deadline: "weekend" installs although its window stays closed; "lunch" still waits,
    // past the 15 s host timeout, because its window has not opened.
    const deadline = await waitStatus(server.home, started.id, (s) => host(s, weekend).state === 'succeeded', 30_000, 'the deadline host installed');
    expect(host(deadline, lunch)).toMatchObject({ state: 'sent', waiting: true });
    expect(readCurrent(lunch.installRoot, 'office')).toBeUndefined();

    // The window opens (the clock jumps to 10:00:01): "lunch" installs and the rollout completes.
    setClock('2030-01-07T10:00:01Z');
    const done = await waitStatus(server.home, started.id, (s) => s.state === 'completed', 30_000, 'the rollout completed');
    expect(done.hosts.map((h) => [h.hostname, h.state, (h as Host).waiting ?? false]).sort()).toEqual([
      ['ws-lunch', 'succeeded', false],
      ['ws-weekend', 'succeeded', false],
    ]);
    expect((await fullStatus(server.home, started.id)).hosts.every((h) => !h.error)).toBe(true);
  }, 180_000);

  it('holds a removal like an install: waiting while the window is closed, done at the deadline', async () => {
    const host = (s: FullRolloutStatus) => s.hosts.find((h) => h.agent === weekend.id) as Host;
    const started = (await runFerry(server.home, ['rollout', 'start', '--remove', 'office', '--target', 'hostname=ws-weekend', '--json'])).json<{ id: string }>();
    removalId = started.id;
    const waiting = await waitStatus(server.home, started.id, (s) => Boolean(host(s).waiting), 10_000, 'the removal waiting for the window');
    expect(host(waiting)).toMatchObject({ state: 'sent', reason: expect.stringMatching(/"Sat 10:00-11:00" \(Europe\/Berlin\) is closed/) });
    expect(readCurrent(weekend.installRoot, 'office')).toBe('1.0.0'); // nothing removed while it waits
    const done = await waitStatus(server.home, started.id, (s) => s.state === 'completed', 30_000, 'the removal completed at the deadline');
    expect(host(done)).toMatchObject({ state: 'succeeded' });
    expect(readCurrent(weekend.installRoot, 'office')).toBeUndefined();
  }, 120_000);

  it('never holds a back-out: rolling the removal back reinstalls at once, although the window is closed', async () => {
    expect(removalId, 'test 3 must have run').toBeDefined();
    const heldBefore = journalMeta(weekend.stateDir, 'held-since');
    await runFerry(server.home, ['rollout', 'rollback', removalId!]);
    await waitStatus(server.home, removalId!, (s) => s.state === 'rolled-back', 20_000, 'the removal rolled back');
    expect(readCurrent(weekend.installRoot, 'office')).toBe('1.0.0');
    // A held desired state records when it arrived; the back-out's generation never was.
    expect(journalMeta(weekend.stateDir, 'held-since')).toBe(heldBefore);
    expect(Number(heldBefore!.split(':')[0])).toBeLessThan(appliedGeneration(weekend.stateDir));
  }, 120_000);
});
