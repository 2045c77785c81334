// `ferry package build` is reproducible (the same source gives the same bytes, so adding a
// rebuilt package again is a no-op), `ferry package inspect` shows a package and whether the
// DML signed its digest, and `ferry config check` / `ferry-agent config check` validate config
// files with the rules the programs start with. Real CLI, real server.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupFleet, initServer, REPO_ROOT, runFerry, tempDir, type ServerHandle } from '../helpers/fleet.js';

function agentCli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'ferry-agent.js'), ...args], { encoding: 'utf8', env: { ...process.env, FERRY_CONFIG: 'none' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('package build, package inspect, config check', () => {
  let server: ServerHandle;
  let home: string;
  let src: string;
  let work: string;

  beforeAll(async () => {
    server = await initServer();
    home = server.home;
    work = tempDir('ferry-repro-');
    src = join(work, 'src');
    mkdirSync(join(src, 'bin'), { recursive: true });
    writeFileSync(join(src, 'ferry.json'), JSON.stringify({ name: 'repro', version: '1.0.0', hooks: { postinstall: 'bin/post.sh' } }));
    writeFileSync(join(src, 'bin', 'post.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
    writeFileSync(join(src, 'README'), 'hello\n');
  }, 120_000);

  afterAll(async () => {
    await cleanupFleet();
  });

  it('builds the same bytes from the same source; adding the rebuild again is a no-op', async () => {
    const a = (await runFerry(home, ['package', 'build', src, '--out', join(work, 'a.ferry'), '--json'])).json<{ digest: string }>();
    // Another build later (file times untouched, different wall clock): the same bytes.
    await new Promise((r) => setTimeout(r, 1100));
    const b = (await runFerry(home, ['package', 'build', src, '--out', join(work, 'b.ferry'), '--json'])).json<{ digest: string }>();
    expect(b.digest).toBe(a.digest);
    expect(readFileSync(join(work, 'b.ferry')).equals(readFileSync(join(work, 'a.ferry')))).toBe(true);

    // SOURCE_DATE_EPOCH fixes the time even when file times change (a fresh checkout).
    const epoch = { SOURCE_DATE_EPOCH: '1700000000' };
    const c = (await runFerry(home, ['package', 'build', src, '--out', join(work, 'c.ferry'), '--json'], { env: epoch })).json<{ digest: string }>();
    utimesSync(join(src, 'README'), new Date(), new Date());
    const d = (await runFerry(home, ['package', 'build', src, '--out', join(work, 'd.ferry'), '--json'], { env: epoch })).json<{ digest: string }>();
    expect(d.digest).toBe(c.digest);
    // Without SOURCE_DATE_EPOCH the files' times decide nothing either (a fresh clone, a touch).
    for (const f of ['ferry.json', 'README', 'bin/post.sh', 'bin']) utimesSync(join(src, f), new Date(), new Date());
    const touched = (await runFerry(home, ['package', 'build', src, '--out', join(work, 't.ferry'), '--json'])).json<{ digest: string }>();
    expect(touched.digest).toBe(a.digest);
    const bad = await runFerry(home, ['package', 'build', src, '--out', join(work, 'e.ferry')], { env: { SOURCE_DATE_EPOCH: 'yesterday' }, allowFail: true });
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/^FERRY_INVALID_INPUT: SOURCE_DATE_EPOCH="yesterday"/)]);

    await runFerry(home, ['dml', 'add', join(work, 'a.ferry')]);
    const again = await runFerry(home, ['dml', 'add', join(work, 'b.ferry')], { allowFail: true });
    expect(again.code, again.stderr).toBe(0);
    const touchedAgain = await runFerry(home, ['dml', 'add', join(work, 't.ferry'), '--json'], { allowFail: true });
    expect(touchedAgain.code, touchedAgain.stderr).toBe(0);
    expect(touchedAgain.json<{ added: boolean }>().added).toBe(false);
  });

  it('package inspect: manifest, files, hooks and signature state', async () => {
    const added = (await runFerry(home, ['package', 'inspect', join(work, 'a.ferry'), '--json'])).json<{ manifest: { name: string; files: { path: string }[]; hooks: Record<string, string> }; signature: { state: string } }>();
    expect(added.manifest.name).toBe('repro');
    expect(added.manifest.files.map((f) => f.path)).toEqual(['README', 'bin/post.sh']);
    expect(added.manifest.hooks).toEqual({ postinstall: 'bin/post.sh' });
    expect(added.signature.state).toBe('signed');

    writeFileSync(join(src, 'ferry.json'), JSON.stringify({ name: 'repro', version: '1.0.1' }));
    await runFerry(home, ['package', 'build', src, '--out', join(work, 'new.ferry')]);
    const text = (await runFerry(home, ['package', 'inspect', join(work, 'new.ferry')])).stdout;
    expect(text).toContain('repro@1.0.1');
    expect(text).toContain('signature: unsigned — not in the DML yet');
    expect(text).toMatch(/README\s+644\s+6\s+[0-9a-f]{64}/);

    // Offline (no server for this data directory): the state is unknown, the rest still shows.
    const offline = (await runFerry(tempDir('ferry-nohome-'), ['package', 'inspect', join(work, 'new.ferry'), '--json'])).json<{ signature: { state: string } }>();
    expect(offline.signature.state).toBe('unknown');

    // A damaged file is refused, one line.
    const broken = join(work, 'broken.ferry');
    writeFileSync(broken, readFileSync(join(work, 'new.ferry')).subarray(0, 300));
    const r = await runFerry(home, ['package', 'inspect', broken], { allowFail: true });
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^FERRY_PACKAGE_INVALID|^FERRY_ARCHIVE_UNSAFE|^FERRY_DIGEST_MISMATCH/);
  });

  it('config check for both programs: valid files show their settings, invalid ones exit 2 naming the key', async () => {
    const good = join(work, 'server.json');
    writeFileSync(good, JSON.stringify({ logLevel: 'debug' }));
    // FERRY_* variables apply on top of the file (the test fleet sets some: cleared here).
    const noEnv = { env: { FERRY_LOG_LEVEL: '', FERRY_OFFLINE_AFTER_MS: '' } };
    const ok = (await runFerry(home, ['config', 'check', good, '--json'], noEnv)).json<{ valid: boolean; settings: Record<string, unknown> }>();
    expect(ok).toEqual({ file: good, valid: true, settings: { logLevel: 'debug' } });
    const withEnv = (await runFerry(home, ['config', 'check', good, '--json'], { env: { FERRY_LOG_LEVEL: 'error' } })).json<{ settings: Record<string, unknown> }>();
    expect(withEnv.settings.logLevel).toBe('error');
    const bad = join(work, 'bad.json');
    writeFileSync(bad, JSON.stringify({ logLevel: 'loud' }));
    const r = await runFerry(home, ['config', 'check', bad], { allowFail: true });
    expect([r.code, r.stderr.trim().split('\n').length]).toEqual([2, 1]);
    expect(r.stderr).toContain(`FERRY_CONFIG_INVALID: ${bad}: logLevel must be one of`);

    const agentGood = join(work, 'agent.json');
    writeFileSync(agentGood, JSON.stringify({ keepVersions: 5 }));
    const a = agentCli(['config', 'check', agentGood]);
    expect([a.code, a.stdout]).toEqual([0, `${agentGood}: valid\n  keepVersions: 5\n`]);
    writeFileSync(bad, JSON.stringify({ bogus: 1 }));
    const ab = agentCli(['config', 'check', bad]);
    expect([ab.code, ab.stderr]).toEqual([2, `FERRY_CONFIG_INVALID: ${bad}: unknown key bogus — hint: see docs/configuration.md\n`]);
  });
});
