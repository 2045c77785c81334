// Delta planning is pure: which files of a new version come from kept versions, which are fetched.
import { describe, expect, it } from 'vitest';
import { contentObjectName, deltaLimitProblem, deltaWorthIt, fileIndexObjectName, FILE_INDEX_KIND, fileIndexSchema, planDelta } from './delta.js';
import { parseManifest, type Manifest } from './manifest.js';

const h = (c: string) => c.repeat(64);
function manifest(version: string, files: Array<[string, string, number]>): Manifest {
  return parseManifest({
    formatVersion: 1,
    name: 'app',
    version,
    hookTimeoutSeconds: 60,
    files: files.map(([path, hash, size]) => ({ path, sha256: h(hash), size, mode: 0o644 })),
    createdAt: '2026-01-01T00:00:00.000Z',
  });
}

describe('planDelta', () => {
  const v1 = manifest('1.0.0', [['a', 'a', 10], ['b', 'b', 20], ['c', 'c', 30]]);

  it('reuses unchanged files and fetches the changed one', () => {
    const v2 = manifest('1.0.1', [['a', 'a', 10], ['b', 'd', 25], ['c', 'c', 30]]);
    const plan = planDelta(v2, [{ version: '1.0.0', manifest: v1 }]);
    expect(plan.reuse.map((r) => r.path)).toEqual(['a', 'c']);
    expect(plan.reuse[0]!.sources).toEqual([{ version: '1.0.0', path: 'a' }]);
    expect(plan.fetch).toEqual([{ sha256: h('d'), size: 25, paths: ['b'] }]);
    expect(plan.reuseBytes).toBe(40);
    expect(plan.fetchBytes).toBe(25);
    expect(deltaWorthIt(plan, 60)).toBe(true);
    expect(deltaWorthIt(plan, 25)).toBe(false); // the package itself would be no bigger
  });

  it('finds moved content, prefers the same path, and lists every source newest first', () => {
    const v0 = manifest('0.9.0', [['x', 'a', 10]]);
    const v2 = manifest('2.0.0', [['a', 'a', 10], ['moved', 'b', 20]]);
    const plan = planDelta(v2, [{ version: '1.0.0', manifest: v1 }, { version: '0.9.0', manifest: v0 }]);
    expect(plan.fetch).toEqual([]);
    expect(plan.reuse.find((r) => r.path === 'a')!.sources).toEqual([
      { version: '1.0.0', path: 'a' },
      { version: '0.9.0', path: 'x' },
    ]);
    expect(plan.reuse.find((r) => r.path === 'moved')!.sources).toEqual([{ version: '1.0.0', path: 'b' }]);
  });

  it('fetches a content once for every path that has it, and never fetches empty files', () => {
    const v2 = manifest('2.0.0', [['e', 'e', 0], ['n1', 'f', 5], ['n2', 'f', 5]]);
    const plan = planDelta(v2, [{ version: '1.0.0', manifest: v1 }]);
    expect(plan.fetch).toEqual([{ sha256: h('f'), size: 5, paths: ['n1', 'n2'] }]);
    expect(plan.fetchBytes).toBe(5);
    expect(plan.empty.map((e) => e.path)).toEqual(['e']);
    expect(deltaWorthIt(plan, 1000)).toBe(false); // nothing reused: the full package
  });

  it('with nothing kept, plans to fetch everything', () => {
    const plan = planDelta(v1, []);
    expect(plan.reuse).toEqual([]);
    expect(plan.fetchBytes).toBe(60);
  });
});

describe('file index', () => {
  it('names objects so they never collide with package objects (name@version)', () => {
    expect(contentObjectName(h('a'))).toBe(`sha256/${h('a')}`);
    expect(fileIndexObjectName('app', '1.0.0')).toBe('index/app@1.0.0');
  });

  it('refuses directories that could escape the install directory, and unknown keys', () => {
    const base = { kind: FILE_INDEX_KIND, name: 'app', version: '1.0.0', sha256: h('a'), size: 1, dirs: ['data'], manifest: {} };
    expect(fileIndexSchema.safeParse(base).success).toBe(true);
    expect(fileIndexSchema.safeParse({ ...base, dirs: ['../etc'] }).success).toBe(false);
    expect(fileIndexSchema.safeParse({ ...base, dirs: ['/etc'] }).success).toBe(false);
    expect(fileIndexSchema.safeParse({ ...base, object: 'x' }).success).toBe(false);
    expect(fileIndexSchema.safeParse({ ...base, kind: undefined }).success).toBe(false);
  });
});

describe('deltaLimitProblem', () => {
  const m = manifest('1.0.0', [['a', 'a', 10], ['b', 'b', 20]]);
  const limits = { maxEntries: 3, maxTotalBytes: 100, maxFileBytes: 15, maxDepth: 32, maxDecompressionRatio: 200, maxPathLength: 4096 };
  it('applies the limits a full install enforces while extracting', () => {
    expect(deltaLimitProblem(m, [])).toBeUndefined();
    expect(deltaLimitProblem(m, ['d1', 'd2'], { ...limits, maxFileBytes: 100 })).toMatch(/4 entries/);
    expect(deltaLimitProblem(m, [], limits)).toMatch(/"b" is 20 bytes/);
    expect(deltaLimitProblem(m, [], { ...limits, maxFileBytes: 100, maxTotalBytes: 25 })).toMatch(/30 payload bytes/);
  });
});
