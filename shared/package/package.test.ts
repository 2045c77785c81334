// Happy paths and ferry.json validation for the `.ferry` format, on real files in a temp dir.

import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FerryError } from '../errors.js';
import {
  buildPackage,
  defaultPackageFileName,
  extractPackage,
  loadFerryJson,
  readPackageManifest,
  verifyPackageArchive,
} from './mod.js';

let work: string;
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'ferry-pkg-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

const LONG = `${'deep/'.repeat(25)}file-with-a-long-name.txt`; // > 100 chars: needs a PAX header

async function makeSource(ferry: Record<string, unknown> = {}): Promise<string> {
  const src = join(work, 'src');
  await mkdir(join(src, 'hooks'), { recursive: true });
  await mkdir(join(src, 'bin'));
  await mkdir(join(src, 'var', 'empty'), { recursive: true });
  await mkdir(join(src, '.git', 'objects'), { recursive: true });
  await mkdir(join(src, LONG, '..'), { recursive: true });
  await writeFile(join(src, 'hooks', 'pre.sh'), '#!/bin/sh\necho pre\n', { mode: 0o755 });
  await writeFile(join(src, 'bin', 'app'), '#!/bin/sh\necho app\n', { mode: 0o750 });
  await writeFile(join(src, 'config.json'), '{"port": 8080}\n', { mode: 0o600 });
  await writeFile(join(src, 'naïve-ünïcode.txt'), 'unicode name\n');
  await writeFile(join(src, 'var', 'empty.log'), '');
  await writeFile(join(src, LONG), 'long path\n');
  await writeFile(join(src, '.git', 'HEAD'), 'ref: refs/heads/main\n');
  await writeFile(
    join(src, 'ferry.json'),
    JSON.stringify({
      name: 'hello-web',
      version: '1.4.0',
      description: 'test package',
      hooks: { preinstall: 'hooks/pre.sh' },
      requires: { os: ['linux'], arch: ['x64', 'arm64'], diskMB: 5 },
      depends: { runtime: '>=2.1.0' },
      ...ferry,
    }),
  );
  return src;
}

async function expectFerryError(p: Promise<unknown>, code: string, message?: RegExp): Promise<FerryError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(FerryError);
  expect((e as FerryError).code).toBe(code);
  if (message) expect((e as FerryError).message).toMatch(message);
  return e as FerryError;
}

describe('build → read → verify → extract', () => {
  it('round-trips content, modes and metadata', async () => {
    const src = await makeSource();
    const out = join(work, 'out', defaultPackageFileName('hello-web', '1.4.0'));
    const built = await buildPackage(src, out);
    expect(built.file).toBe(out);
    expect(built.size).toBe((await stat(out)).size);
    expect(built.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(await readdir(join(work, 'out'))).toEqual(['hello-web-1.4.0.ferry']); // no temp files left

    const m = built.manifest;
    expect(m).toMatchObject({ formatVersion: 1, name: 'hello-web', version: '1.4.0', hookTimeoutSeconds: 60 });
    expect(m.files.map((f) => f.path)).toEqual(['bin/app', 'config.json', LONG, 'hooks/pre.sh', 'naïve-ünïcode.txt', 'var/empty.log']);
    expect(Object.fromEntries(m.files.map((f) => [f.path, f.mode]))).toMatchObject({
      'bin/app': 0o755,
      'config.json': 0o644,
      'hooks/pre.sh': 0o755,
    });

    expect(await readPackageManifest(out)).toStrictEqual(m);
    expect(await verifyPackageArchive(out)).toEqual(m);

    const dest = join(work, 'dest');
    const progress: number[] = [];
    expect(await extractPackage(out, dest, { onProgress: (b) => progress.push(b) })).toEqual(m);
    expect(progress.at(-1)).toBe(m.files.reduce((n, f) => n + f.size, 0));
    for (const f of m.files) {
      expect(await readFile(join(dest, f.path))).toEqual(await readFile(join(src, f.path)));
      expect((await stat(join(dest, f.path))).mode & 0o7777).toBe(f.mode);
    }
    expect((await stat(join(dest, 'var', 'empty'))).isDirectory()).toBe(true);
    await expect(stat(join(dest, 'ferry.json'))).rejects.toThrow();
    await expect(stat(join(dest, '.git'))).rejects.toThrow();
  });

  it('is byte-for-byte deterministic for a fixed createdAt', async () => {
    const src = await makeSource();
    const createdAt = '2024-05-01T12:00:00.000Z';
    const a = await buildPackage(src, join(work, 'a.ferry'), { createdAt });
    const b = await buildPackage(src, join(work, 'b.ferry'), { createdAt });
    expect(a.sha256).toBe(b.sha256);
    expect(await readFile(a.file)).toEqual(await readFile(b.file));
    const c = await buildPackage(src, join(work, 'c.ferry'), { createdAt: '2024-05-02T12:00:00.000Z' });
    expect(c.sha256).not.toBe(a.sha256);
  });

  it('never packages its own output when built into the source dir', async () => {
    const src = await makeSource();
    const out = join(src, 'hello-web-1.4.0.ferry');
    await buildPackage(src, out);
    const again = await buildPackage(src, out);
    expect(again.manifest.files.map((f) => f.path)).not.toContain('hello-web-1.4.0.ferry');
  });

  it('refuses to extract into an existing directory and leaves it alone', async () => {
    const src = await makeSource();
    const out = (await buildPackage(src, join(work, 'p.ferry'))).file;
    const dest = join(work, 'exists');
    await mkdir(dest);
    await writeFile(join(dest, 'keep'), 'x');
    await expectFerryError(extractPackage(out, dest), 'FERRY_INVALID_INPUT');
    expect(await readFile(join(dest, 'keep'), 'utf8')).toBe('x');
  });

  it('reads the manifest without reading the rest of the archive', async () => {
    const src = await makeSource();
    await writeFile(join(src, 'big.bin'), Buffer.alloc(256 * 1024, 7).map((_, i) => (i * 7919) % 251));
    const out = (await buildPackage(src, join(work, 'p.ferry'))).file;
    await truncate(out, Math.floor((await stat(out)).size / 2));
    expect((await readPackageManifest(out)).name).toBe('hello-web');
    await expectFerryError(verifyPackageArchive(out), 'FERRY_PACKAGE_INVALID');
  });

  it('reports a missing package file as FERRY_NOT_FOUND', async () => {
    await expectFerryError(readPackageManifest(join(work, 'nope.ferry')), 'FERRY_NOT_FOUND');
  });
});

describe('build refusals', () => {
  it('refuses a symlink in the source and leaves no output behind', async () => {
    const src = await makeSource();
    await symlink('/etc/passwd', join(src, 'bin', 'passwd'));
    await mkdir(join(work, 'out'));
    await expectFerryError(buildPackage(src, join(work, 'out', 'p.ferry')), 'FERRY_PACKAGE_INVALID', /symlink/);
    expect(await readdir(join(work, 'out'))).toEqual([]);
  });

  it('refuses a createdAt that is not an ISO timestamp', async () => {
    const src = await makeSource();
    await expectFerryError(buildPackage(src, join(work, 'p.ferry'), { createdAt: 'yesterday' }), 'FERRY_INVALID_INPUT');
  });

  it('refuses a hook that is not a regular file', async () => {
    const src = await makeSource({ hooks: { postinstall: 'bin' } });
    await expectFerryError(loadFerryJson(src), 'FERRY_PACKAGE_INVALID', /hooks\.postinstall "bin" is not a regular file/);
  });
});

describe('ferry.json validation', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['bad name', { name: 'Hello Web' }, /^ferry\.json: name "Hello Web" must match/],
    ['long name', { name: 'a'.repeat(65) }, /^ferry\.json: name must be at most 64 characters/],
    ['bad version', { version: '1.x' }, /^ferry\.json: version "1\.x" is not semver$/],
    ['unknown key', { colour: 'blue' }, /^ferry\.json: unknown key "colour"$/],
    ['unknown hook', { hooks: { prestart: 'hooks/pre.sh' } }, /^ferry\.json: unknown key "prestart" in hooks$/],
    ['missing hook file', { hooks: { postinstall: 'hooks/post.sh' } }, /^ferry\.json: hooks\.postinstall "hooks\/post\.sh" does not exist$/],
    ['escaping hook path', { hooks: { rollback: '../x.sh' } }, /hooks\.rollback "\.\.\/x\.sh" has a "\.\." segment/],
    ['bad range', { depends: { runtime: 'latest-ish' } }, /depends\.runtime "latest-ish" is not a semver range/],
    ['bad arch', { requires: { arch: ['x86_64'] } }, /requires\.arch\.0 must be one of/],
    ['bad timeout', { hookTimeoutSeconds: 0 }, /hookTimeoutSeconds must be > 0/],
    ['wrong type', { description: 42 }, /description must be string/],
  ];
  it.each(cases)('%s', async (_label, patch, message) => {
    const src = await makeSource(patch);
    await expectFerryError(loadFerryJson(src), 'FERRY_PACKAGE_INVALID', message);
  });

  it('requires name and version', async () => {
    const src = await makeSource();
    await writeFile(join(src, 'ferry.json'), '{"name": "x"}');
    await expectFerryError(loadFerryJson(src), 'FERRY_PACKAGE_INVALID', /^ferry\.json: version is required$/);
  });

  it('rejects invalid JSON and a missing file', async () => {
    const src = await makeSource();
    await writeFile(join(src, 'ferry.json'), '{ nope');
    await expectFerryError(loadFerryJson(src), 'FERRY_PACKAGE_INVALID', /not valid JSON/);
    await expectFerryError(loadFerryJson(join(work, 'empty')), 'FERRY_NOT_FOUND');
  });

  it('accepts a minimal ferry.json and applies the hook timeout default', async () => {
    const src = join(work, 'min');
    await mkdir(src);
    await writeFile(join(src, 'ferry.json'), '{"name": "min", "version": "0.1.0-rc.1"}');
    await chmod(join(src, 'ferry.json'), 0o644);
    expect(await loadFerryJson(src)).toEqual({ name: 'min', version: '0.1.0-rc.1', hookTimeoutSeconds: 60 });
  });
});
