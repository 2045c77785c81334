// Assembling a version from a delta, on real files (no NATS): kept copies are reused only when their
// bytes match, never through a link; fetched contents are checked; nothing leaves the staging directory.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { planDelta } from '../../shared/package/delta.js';
import { parseManifest, type Manifest } from '../../shared/package/manifest.js';
import { assembleDelta, type PreparedDelta } from './delta.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-delta-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function manifestOf(version: string, files: Record<string, Buffer>, exec: string[] = []): Manifest {
  return parseManifest({
    formatVersion: 1,
    name: 'app',
    version,
    hookTimeoutSeconds: 60,
    files: Object.keys(files)
      .sort()
      .map((path) => ({ path, size: files[path]!.length, sha256: sha(files[path]!), mode: exec.includes(path) ? 0o755 : 0o644 })),
    createdAt: '2026-01-01T00:00:00.000Z',
  });
}

function writeTree(root: string, files: Record<string, Buffer>): void {
  for (const [p, b] of Object.entries(files)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), b);
  }
}

const a = randomBytes(1000);
const b = randomBytes(2000);
const c = randomBytes(3000);
const V1 = { 'bin/app': a, 'data/b': b, 'data/c': c };
const V2 = { 'bin/app': a, 'data/b': randomBytes(500), 'moved/c': c, 'data/empty': Buffer.alloc(0), 'copy/c': c };

/** v1 kept at dir/kept/1.0.0; contents v2 needs that v1 lacks are "fetched" from `dml`. */
function setup(dml: Record<string, Buffer> = {}): { delta: PreparedDelta; fetched: string[]; fetchFile: (f: { sha256: string }, dest: string) => Promise<void> } {
  writeTree(join(dir, 'kept', '1.0.0'), V1);
  const m2 = manifestOf('1.0.1', V2, ['bin/app']);
  const plan = planDelta(m2, [{ version: '1.0.0', manifest: manifestOf('1.0.0', V1, ['bin/app']) }]);
  const filesDir = join(dir, 'files');
  mkdirSync(filesDir);
  const byHash = new Map(Object.values({ ...V2, ...dml }).map((x) => [sha(x), x]));
  for (const [h, buf] of Object.entries(dml)) byHash.set(h, buf);
  for (const f of plan.fetch) writeFileSync(join(filesDir, f.sha256), byHash.get(f.sha256)!);
  const fetched: string[] = [];
  return {
    delta: { manifest: m2, dirs: ['bin', 'copy', 'data', 'data/logs', 'moved'], plan, filesDir },
    fetched,
    fetchFile: async (f, dest) => {
      fetched.push(f.sha256);
      writeFileSync(dest, byHash.get(f.sha256)!);
    },
  };
}

describe('assembleDelta', () => {
  it('builds the version from kept copies and fetched contents, with the manifest modes and every directory', async () => {
    const { delta, fetchFile, fetched } = setup();
    const staging = join(dir, 'stage');
    const r = await assembleDelta(delta, staging, { keptDir: (v) => join(dir, 'kept', v), fetchFile });
    expect(r).toEqual({ reused: 3, fetched: 1, refetched: [] });
    expect(fetched).toEqual([]);
    for (const [p, buf] of Object.entries(V2)) expect(readFileSync(join(staging, p)).equals(buf), p).toBe(true);
    expect(statSync(join(staging, 'bin/app')).mode & 0o777).toBe(0o755);
    expect(statSync(join(staging, 'moved/c')).mode & 0o777).toBe(0o644);
    expect(statSync(join(staging, 'data/logs')).isDirectory()).toBe(true); // an empty directory of the package
    expect(existsSync(join(dir, 'files', sha(V2['data/b'])))).toBe(false); // moved into place
  });

  it('a modified kept file, or one replaced by a link (even to identical bytes), is fetched instead', async () => {
    const { delta, fetchFile, fetched } = setup();
    const evil = Buffer.from(a);
    evil[0] = evil[0]! ^ 0xff;
    writeFileSync(join(dir, 'kept', '1.0.0', 'bin/app'), evil);
    writeFileSync(join(dir, 'outside-c'), c);
    rmSync(join(dir, 'kept', '1.0.0', 'data/c'));
    symlinkSync(join(dir, 'outside-c'), join(dir, 'kept', '1.0.0', 'data/c'));
    const staging = join(dir, 'stage');
    const r = await assembleDelta(delta, staging, { keptDir: (v) => join(dir, 'kept', v), fetchFile });
    expect(r.refetched.sort()).toEqual(['bin/app', 'copy/c', 'moved/c']);
    expect(fetched.sort()).toEqual([sha(a), sha(c), sha(c)].sort());
    for (const [p, buf] of Object.entries(V2)) expect(readFileSync(join(staging, p)).equals(buf), p).toBe(true);
  });

  it('a fetched content that does not match the manifest fails the assembly and leaves nothing', async () => {
    const { delta, fetchFile } = setup();
    writeFileSync(join(delta.filesDir, delta.plan.fetch[0]!.sha256), randomBytes(500));
    const staging = join(dir, 'stage');
    await expect(assembleDelta(delta, staging, { keptDir: (v) => join(dir, 'kept', v), fetchFile })).rejects.toMatchObject({ code: 'FERRY_DIGEST_MISMATCH' });
    expect(existsSync(staging)).toBe(false);
  });

  it('a directory that would leave the staging directory is refused, and nothing is made outside it', async () => {
    const { delta, fetchFile } = setup();
    const staging = join(dir, 'stage');
    await expect(assembleDelta({ ...delta, dirs: ['../escaped'] }, staging, { keptDir: (v) => join(dir, 'kept', v), fetchFile })).rejects.toMatchObject({ code: 'FERRY_ARCHIVE_UNSAFE' });
    expect(existsSync(join(dir, 'escaped'))).toBe(false);
    expect(existsSync(staging)).toBe(false);
  });

  it('refuses a staging directory that already exists', async () => {
    const { delta, fetchFile } = setup();
    const staging = join(dir, 'stage');
    mkdirSync(staging);
    await expect(assembleDelta(delta, staging, { keptDir: (v) => join(dir, 'kept', v), fetchFile })).rejects.toMatchObject({ code: 'EEXIST' });
  });
});
