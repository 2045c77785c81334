// Hostile archives: every one must be refused with a specific code by both the verifier
// and the extractor, leaving nothing at destDir and nothing new anywhere around it.

import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FerryError } from '../errors.js';
import { buildPackage, extractPackage, readPackageManifest, verifyPackageArchive, type ArchiveLimits } from './mod.js';
import { fileDirectoryConflicts, MAX_PATH_DEPTH, parseManifest, pathLimitProblem, type PathWork } from './manifest.js';
import {
  manifestEntry,
  manifestFor,
  packageEntries,
  paxRecord,
  rewriteArchive,
  tarBytes,
  writeArchive,
  writeGzipBomb,
  type RawEntry,
} from './test-archives.js';

let work: string;
let pkg: string;
let dest: string;
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'ferry-hostile-'));
  pkg = join(work, 'p.ferry');
  dest = join(work, 'dest');
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(dir, { recursive: true, withFileTypes: true })) out.push(join(d.parentPath, d.name));
  return out.sort();
}

async function caught(p: Promise<unknown>): Promise<FerryError> {
  const e = await p.then(
    () => new Error('expected a FerryError, but it succeeded'),
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(FerryError);
  return e as FerryError;
}

/** Both the verifier and the extractor refuse `pkg` with `code`; the filesystem is untouched. */
/** Both verify and extract refuse the package, and nothing is written; their errors are returned. */
async function expectRefused(code: string, message?: RegExp, limits?: Partial<ArchiveLimits>): Promise<FerryError[]> {
  const before = await snapshot(work);
  const errors = [await caught(verifyPackageArchive(pkg, limits)), await caught(extractPackage(pkg, dest, { limits }))];
  for (const e of errors) {
    expect(e.code, e.message).toBe(code);
    if (message) expect(e.message).toMatch(message);
  }
  await expect(stat(dest)).rejects.toMatchObject({ code: 'ENOENT' });
  expect(await snapshot(work)).toEqual(before);
  return errors;
}

const files = [{ path: 'a.txt', body: 'hello\n' }];
const [manifest, ...payload] = packageEntries(files) as [RawEntry, ...RawEntry[]];

describe('unsafe entries → FERRY_ARCHIVE_UNSAFE', () => {
  const cases: Array<[string, () => RawEntry[], RegExp]> = [
    ['absolute path', () => [manifest, { path: join(work, 'abs-escape.txt'), body: 'x' }, ...payload], /is absolute/],
    ['../ traversal', () => [manifest, { path: 'payload/../../escaped.txt', body: 'x' }, ...payload], /"\.\." segment/],
    ['nested traversal', () => [manifest, { path: 'payload/sub/../../../x', body: 'x' }, ...payload], /"\.\." segment/],
    [
      'PAX header renaming a harmless entry',
      () => [manifest, { path: 'PaxHeader/a.txt', type: 'ExtendedHeader', body: paxRecord('path', '../../pax-escape.txt') }, ...payload],
      /"\.\.\/\.\.\/pax-escape\.txt".*"\.\." segment/,
    ],
    [
      'GNU long name renaming a harmless entry',
      () => [manifest, { path: '././@LongLink', type: 'NextFileHasLongPath', body: '/tmp/ferry-gnu-escape.txt\0' }, ...payload],
      /ferry-gnu-escape.*is absolute/,
    ],
    ['backslashes', () => [manifest, { path: 'payload\\..\\..\\x', body: 'x' }, ...payload], /backslash/],
    ['drive letter', () => [manifest, { path: 'C:/Windows/x', body: 'x' }, ...payload], /drive letter/],
    [
      'symlink pointing outside, then a write through it',
      () => [manifest, { path: 'payload/link', type: 'SymbolicLink', linkpath: '../../..' }, { path: 'payload/link/x', body: 'x' }, ...payload],
      /symlink/,
    ],
    ['absolute symlink', () => [manifest, ...payload, { path: 'payload/passwd', type: 'SymbolicLink', linkpath: '/etc/passwd' }], /symlink/],
    ['hard link', () => [manifest, ...payload, { path: 'payload/shadow', type: 'Link', linkpath: '/etc/shadow' }], /hard link/],
    ['FIFO', () => [manifest, ...payload, { path: 'payload/fifo', type: 'FIFO' }], /FIFO/],
    ['character device', () => [manifest, ...payload, { path: 'payload/null', type: 'CharacterDevice' }], /CharacterDevice/],
    ['block device', () => [manifest, ...payload, { path: 'payload/sda', type: 'BlockDevice' }], /BlockDevice/],
    ['unsupported type', () => [manifest, ...payload, { path: 'payload/sparse', type: 'SparseFile' }], /unsupported type/],
    ['entry outside payload/', () => [manifest, ...payload, { path: 'etc/cron.d/evil', body: 'x' }], /outside payload/],
    ['second manifest.json', () => [manifest, ...payload, manifest], /second manifest/],
    ['duplicate path', () => [manifest, ...payload, ...payload], /appears twice/],
    ['file then directory at the same path', () => [manifest, ...payload, { path: 'payload/a.txt/', type: 'Directory' }], /appears twice/],
  ];
  it.each(cases)('%s', async (_label, entries, message) => {
    await writeArchive(pkg, entries());
    await expectRefused('FERRY_ARCHIVE_UNSAFE', message);
  });

  it('a symlink archived by tar.c from a real directory', async () => {
    const stage = join(work, 'stage');
    await mkdir(join(stage, 'payload'), { recursive: true });
    await writeFile(join(stage, 'manifest.json'), JSON.stringify(manifestFor(files)));
    await writeFile(join(stage, 'payload', 'a.txt'), 'hello\n');
    await symlink('/etc', join(stage, 'payload', 'etc'));
    await tar.c({ gzip: true, cwd: stage, file: pkg, portable: true }, ['manifest.json', 'payload']);
    await rm(stage, { recursive: true });
    await expectRefused('FERRY_ARCHIVE_UNSAFE', /payload\/etc.*symlink/);
  });

  it('a gzip bomb is stopped early', async () => {
    await writeGzipBomb(pkg, 200 * 1024 * 1024);
    const errors = await expectRefused('FERRY_ARCHIVE_UNSAFE', /decompression ratio/);
    // Early: tens of MiB inflated of the 200 MiB (the ratio is checked per compressed chunk read),
    // never the whole bomb. Counted in bytes, not wall time.
    for (const e of errors) expect(Number(/after (\d+) bytes/.exec(e.message)?.[1])).toBeLessThan(64 * 1024 * 1024);
  });

  const limited: Array<[string, RawEntry[], Partial<ArchiveLimits>, RegExp]> = [
    ['too many entries', packageEntries([1, 2, 3, 4, 5].map((i) => ({ path: `f${i}`, body: `${i}` }))), { maxEntries: 3 }, /more than 3 entries|over the limit of 3/],
    [
      'too many entries beyond the manifest',
      [manifest, ...payload, ...[1, 2, 3].map((i) => ({ path: `payload/d${i}/`, type: 'Directory' as const }))],
      { maxEntries: 3 },
      /more than 3 entries/,
    ],
    ['too deep', packageEntries([{ path: 'a/b/c/d.txt', body: 'x' }]), { maxDepth: 3 }, /deeper than 3/],
    ['file too big', packageEntries([{ path: 'big', body: 'x'.repeat(100) }]), { maxFileBytes: 99 }, /over the 99-byte limit/],
    ['payload too big', packageEntries([{ path: 'a', body: 'x'.repeat(60) }, { path: 'b', body: 'y'.repeat(60) }]), { maxTotalBytes: 100 }, /over the 100-byte limit/],
    ['path too long', packageEntries([{ path: 'x'.repeat(50), body: 'x' }]), { maxPathLength: 40 }, /longer than 40/],
  ];
  it.each(limited)('%s', async (_label, entries, limits, message) => {
    await writeArchive(pkg, entries);
    await expectRefused('FERRY_ARCHIVE_UNSAFE', message, limits);
  });
});

describe('tampering → FERRY_DIGEST_MISMATCH', () => {
  it('one flipped byte in a built package', async () => {
    const src = join(work, 'src');
    await mkdir(src);
    await writeFile(join(src, 'ferry.json'), '{"name": "t", "version": "1.0.0"}');
    await writeFile(join(src, 'data.txt'), 'MARKER-original-content\n');
    await buildPackage(src, pkg);
    await rm(src, { recursive: true });
    await rewriteArchive(pkg, (t) => {
      const at = t.indexOf('MARKER-original');
      expect(at).toBeGreaterThan(0);
      t[at + 7] ^= 0x01;
      return t;
    });
    expect((await readPackageManifest(pkg)).name).toBe('t'); // manifest itself is intact
    await expectRefused('FERRY_DIGEST_MISMATCH', /payload\/data\.txt/);
  });

  it('bytes after the end-of-archive marker are ignored, as every tar does', async () => {
    await writeArchive(pkg, packageEntries(files));
    await rewriteArchive(pkg, (t) => Buffer.concat([t, tarBytes([{ path: 'payload/smuggled', body: 'x' }])]));
    expect((await verifyPackageArchive(pkg)).files).toHaveLength(1);
    await extractPackage(pkg, dest);
    expect(await readdir(dest)).toEqual(['a.txt']);
  });

  it('a file whose size differs from the manifest', async () => {
    await writeArchive(pkg, [manifest, { path: 'payload/a.txt', body: 'hello, longer\n' }]);
    await expectRefused('FERRY_DIGEST_MISMATCH', /bytes but manifest\.json says 6/);
  });
});

describe('structure → FERRY_PACKAGE_INVALID', () => {
  const cases: Array<[string, () => RawEntry[] | Buffer, RegExp]> = [
    ['file not in the manifest', () => [manifest, ...payload, { path: 'payload/extra.sh', body: 'rm -rf /' }], /not listed in manifest/],
    ['manifest file missing from the archive', () => [manifestEntry(manifestFor([...files, { path: 'b.txt', body: 'b' }])), ...payload], /"b\.txt" but the archive does not contain it/],
    ['manifest.json not first', () => [...payload, manifest], /first archive entry must be manifest\.json/],
    ['no manifest at all', () => [], /no manifest\.json|corrupt archive/],
    ['setuid mode in the manifest', () => [manifestEntry(manifestFor([{ ...files[0]!, mode: 0o4755 }])), ...payload], /mode must be 493/],
    ['escaping path in the manifest', () => [manifestEntry(manifestFor([{ path: '../a.txt', body: 'x' }])), { path: 'payload/../a.txt', body: 'x' }], /files\.0\.path "\.\.\/a\.txt" has a "\.\." segment/],
    ['manifest that is not JSON', () => [{ path: 'manifest.json', body: '{"formatVersion": 1,' }, ...payload], /not valid JSON/],
    ['manifest from the future', () => [manifestEntry(manifestFor(files, { formatVersion: 2 })), ...payload], /formatVersion 2 is not supported/],
    ['oversized manifest', () => [{ path: 'manifest.json', size: 5 * 1024 * 1024 }], /over the 4194304-byte limit/],
    ['plain tar, not gzip', () => tarBytes(packageEntries(files)), /not a valid \.ferry file \(gzip: incorrect header check\)/],
    ['gzip inside gzip', () => gzipSync(gzipSync(tarBytes(packageEntries(files)))), /compressed twice/],
    [
      'bad header checksum',
      () => {
        const t = tarBytes(packageEntries(files));
        t[t.indexOf('payload/a.txt') + 3] ^= 0x01; // a name byte in the payload header
        return gzipSync(t);
      },
      /checksum/,
    ],
  ];
  it.each(cases)('%s', async (_label, make, message) => {
    const content = make();
    if (Buffer.isBuffer(content)) await writeFile(pkg, content);
    else await writeArchive(pkg, content);
    await expectRefused('FERRY_PACKAGE_INVALID', message);
  });

  it('readPackageManifest insists on manifest.json first', async () => {
    await writeArchive(pkg, [...payload, manifest]);
    expect((await caught(readPackageManifest(pkg))).code).toBe('FERRY_PACKAGE_INVALID');
  });
});

describe('modes and owners come from the manifest, never from tar headers', () => {
  it('a setuid/setgid header is written without those bits and without the archived owner', async () => {
    const body = '#!/bin/sh\nid\n';
    await writeArchive(pkg, [
      manifestEntry(manifestFor([{ path: 'bin/tool', body, mode: 0o755 }, { path: 'etc/conf', body: 'x', mode: 0o644 }])),
      { path: 'payload/bin/tool', body, mode: 0o6755, uid: 4242 },
      { path: 'payload/etc/conf', body: 'x', mode: 0o4777, uid: 4242 },
    ]);
    await extractPackage(pkg, dest);
    const tool = await stat(join(dest, 'bin', 'tool'));
    expect(tool.mode & 0o7777).toBe(0o755);
    expect(tool.uid).toBe(process.getuid?.() ?? tool.uid);
    expect((await stat(join(dest, 'etc', 'conf'))).mode & 0o7777).toBe(0o644);
    expect(await readFile(join(dest, 'bin', 'tool'), 'utf8')).toBe(body);
  });
});

// Issue 13: one file with a 40,000-segment path in a 422-byte package blocked the server for
// 12 s, because every parent prefix was built before the depth limit was looked at. The checks
// are now linear with the limits first; these tests count the work instead of timing it.
describe('hostile manifest paths: limits first, linear checks', () => {
  const segments = (n: number, seg = 'a') => Array.from({ length: n }, () => seg).join('/');
  const hostileManifest = (n: number) => manifestFor([{ path: segments(n), body: 'x' }]);

  it.each([40_000, 400_000])('a manifest listing one file with a %i-segment path is refused by the length limit', (n) => {
    let thrown: unknown;
    try {
      parseManifest(hostileManifest(n));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(FerryError);
    const e = thrown as FerryError;
    expect(e.code).toBe('FERRY_PACKAGE_INVALID');
    expect(e.message).toMatch(/^manifest\.json: files\.0\.path "a\/a\/a.*…" is longer than 4096 characters$/);
    expect(e.message.length).toBeLessThan(300); // the path is quoted cut short, not 80 KB of it
  });

  it('the 40,000-segment package is refused by the verifier, the extractor and the manifest reader', async () => {
    await writeArchive(pkg, [manifestEntry(hostileManifest(40_000)), { path: 'payload/x', body: 'x' }]);
    await expectRefused('FERRY_PACKAGE_INVALID', /is longer than 4096 characters/);
    const e = await caught(readPackageManifest(pkg));
    expect([e.code, e.message]).toEqual(['FERRY_PACKAGE_INVALID', expect.stringMatching(/is longer than 4096 characters/)]);
  });

  it('a path under the length limit but deeper than 32 levels is refused by the depth limit', () => {
    expect(() => parseManifest(hostileManifest(2000))).toThrow(/files\.0\.path "a\/a.*" is nested deeper than 32 levels/);
  });

  it('the depth check stops at the limit: 10× the segments costs the same work', () => {
    const work = (n: number) => {
      const w: PathWork = { segments: 0 };
      const problem = pathLimitProblem(segments(n), w);
      return { problem, segments: w.segments };
    };
    const at200 = work(200);
    const at2000 = work(2000);
    expect(at200).toEqual({ problem: `is nested deeper than ${MAX_PATH_DEPTH} levels`, segments: MAX_PATH_DEPTH });
    expect(at2000).toEqual(at200);
    // Over the length ceiling the path is not even walked.
    expect(work(40_000)).toEqual({ problem: 'is longer than 4096 characters', segments: 0 });
    expect(work(MAX_PATH_DEPTH)).toEqual({ problem: undefined, segments: MAX_PATH_DEPTH - 1 });
  });

  it('the file-versus-directory check visits each path segment once: 10× the paths, 10× the work', () => {
    const paths = (files: number) => Array.from({ length: files }, (_, i) => `${segments(MAX_PATH_DEPTH - 1, 'd')}/f${String(i).padStart(6, '0')}`);
    const visited = (files: number) => {
      const w: PathWork = { segments: 0 };
      expect(fileDirectoryConflicts(paths(files), w)).toEqual([]);
      return w.segments;
    };
    expect(visited(1000)).toBe(1000 * MAX_PATH_DEPTH);
    expect(visited(10_000)).toBe(10 * visited(1000));
  });

  it('a file that is also another file\'s directory is still found, in either order', () => {
    expect(fileDirectoryConflicts(['a', 'a-b', 'a/b/c'])).toEqual([{ parent: 'a', path: 'a/b/c' }]);
    expect(fileDirectoryConflicts(['a/b/c', 'a'])).toEqual([{ parent: 'a', path: 'a/b/c' }]);
    expect(fileDirectoryConflicts(['a/b', 'a/c', 'ab'])).toEqual([]);
    expect(() => parseManifest(manifestFor([{ path: 'a', body: 'x' }, { path: 'a/b', body: 'y' }]))).toThrow(/files "a" is both a file and the directory of "a\/b"/);
  });
});

// A path or description is printed by `ferry-agent verify`, `ferry package inspect` and the
// console: one with a terminal escape sequence in it is refused wherever a package is read or built.
describe('control characters in manifest paths and text → refused', () => {
  const hostile: Array<[string, string]> = [
    ['ESC (a terminal title and clear-screen sequence)', '\u001b]0;pwned\u0007\u001b[2J'],
    ['C1 CSI', 'x\u009b31m'],
    ['DEL', 'x\u007f'],
    ['a newline', 'x\ny'],
    ['a tab', 'x\ty'],
    ['a bidirectional override', 'txt.\u202eexe'],
  ];
  const noRawControl = (e: FerryError) => expect(e.message).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202e]/);

  it.each(hostile)('a manifest path with %s is refused by the reader, the verifier and the extractor', async (_label, bad) => {
    await writeArchive(pkg, packageEntries([{ path: `bin/${bad}`, body: 'x' }]));
    const errors = await expectRefused('FERRY_PACKAGE_INVALID', /files\.0\.path "bin\/.*" contains a (control|bidirectional)/);
    errors.push(await caught(readPackageManifest(pkg)));
    expect(errors[2]!.code).toBe('FERRY_PACKAGE_INVALID');
    errors.forEach(noRawControl);
  });

  it('a tar entry named with ESC, not in the manifest, is refused as unsafe', async () => {
    await writeArchive(pkg, [manifest, ...payload, { path: 'payload/\u001b[2J', body: 'x' }]);
    const errors = await expectRefused('FERRY_ARCHIVE_UNSAFE', /contains a control character \(\\x1b at character 9\)/);
    errors.forEach(noRawControl);
  });

  it.each(hostile)('a manifest description with %s is refused by the reader', async (_label, bad) => {
    await writeArchive(pkg, packageEntries(files, { description: `A tool ${bad}` }));
    const e = await caught(readPackageManifest(pkg));
    expect([e.code, e.message]).toEqual(['FERRY_PACKAGE_INVALID', expect.stringMatching(/^manifest\.json: description contains a (control|bidirectional)/)]);
    noRawControl(e);
  });

  it('a manifest name with ESC is refused by the reader', async () => {
    await writeArchive(pkg, packageEntries(files, { name: 'app\u001b[2J' }));
    const e = await caught(readPackageManifest(pkg));
    expect([e.code, e.message]).toEqual(['FERRY_PACKAGE_INVALID', expect.stringMatching(/^manifest\.json: name /)]);
    noRawControl(e);
  });

  it('the build refuses a payload file named with ESC, and a ferry.json description or name with one', async () => {
    const src = join(work, 'src');
    await mkdir(src);
    await writeFile(join(src, 'ferry.json'), JSON.stringify({ name: 't', version: '1.0.0' }));
    await writeFile(join(src, 'bad\u001b]0;pwned\u0007'), 'x');
    const e1 = await caught(buildPackage(src, pkg));
    expect([e1.code, e1.message]).toEqual(['FERRY_PACKAGE_INVALID', expect.stringMatching(/path contains a control character \(\\x1b at character 4\)/)]);
    await rm(join(src, 'bad\u001b]0;pwned\u0007'));
    await writeFile(join(src, 'ferry.json'), JSON.stringify({ name: 't', version: '1.0.0', description: 'fine\u001b[2J' }));
    const e2 = await caught(buildPackage(src, pkg));
    expect([e2.code, e2.message]).toEqual(['FERRY_PACKAGE_INVALID', 'ferry.json: description contains a control character (\\x1b at character 5)']);
    await writeFile(join(src, 'ferry.json'), JSON.stringify({ name: 't\u001b', version: '1.0.0' }));
    expect((await caught(buildPackage(src, pkg))).code).toBe('FERRY_PACKAGE_INVALID');
    await writeFile(join(src, 'ferry.json'), JSON.stringify({ name: 't', version: '1.0.0', description: 'A plain description — with Unicode ✓' }));
    expect((await buildPackage(src, pkg)).manifest.description).toBe('A plain description — with Unicode ✓');
  });
});
