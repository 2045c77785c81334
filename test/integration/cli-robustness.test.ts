// The CLIs when something around them fails, against a real server and a joined agent, through
// real CLI processes:
// - the reader of stdout is gone (`ferry agents list | true`): both CLIs end quietly, exit 141
//   (128 + SIGPIPE, what the shell reports for git or kubectl), no stack trace; the stdout here is
//   a pipe closed before the command writes (helpers/closed-pipe.ts); `logs --follow` is in
//   host-logs.test.ts;
// - an output file that cannot be written (--out, backup FILE): one line naming it, exit 2,
//   before anything is asked or done;
// - a credentials file that cannot be read: FERRY_CREDS_INVALID naming it, exit 2 (an
//   uninitialised data directory stays FERRY_NOT_INITIALIZED).
// Operators' own files (operator add --out) are in test/security/operators.test.ts.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runIntoClosedPipe } from '../helpers/closed-pipe.js';
import { createRelease, mapLimit, publishPackage } from '../helpers/faults.js';
import { cleanupFleet, initServer, joinAgent, runFerry, tempDir, type JoinedAgent, type ServerHandle } from '../helpers/fleet.js';

afterAll(cleanupFleet, 60_000);

describe('the CLIs when something around them fails', () => {
  let server: ServerHandle;
  let home: string;
  let agent: JoinedAgent;
  const ferryFails = (args: string[], env: Record<string, string> = {}) => runFerry(home, args, { allowFail: true, env });
  /** exit code and stderr of a refusal that must be one line */
  const refusal = (r: { code: number | null; stderr: string; stdout: string }) => {
    expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
    return [r.code, r.stderr.trim()];
  };

  beforeAll(async () => {
    server = await initServer();
    home = server.home;
    agent = await joinAgent(home, 'pipe-1');
  }, 120_000);

  it('ferry into a closed pipe: a local command and server commands, tables, --json and -o yaml', async () => {
    const runs = await mapLimit([['operator', 'roles'], ['agents', 'list'], ['audit', '--json'], ['status'], ['operator', 'list', '-o', 'yaml']], 3, (args) => runIntoClosedPipe('ferry', args, { FERRY_HOME: home }));
    expect(runs.map((r) => [r.code, r.stderr])).toEqual(runs.map(() => [141, '']));
  });

  it('ferry-agent into a closed pipe: status, history --json and --version', async () => {
    const runs = await mapLimit([['status', '--state-dir', agent.stateDir], ['history', '--json', '--state-dir', agent.stateDir], ['--version']], 3, (args) => runIntoClosedPipe('ferry-agent', args));
    expect(runs.map((r) => [r.code, r.stderr])).toEqual(runs.map(() => [141, '']));
  });

  it('rollout review --out that cannot be written: one line naming it, exit 2; a good one is written', async () => {
    await publishPackage(home, { name: 'rev', version: '1.0.0', files: { VERSION: '1\n' } });
    await createRelease(home, 'rev-1', ['rev@1.0.0']);
    const id = (await runFerry(home, ['rollout', 'start', 'rev-1', '--target', 'env=nowhere', '--allow-empty', '--json'])).json<{ id: string }>().id;
    const dir = tempDir('ferry-review-');
    writeFileSync(join(dir, 'file'), 'x');
    const [missing, isDir, underFile, full, ok] = await mapLimit(
      [join(dir, 'nowhere', 'r.md'), dir, join(dir, 'file', 'r.md'), '/dev/full', join(dir, 'r.md')],
      3,
      (out) => ferryFails(['rollout', 'review', id, '--out', out]),
    );
    expect(refusal(missing!)).toEqual([2, `FERRY_INVALID_INPUT: --out ${join(dir, 'nowhere', 'r.md')}: the directory ${join(dir, 'nowhere')} does not exist — hint: choose another --out`]);
    expect(refusal(isDir!)).toEqual([2, `FERRY_INVALID_INPUT: --out ${dir}: it is a directory — hint: give a file name, e.g. --out ${dir}/NAME`]);
    expect(refusal(underFile!)).toEqual([2, `FERRY_INVALID_INPUT: --out ${join(dir, 'file', 'r.md')}: ${join(dir, 'file')} is not a directory — hint: choose another --out`]);
    // a disk that fills up while it is written (ENOSPC)
    expect(refusal(full!)).toEqual([2, 'FERRY_INVALID_INPUT: --out /dev/full: cannot write it: no space left on the device — hint: free some space, or choose another --out']);
    expect([ok!.code, ok!.stdout]).toEqual([0, `Wrote the review of ${id} to ${join(dir, 'r.md')}\n`]);
    expect(readFileSync(join(dir, 'r.md'), 'utf8')).toContain(id);
  });

  it('package build --out and backup FILE onto a directory: one line naming it, exit 2, nothing left beside it', async () => {
    const src = tempDir('ferry-src-');
    writeFileSync(join(src, 'ferry.json'), JSON.stringify({ name: 'pkg', version: '1.0.0' }));
    const dir = tempDir('ferry-out-');
    const [pkg, backup] = await Promise.all([ferryFails(['package', 'build', src, '--out', dir]), ferryFails(['backup', dir])]);
    expect(refusal(pkg)).toEqual([2, `FERRY_INVALID_INPUT: --out ${dir}: it is a directory — hint: give a file name, e.g. --out ${dir}/NAME`]);
    expect(refusal(backup)).toEqual([2, `FERRY_INVALID_INPUT: backup file ${dir}: it is a directory — hint: give a file name, e.g. backup file ${dir}/NAME`]);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a --creds or FERRY_CREDS file that cannot be read: FERRY_CREDS_INVALID naming it, exit 2; an uninitialised data directory: FERRY_NOT_INITIALIZED', async () => {
    const dir = tempDir('ferry-creds-');
    const missing = join(dir, 'nonexist.creds');
    const empty = tempDir('ferry-never-initialised-');
    const [flag, env, isDir, never] = await Promise.all([
      ferryFails(['agents', 'list', '--creds', missing]),
      ferryFails(['agents', 'list'], { FERRY_CREDS: missing }),
      ferryFails(['agents', 'list', '--creds', dir]),
      ferryFails(['agents', 'list', '--data-dir', empty, '--nats', server.url]),
    ]);
    const hint = "— hint: pass the file ferry operator add wrote (--creds FILE or FERRY_CREDS), or leave both out for the data directory's keys/admin.creds";
    expect(refusal(flag)).toEqual([2, `FERRY_CREDS_INVALID: cannot read the credentials file ${missing}: no such file or directory ${hint}`]);
    expect(refusal(env)).toEqual([2, `FERRY_CREDS_INVALID: cannot read the credentials file ${missing}: no such file or directory ${hint}`]);
    expect(refusal(isDir)).toEqual([2, `FERRY_CREDS_INVALID: cannot read the credentials file ${dir}: it is a directory ${hint}`]);
    expect(refusal(never)[0]).toBe(5);
    expect(never.stderr).toMatch(/^FERRY_NOT_INITIALIZED: cannot read credentials .*admin\.creds/);
    expect(existsSync(join(empty, 'keys'))).toBe(false);
  });
});
