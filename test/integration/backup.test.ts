// `ferry backup` / `ferry restore` round trip with real processes: a server with packages,
// releases, a joined agent and a finished rollout is backed up, stopped and restored into a fresh
// data directory; the restored server (same NATS port) has the same DML digests, agents,
// releases, rollouts and root key, and the same agent installs a further package from the
// restored DML. Restore refuses a non-empty target, a tampered archive and hostile entries, and
// leaves nothing behind when it refuses.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tarBytes, type RawEntry } from '../../shared/package/test-archives.js';
import { cleanupFleet, initServer, joinAgent, listAgents, pollAgents, runFerry, startAgent, startServer, tempDir, waitFor, type AgentHandle, type ServerHandle } from '../helpers/fleet.js';
import { publishPackage } from '../helpers/faults.js';
import { startAndWait } from '../helpers/rollouts.js';

interface DmlEntry {
  name: string;
  version: string;
  digest: string;
}

const pkg = (name: string, version: string) => ({ name, version, files: { 'VERSION': `${name} ${version}\n`, 'data.txt': `payload of ${name}\n`.repeat(200) } });

/** The entries of a (gzip) tar, in order. */
function readEntries(file: string): RawEntry[] {
  const out: RawEntry[] = [];
  const parser = new Parser({ strict: true });
  parser.on('entry', (e: ReadEntry) => {
    const chunks: Buffer[] = [];
    e.on('data', (c: Buffer) => chunks.push(c));
    e.on('end', () => out.push({ path: e.path, body: Buffer.concat(chunks) }));
  });
  parser.end(gunzipSync(readFileSync(file)));
  return out;
}

function writeArchive(file: string, entries: RawEntry[]): void {
  writeFileSync(file, gzipSync(tarBytes(entries)));
}

describe('ferry backup and restore', () => {
  let server: ServerHandle;
  let agent: AgentHandle;
  let backupFile: string;
  let rootKey: string;
  let before: { dml: DmlEntry[]; rollouts: { id: string; state: string }[] };

  beforeAll(async () => {
    server = await initServer();
    const home = server.home;
    await publishPackage(home, pkg('app', '1.0.0'));
    await publishPackage(home, pkg('tool', '2.0.0'));
    await runFerry(home, ['release', 'create', 'r1', '--package', 'app@1.0.0', '--rfc', 'RFC-1', '--json']);
    await runFerry(home, ['release', 'create', 'r2', '--package', 'tool@2.0.0', '--json']);
    agent = await startAgent(await joinAgent(home, 'ws-1', { tags: { room: 'lab' } }));
    const first = await startAndWait(home, 'r1', []);
    expect(first.code, first.result.stderr).toBe(0);
    rootKey = (await runFerry(home, ['init', '--json'])).json<{ rootKeyFingerprint: string }>().rootKeyFingerprint;
    before = {
      dml: (await runFerry(home, ['dml', 'list', '--json'])).json<DmlEntry[]>(),
      rollouts: (await runFerry(home, ['rollout', 'list', '--json'])).json<{ id: string; state: string }[]>(),
    };
    backupFile = join(tempDir('ferry-backup-'), 'nested', 'ferry.backup');
  }, 120_000);

  afterAll(async () => {
    await cleanupFleet();
  });

  it('writes a backup of the running server with every DML package and its digest', async () => {
    const doc = (await runFerry(server.home, ['backup', backupFile, '--json'])).json<{ file: string; rootFingerprint: string; packages: { name: string; version: string; sha256: string }[] }>();
    expect(doc.file).toBe(backupFile);
    expect(doc.rootFingerprint).toBe(rootKey);
    expect(doc.packages.map((p) => `${p.name}@${p.version}=${p.sha256}`).sort()).toEqual(before.dml.map((p) => `${p.name}@${p.version}=${p.digest}`).sort());
    const entries = readEntries(backupFile);
    expect(entries[0]!.path).toBe('manifest.json');
    const paths = entries.map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['ferry.db', 'policy.json', 'keys/root.json', 'keys/signing.json', 'keys/admin.nk', 'keys/nats.json', 'packages/app@1.0.0.ferry', 'packages/tool@2.0.0.ferry']));
    // it holds the keys: only its owner may read it, and no staging directory is left behind
    expect(readdirSync(join(backupFile, '..'))).toEqual(['ferry.backup']);
    expect((await import('node:fs')).statSync(backupFile).mode & 0o777).toBe(0o600);
  });

  it('refuses to restore into a data directory that is not empty, and leaves it alone', async () => {
    const r = await runFerry(server.home, ['restore', backupFile], { allowFail: true });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/FERRY_CONFLICT: .*(running|not empty)/);
    // a stopped server's directory too, unless --force
    const other = tempDir('ferry-occupied-');
    writeFileSync(join(other, 'keep.txt'), 'mine\n');
    // a directory that is not a Ferry data directory: refused even with --force (a typo such as `--data-dir ~ --force`)
    for (const force of [[], ['--force']]) {
      const r2 = await runFerry(other, ['restore', backupFile, ...force], { allowFail: true });
      expect(r2.code).toBe(4);
      expect(r2.stderr.trim().split('\n').at(-1)).toMatch(/^FERRY_CONFLICT: .* is not empty and is not a Ferry data directory \(no ferry\.db\) — hint: /);
    }
    expect(readdirSync(other)).toEqual(['keep.txt']);
    // a stopped server's data directory: only with --force
    const stopped = tempDir('ferry-stopped-');
    writeFileSync(join(stopped, 'ferry.db'), '');
    const r3 = await runFerry(stopped, ['restore', backupFile], { allowFail: true });
    expect(r3.code).toBe(4);
    expect(r3.stderr).toMatch(/FERRY_CONFLICT: .* is not empty — hint: .*--force/);
    expect(readdirSync(stopped)).toEqual(['ferry.db']);
    // a regular file as the data directory: one line, exit 2
    const file = join(tempDir('ferry-file-'), 'afile');
    writeFileSync(file, 'x');
    const r4 = await runFerry(file, ['restore', backupFile, '--force'], { allowFail: true });
    expect([r4.code, r4.stderr.trim().split('\n').at(-1)]).toEqual([2, `FERRY_INVALID_INPUT: --data-dir ${file} is not a directory — hint: restore into a new directory`]);
  });

  it('refuses a tampered archive (changed package bytes) and writes nothing', async () => {
    const entries = readEntries(backupFile);
    const victim = entries.find((e) => e.path === 'packages/tool@2.0.0.ferry')!;
    const body = Buffer.from(victim.body as Buffer);
    body[body.length - 100] ^= 0xff; // same size, different bytes
    victim.body = body;
    const tampered = join(tempDir('ferry-tampered-'), 'tampered.backup');
    writeArchive(tampered, entries);
    const target = join(tempDir('ferry-restore-'), 'data');
    const r = await runFerry(target, ['restore', tampered], { allowFail: true });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^FERRY_DIGEST_MISMATCH: packages\/tool@2\.0\.0\.ferry in the backup has sha256 /);
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(join(target, '..'))).toEqual([]);
  });

  it('refuses hostile entries: links and paths that leave the data directory', async () => {
    const good = readEntries(backupFile);
    const manifest = good[0]!;
    const parent = tempDir('ferry-hostile-');
    const cases: [string, RawEntry][] = [
      ['symlink', { path: 'keys/root.json', type: 'SymbolicLink', linkpath: '/etc/passwd', size: 0 }],
      ['hard link', { path: 'ferry.db', type: 'Link', linkpath: '../../etc/passwd', size: 0 }],
      ['traversal', { path: '../escaped.txt', body: 'x' }],
      ['unlisted', { path: 'keys/extra.json', body: '{}' }],
    ];
    for (const [what, entry] of cases) {
      const file = join(parent, `${what.replace(' ', '-')}.backup`);
      writeArchive(file, [manifest, entry, ...good.slice(1)]);
      const target = join(parent, `data-${what.replace(' ', '-')}`);
      const r = await runFerry(target, ['restore', file], { allowFail: true });
      expect(r.stderr, what).toMatch(/^FERRY_ARCHIVE_UNSAFE: /);
      expect(existsSync(target), what).toBe(false);
    }
    expect(readdirSync(parent).filter((f) => !f.endsWith('.backup'))).toEqual([]);
    expect(existsSync(join(parent, '..', 'escaped.txt'))).toBe(false);
  });

  it('restores into a fresh data directory that runs as the same server', async () => {
    // After the backup the old server goes on: the host gets extra 1.0.0, which the backup knows nothing of.
    await publishPackage(server.home, pkg('extra', '1.0.0'));
    await runFerry(server.home, ['release', 'create', 'r3', '--package', 'extra@1.0.0', '--json']);
    const later = await startAndWait(server.home, 'r3', []);
    expect(later.code, later.result.stderr).toBe(0);
    await server.stop();
    const home2 = join(tempDir('ferry-restored-'), 'data');
    const restored = (await runFerry(home2, ['restore', backupFile, '--json'])).json<{ dataDir: string; rootFingerprint: string; packages: unknown[] }>();
    expect(restored.dataDir).toBe(home2);
    expect(restored.rootFingerprint).toBe(rootKey);
    expect(restored.packages).toHaveLength(2);

    // the same NATS address, so the agent that joined the old server finds the new one
    const server2 = await startServer(home2, { listen: `127.0.0.1:${server.port}` });
    expect(existsSync(join(home2, 'restore'))).toBe(false); // the DML objects are back in the Object Store
    expect((await runFerry(home2, ['init', '--json'])).json<{ rootKeyFingerprint: string; created: string[] }>()).toMatchObject({ rootKeyFingerprint: rootKey, created: [] });
    const dml = (await runFerry(home2, ['dml', 'list', '--json'])).json<DmlEntry[]>();
    expect(dml.map((p) => [p.name, p.version, p.digest])).toEqual(before.dml.map((p) => [p.name, p.version, p.digest]));
    const releases = (await runFerry(home2, ['release', 'list', '--json'])).json<{ name: string }[]>();
    expect(releases.map((r) => r.name).sort()).toEqual(['r1', 'r2']);
    const rollouts = (await runFerry(home2, ['rollout', 'list', '--json'])).json<{ id: string; state: string }[]>();
    expect(rollouts).toEqual(before.rollouts.map((r) => expect.objectContaining({ id: r.id, state: 'completed' })));
    const agents = await waitFor(async () => {
      const list = await pollAgents(home2);
      return list.find((a) => a.id === agent.agent.id && a.online) ? list : undefined;
    }, 30_000, { message: 'the agent did not reconnect to the restored server' });
    expect(agents.find((a) => a.id === agent.agent.id)).toMatchObject({ hostname: 'ws-1', tags: { room: 'lab' } });
    // the reconnected agent says what it runs: the CMDB no longer shows only the backup's app 1.0.0
    await waitFor(async () => (await pollAgents(home2)).find((a) => a.id === agent.agent.id)?.installed.extra === '1.0.0', 30_000, { message: 'the restored CMDB still shows the installed versions of the backup' });

    // the agent fetches a package from the restored DML and verifies it with the restored keys; it
    // takes the restored server's desired state although the old one issued a later one after the backup
    const second = await startAndWait(home2, 'r2', []);
    expect(second.code, `${second.result.stderr}\n${JSON.stringify(second.status)}`).toBe(0);
    expect(second.status.hosts).toEqual([expect.objectContaining({ agent: agent.agent.id, state: 'succeeded' })]);
    const after = await listAgents(home2);
    expect(after.find((a) => a.id === agent.agent.id)!.installed).toEqual({ app: '1.0.0', extra: '1.0.0', tool: '2.0.0' });
    await server2.stop();
  }, 120_000);
});
