// Removal rollouts through the real CLIs (`ferry rollout start --remove PACKAGE`): a phased
// removal that completes, a preremove hook that fails (nothing changes, the rollout halts), a
// postremove hook that fails (the kept version is linked back), a fleet rollback that installs
// the removed version again, and the CMDB's record of every removal.
// Requires the compiled dist/ (`npx tsc -p .`) and nats-server on PATH.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupFleet, createToken, initServer, joinAgent, listAgents, runFerry, startAgents, type AgentHandle, type JoinedAgent, type PackageSpec, type ServerHandle } from '../helpers/fleet.js';
import { readCurrent, versionDirs } from '../helpers/faults.js';
import { buildAll, firstJson, publishAll, startAndWait, type FullRolloutStatus } from '../helpers/rollouts.js';

afterAll(cleanupFleet, 60_000);

/** Appends "<package> <hook> <version>" to $FERRY_ROOT/hooks.log. */
const LOG_LINE = 'echo "$FERRY_PACKAGE $FERRY_HOOK $FERRY_VERSION" >> "$FERRY_ROOT/hooks.log"';

/** A package whose preremove/postremove fail while $FERRY_ROOT/fail-<hook>-<package> exists. */
function removable(name: string, version = '1.0.0'): PackageSpec {
  const failing = (hook: string) => `if [ -e "$FERRY_ROOT/fail-${hook}-$FERRY_PACKAGE" ]; then echo "${hook}: the service refuses to stop ($FERRY_PACKAGE $FERRY_VERSION)"; exit 3; fi`;
  return {
    name,
    version,
    files: {
      VERSION: `${name} ${version}\n`,
      'bin/app': `#!/bin/sh\necho ${name}\n`,
      'hooks/preremove.sh': `#!/bin/sh\n${LOG_LINE}\n${failing('preremove')}\nexit 0\n`,
      // Runs with `current` gone but its own directory still there (the version is kept until commit).
      'hooks/postremove.sh': `#!/bin/sh\n${LOG_LINE}\n[ -e "$FERRY_ROOT/$FERRY_PACKAGE/current" ] && echo "current still linked" && exit 4\ncat VERSION > "$FERRY_ROOT/postremove-$FERRY_PACKAGE"\n${failing('postremove')}\nexit 0\n`,
    },
    executable: ['bin/app'],
    hooks: { preremove: 'hooks/preremove.sh', postremove: 'hooks/postremove.sh' },
    hookTimeoutSeconds: 20,
  };
}

function hooksRun(installRoot: string, pkg: string): string[] {
  const path = join(installRoot, 'hooks.log');
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith(`${pkg} `))
    .map((l) => l.split(' ')[1]!);
}

interface CmdbDoc {
  installed: Record<string, string>;
  history: { kind: string; package: string | null; version: string | null; operation: string | null; result: string | null; detail: string | null }[];
}

async function cmdbShow(home: string, host: string): Promise<CmdbDoc> {
  return (await runFerry(home, ['cmdb', 'show', host, '--json'])).json<CmdbDoc>();
}

async function removeAndWait(home: string, pkg: string, extra: string[]): Promise<{ code: number | null; status: FullRolloutStatus; stderr: string }> {
  const r = await runFerry(home, ['rollout', 'start', '--remove', pkg, '--wait', '--json', '--timeout', '60s', ...extra], { allowFail: true, timeoutMs: 80_000 });
  return { code: r.code, status: firstJson<FullRolloutStatus & { operation: string; package: string }>(r.stdout), stderr: r.stderr };
}

describe('removal rollouts: one server, four agents', () => {
  let server: ServerHandle;
  let home: string;
  let agents: AgentHandle[] = [];
  let joined: JoinedAgent[] = [];
  const byId = (id: string) => joined.find((a) => a.id === id)!;

  beforeAll(async () => {
    const specs = ['rma', 'rmb', 'rmc', 'rmd'].map((n) => removable(n));
    const start = async () => {
      const s = await initServer();
      const token = await createToken(s.home, { uses: 4 });
      const list: JoinedAgent[] = [];
      // Three hosts in group a, one in group b (which never gets rma: "not installed").
      for (let i = 1; i <= 4; i++) list.push(await joinAgent(s.home, `um-${i}`, { token, tags: { group: i <= 3 ? 'a' : 'b' } }));
      return { s, list };
    };
    const [{ s, list }, files] = await Promise.all([start(), buildAll(specs, 2)]);
    server = s;
    home = s.home;
    joined = list;
    agents = await startAgents(list);
    await publishAll(home, files, [
      { name: 'rma-r', packages: ['rma@1.0.0'] },
      { name: 'base', packages: ['rmb@1.0.0', 'rmc@1.0.0', 'rmd@1.0.0'] },
    ]);
    for (const [release, target] of [['rma-r', 'group=a'], ['base', 'all']] as const) {
      const { code, status, result } = await startAndWait(home, release, ['--target', target]);
      if (code !== 0) throw new Error(`baseline ${release} did not complete: ${JSON.stringify(status)}\n${result.stderr}`);
    }
  }, 150_000);

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await server?.stop();
  }, 120_000);

  it('refuses a start that names both a release and --remove, or neither (FERRY_USAGE)', async () => {
    const both = await runFerry(home, ['rollout', 'start', 'base', '--remove', 'rma'], { allowFail: true });
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/^FERRY_USAGE: give either a RELEASE to install or --remove PACKAGE, not both/);
    const neither = await runFerry(home, ['rollout', 'start'], { allowFail: true });
    expect(neither.code).toBe(2);
    expect(neither.stderr).toMatch(/^FERRY_USAGE: say what to roll out/);
    expect((await runFerry(home, ['rollout', 'list', '--json'])).json<unknown[]>().filter((r) => (r as { operation: string }).operation === 'remove')).toEqual([]);
  });

  it('a phased removal completes wave by wave: hooks run, files and `current` go, the CMDB records it; hosts without the package are skipped', async () => {
    const dry = (await runFerry(home, ['rollout', 'start', '--remove', 'rma', '--strategy', 'phased', '--waves', '1,50%,100%', '--dry-run', '--json'])).json<{
      release: string;
      operation: string;
      waves: { hosts: number }[];
      hosts: { hostname: string; wave: number | null; reason: string }[];
    }>();
    expect(dry.release).toBe('remove rma');
    expect(dry.operation).toBe('remove');
    expect(dry.waves.map((w) => w.hosts)).toEqual([1, 1, 1]);
    expect(dry.hosts.find((h) => h.hostname === 'um-4')).toMatchObject({ wave: null, reason: 'not installed' });

    const { code, status, stderr } = await removeAndWait(home, 'rma', ['--strategy', 'phased', '--waves', '1,50%,100%']);
    expect(code, stderr).toBe(0);
    expect(status).toMatchObject({ state: 'completed', release: 'remove rma', operation: 'remove', package: 'rma' });
    expect(status.waves.map((w) => [w.hosts, w.succeeded, w.state])).toEqual([[1, 1, 'completed'], [1, 1, 'completed'], [1, 1, 'completed']]);
    const removedFrom = status.hosts.filter((h) => h.wave !== null);
    expect(removedFrom.map((h) => h.state)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(status.hosts.find((h) => h.hostname === 'um-4')).toMatchObject({ state: 'skipped', reason: 'not installed' });

    for (const h of removedFrom) {
      const a = byId(h.agent);
      expect(readCurrent(a.installRoot, 'rma')).toBeUndefined();
      expect(existsSync(join(a.installRoot, 'rma')), `${a.installRoot}/rma should be gone`).toBe(false);
      expect(hooksRun(a.installRoot, 'rma')).toEqual(['preremove', 'postremove']);
      expect(readFileSync(join(a.installRoot, 'postremove-rma'), 'utf8')).toBe('rma 1.0.0\n'); // postremove ran in the kept directory
      const cmdb = await cmdbShow(home, a.id);
      expect(cmdb.installed.rma).toBeUndefined();
      expect(cmdb.installed.rmb).toBe('1.0.0'); // other packages untouched
      expect(cmdb.history[0]).toMatchObject({ kind: 'remove', package: 'rma', version: '1.0.0', operation: status.id, result: 'succeeded' });
    }
    expect((await runFerry(home, ['rollout', 'review', status.id, '--json'])).json<{ packages: string[] }>().packages).toEqual(['rma (removed)']);
    const human = await runFerry(home, ['cmdb', 'show', removedFrom[0]!.hostname]);
    expect(human.stdout).toMatch(/remove[\s│]+rma[\s│]+1\.0\.0[\s│]+1\.0\.0[\s│]+succeeded/);
    expect((await listAgents(home)).every((a) => a.installed.rma === undefined)).toBe(true);
    // Nothing to remove any more: every host is skipped.
    const again = (await runFerry(home, ['rollout', 'start', '--remove', 'rma', '--dry-run', '--json'])).json<{ hosts: { reason: string }[] }>();
    expect(again.hosts.map((h) => h.reason)).toEqual(['not installed', 'not installed', 'not installed', 'not installed']);
  }, 180_000);

  it('a failing preremove changes nothing: the package stays installed and active, the host fails with the hook output, the rollout halts', async () => {
    for (const a of joined) writeFileSync(join(a.installRoot, 'fail-preremove-rmb'), 'x');
    try {
      const { code, status } = await removeAndWait(home, 'rmb', ['--strategy', 'phased', '--waves', '1,100%', '--max-failures', '0']);
      expect(code).toBe(6);
      expect(status.state).toBe('halted');
      const canary = status.hosts.find((h) => h.wave === 0)!;
      expect(canary.state).toBe('failed');
      expect(canary.error).toMatch(/preremove hook failed \(exit 3\): preremove: the service refuses to stop \(rmb 1\.0\.0\)/);
      expect(status.hosts.filter((h) => h.wave === 1).map((h) => h.state)).toEqual(['pending', 'pending', 'pending']); // never sent
      for (const a of joined) {
        expect(readCurrent(a.installRoot, 'rmb')).toBe('1.0.0');
        expect(versionDirs(a.installRoot, 'rmb')).toEqual(['1.0.0']);
        expect(readFileSync(join(a.installRoot, 'rmb', 'current', 'VERSION'), 'utf8')).toBe('rmb 1.0.0\n');
      }
      expect(hooksRun(byId(canary.agent).installRoot, 'rmb')).toEqual(['preremove']); // postremove never ran
      const cmdb = await cmdbShow(home, canary.agent);
      expect(cmdb.installed.rmb).toBe('1.0.0');
      expect(cmdb.history[0]).toMatchObject({ kind: 'remove', package: 'rmb', result: 'failed' });
    } finally {
      for (const a of joined) rmSync(join(a.installRoot, 'fail-preremove-rmb'), { force: true });
    }
  }, 180_000);

  it('a failing postremove restores the kept version: `current` is linked back and the host reports rolled-back', async () => {
    const host = joined[0]!;
    writeFileSync(join(host.installRoot, 'fail-postremove-rmc'), 'x');
    try {
      const { code, status } = await removeAndWait(home, 'rmc', ['--target', `hostname=${host.hostname}`]);
      expect(code).toBe(6);
      const h = status.hosts.find((x) => x.agent === host.id)!;
      expect(h.state).toBe('rolled-back');
      expect(h.error).toMatch(/postremove hook failed \(exit 3\)/);
      expect(hooksRun(host.installRoot, 'rmc')).toEqual(['preremove', 'postremove']);
      expect(existsSync(join(host.installRoot, 'postremove-rmc'))).toBe(true); // it did run, with `current` unlinked
      expect(readCurrent(host.installRoot, 'rmc')).toBe('1.0.0');
      expect(readFileSync(join(host.installRoot, 'rmc', 'current', 'bin', 'app'), 'utf8')).toBe('#!/bin/sh\necho rmc\n');
      expect((await cmdbShow(home, host.id)).installed.rmc).toBe('1.0.0');
      const agentStatus = (await runFerry(home, ['agents', 'list', '--json'])).json<{ id: string; installed: Record<string, string> }[]>();
      expect(agentStatus.find((a) => a.id === host.id)!.installed.rmc).toBe('1.0.0');
    } finally {
      rmSync(join(host.installRoot, 'fail-postremove-rmc'), { force: true });
    }
  }, 180_000);

  it('--on-failure rollback installs the removed version again where the removal was committed', async () => {
    const plan = (await runFerry(home, ['rollout', 'start', '--remove', 'rmd', '--strategy', 'phased', '--waves', '1,100%', '--dry-run', '--json'])).json<{ hosts: { agent: string; wave: number | null }[] }>();
    const canary = plan.hosts.find((h) => h.wave === 0)!.agent;
    const failing = plan.hosts.find((h) => h.wave === 1)!.agent;
    writeFileSync(join(byId(failing).installRoot, 'fail-preremove-rmd'), 'x');
    try {
      const { code, status } = await removeAndWait(home, 'rmd', ['--strategy', 'phased', '--waves', '1,100%', '--on-failure', 'rollback']);
      expect(code).toBe(6);
      expect(status.state).toBe('rolled-back');
      expect(status.hosts.find((h) => h.agent === canary)!.state).toBe('rolled-back');
      expect(status.hosts.find((h) => h.agent === failing)!.state).toBe('failed');
      // Every host has rmd@1.0.0 again: reinstalled on those that removed it, untouched on the failed one.
      for (const a of joined) expect(readCurrent(a.installRoot, 'rmd'), a.hostname).toBe('1.0.0');
      expect(hooksRun(byId(canary).installRoot, 'rmd')).toEqual(['preremove', 'postremove']);
      const cmdb = await cmdbShow(home, canary);
      expect(cmdb.installed.rmd).toBe('1.0.0');
      expect(cmdb.history.slice(0, 2).map((h) => [h.kind, h.result])).toEqual([
        ['rollback', 'succeeded'],
        ['remove', 'succeeded'],
      ]);
    } finally {
      rmSync(join(byId(failing).installRoot, 'fail-preremove-rmd'), { force: true });
    }
  }, 180_000);
});
