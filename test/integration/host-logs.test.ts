// `ferry logs HOST [--rollout ID] [--follow]`: every hook's stdout and stderr of every operation
// on a host, kept per operation in the agent's journal, reported to the server, secrets
// redacted on the agent, capped, and escaped when printed. Real server, real agent, real CLI.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentLogsReplySchema } from '../../shared/protocol/replies.js';
import { cleanupFleet, FAST_ENV, initServer, joinAgent, REPO_ROOT, runFerry, startAgent, waitFor, type AgentHandle, type JoinedAgent, type ServerHandle } from '../helpers/fleet.js';
import { createRelease, publishPackage } from '../helpers/faults.js';
import { runIntoClosedPipe } from '../helpers/closed-pipe.js';

const NOISY = [
  '#!/bin/sh',
  'echo "postinstall of $FERRY_PACKAGE $FERRY_VERSION"',
  'echo "to stderr" >&2',
  // 40 KiB of output: more than an operation keeps (the oldest is cut).
  'i=0; while [ $i -lt 800 ]; do echo "line $i ................................................"; i=$((i+1)); done',
  'echo "DB_PASSWORD=hunter2"',
  "printf 'bell \\007 and escape \\033[31m here\\n'",
  'echo "the end"',
].join('\n');

describe('ferry logs', () => {
  let server: ServerHandle;
  let home: string;
  let host: JoinedAgent;
  let handle: AgentHandle;

  beforeAll(async () => {
    server = await initServer();
    home = server.home;
    host = await joinAgent(home, 'logs-1');
    handle = await startAgent(host, { env: { FERRY_LOG_LEVEL: 'info' } });
    await publishPackage(home, {
      name: 'noisy',
      version: '1.0.0',
      files: { 'hooks/pre.sh': '#!/bin/sh\necho "preinstall says hi"\n', 'hooks/post.sh': NOISY },
      hooks: { preinstall: 'hooks/pre.sh', postinstall: 'hooks/post.sh' },
    });
    await publishPackage(home, { name: 'broken', version: '1.0.0', files: { 'hooks/post.sh': '#!/bin/sh\necho "about to fail"\necho "no such config" >&2\nexit 4\n' }, hooks: { postinstall: 'hooks/post.sh' } });
    await createRelease(home, 'noisy-1', ['noisy@1.0.0']);
    await createRelease(home, 'broken-1', ['broken@1.0.0']);
  }, 300_000); // five packages and three agents: minutes on a machine busy with other suites

  afterAll(async () => {
    await cleanupFleet();
  });

  it('shows every hook of every operation, redacted, capped and escaped; --rollout narrows; --json parses', async () => {
    const ok = (await runFerry(home, ['rollout', 'start', 'noisy-1', '--target', 'hostname=logs-1', '--wait', '--json'])).json<{ id: string }>().id;
    const bad = await runFerry(home, ['rollout', 'start', 'broken-1', '--target', 'hostname=logs-1', '--wait', '--json'], { allowFail: true });
    expect(bad.code).toBe(6);
    const badId = bad.json<{ id: string }>().id;

    const doc = agentLogsReplySchema.parse(
      await waitFor(async () => {
        const d = (await runFerry(home, ['logs', 'logs-1', '--json'])).json<{ entries: { operation: string }[] }>();
        return d.entries.some((e) => e.operation === badId) ? d : undefined;
      }, 30_000, { message: 'the failed operation did not reach the server' }),
    );
    expect(doc.agent).toEqual({ id: host.id, hostname: 'logs-1' });
    const noisy = doc.entries.find((e) => e.operation === ok)!;
    expect(noisy).toMatchObject({ kind: 'install', package: 'noisy', version: '1.0.0', result: 'succeeded' });
    // The preinstall's output was cut away (the oldest gives way), the postinstall's end is kept.
    expect(noisy.output).toMatch(/^\[… earlier output cut\]\n/);
    expect(noisy.output).toContain('the end');
    expect(noisy.output!.length).toBeLessThanOrEqual(16 * 1024);
    expect(noisy.output).not.toContain('hunter2');

    const broken = doc.entries.find((e) => e.operation === badId)!;
    expect(broken.result).toMatch(/failed|rolled-back/);
    expect(broken.output).toBe('[postinstall] exit 4\nabout to fail\nno such config\n');
    expect(broken.detail).toContain('postinstall hook failed (exit 4): no such config');

    const text = (await runFerry(home, ['logs', host.id])).stdout;
    expect(text).toContain(`install noisy@1.0.0  ${ok}  succeeded`);
    expect(text).toContain('  [postinstall] exit 4\n  about to fail\n  no such config\n');
    expect(text).toContain('DB_PASSWORD=[redacted]');
    expect(text).not.toContain('\x1b');
    expect(text).not.toContain('\x07');

    const only = (await runFerry(home, ['logs', 'logs-1', '--rollout', badId])).stdout;
    expect(only).toContain('about to fail');
    expect(only).not.toContain('noisy');

    // The agent kept it too, per operation, in its journal.
    const journal = new Database(join(host.stateDir, 'journal.db'), { readonly: true });
    try {
      const row = journal.prepare("SELECT output FROM operations WHERE package = 'broken' ORDER BY id DESC LIMIT 1").get() as { output: string };
      expect(row.output).toBe('[postinstall] exit 4\nabout to fail\nno such config\n');
    } finally {
      journal.close();
    }
  });

  it('the agent logs connects, installs and failures at info/warn, each JSON line without duplicate keys', () => {
    const lines = handle.logs().split('\n').filter((l) => l.startsWith('{'));
    const msgs = lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(msgs).toContain('connected to NATS');
    expect(msgs).toContain('install of noisy@1.0.0: succeeded');
    expect(msgs.some((m) => /^install of broken@1\.0\.0: (failed|rolled-back)$/.test(m))).toBe(true);
    for (const l of lines) {
      // Top-level keys as written (JSON.parse would silently keep the last of two).
      const keys = [...l.matchAll(/[{,]"([^"]+)":/g)].map((m) => m[1]);
      const top = Object.keys(JSON.parse(l) as object);
      expect(keys.filter((k) => top.includes(k!)).length, l).toBe(new Set(keys.filter((k) => top.includes(k!))).size);
    }
  });

  it('an unknown host is FERRY_NOT_FOUND, exit 3, one line', async () => {
    const r = await runFerry(home, ['logs', 'nowhere'], { allowFail: true });
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^FERRY_NOT_FOUND: no host "nowhere"/)]);
  });

  it('--follow prints operations as they arrive', async () => {
    await publishPackage(home, { name: 'later', version: '1.0.0', files: { 'hooks/post.sh': '#!/bin/sh\necho "later arrived"\n' }, hooks: { postinstall: 'hooks/post.sh' } });
    await createRelease(home, 'later-1', ['later@1.0.0']);
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'ferry.js'), 'logs', 'logs-1', '--follow', '--interval', '200ms'], { env: { ...process.env, ...FAST_ENV, FERRY_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    try {
      await waitFor(() => out.includes('broken@1.0.0'), 30_000, { message: () => `follow printed nothing yet: ${out}` });
      expect(out).not.toContain('later arrived');
      await runFerry(home, ['rollout', 'start', 'later-1', '--target', 'hostname=logs-1', '--wait']);
      await waitFor(() => out.includes('later arrived'), 30_000, { message: () => `follow did not print the new operation: ${out}` });
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('--follow --json whose reader is gone (| head -c 300): ends at its first write, exit 141, no stack trace', async () => {
    // something to write (the operations of the tests above; run alone: one of its own)
    const entries = async () => (await runFerry(home, ['logs', 'logs-1', '--json'])).json<{ entries: unknown[] }>().entries.length;
    if ((await entries()) === 0) await runFerry(home, ['rollout', 'start', 'noisy-1', '--target', 'hostname=logs-1', '--wait']);
    await waitFor(async () => (await entries()) > 0, 30_000, { message: 'no operation reached the server' });
    const r = await runIntoClosedPipe('ferry', ['logs', 'logs-1', '--follow', '--json', '--interval', '200ms'], { FERRY_HOME: home });
    expect([r.code, r.stderr]).toEqual([141, '']);
  });
});
