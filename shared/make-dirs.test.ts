import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeDirs } from './make-dirs.js';

describe('makeDirs', () => {
  const base = mkdtempSync(join(tmpdir(), 'ferry-make-dirs-'));

  it('makes missing parents and returns the first one made', () => {
    expect(makeDirs(join(base, 'a', 'b', 'c'), 0o700)).toBe(join(base, 'a'));
    expect(statSync(join(base, 'a', 'b', 'c')).isDirectory()).toBe(true);
    expect(statSync(join(base, 'a', 'b')).mode & 0o777).toBe(0o700);
  });

  it('returns undefined when the directory was there', () => {
    expect(makeDirs(base)).toBeUndefined();
  });

  it('a file in the way is ENOTDIR/EEXIST, not made', () => {
    writeFileSync(join(base, 'file'), 'x');
    expect(() => makeDirs(join(base, 'file', 'sub'))).toThrow(expect.objectContaining({ code: 'ENOTDIR' }));
    expect(() => makeDirs(join(base, 'file'))).not.toThrow(); // it exists (what is there is the caller's check)
  });

  // Node's own recursive mkdir loops for ever here (a parent that exists but answers ENOENT).
  it.runIf(existsSync('/proc/self'))('a parent that refuses the mkdir (procfs) is an error at once', () => {
    expect(() => makeDirs('/proc/ferry-test/x')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });
});
