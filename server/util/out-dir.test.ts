import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { catchFerryError } from '../../test/helpers/errors.js';
import { makeOutDir } from './out-dir.js';

describe('makeOutDir', () => {
  let root: string;
  afterEach(() => rmSync(root, { recursive: true, force: true }));
  const fresh = () => (root = mkdtempSync(join(tmpdir(), 'ferry-out-dir-')));

  it('a directory under a regular file: FERRY_INVALID_INPUT naming the directory and the file in the way; nothing made', () => {
    fresh();
    const file = join(root, 'file');
    writeFileSync(file, 'x');
    const err = catchFerryError(() => makeOutDir(join(file, 'conf', 'deeper')));
    expect(err.message).toBe(`cannot create the --out directory ${join(file, 'conf', 'deeper')}: ${file} is not a directory`);
    expect(readdirSync(root)).toEqual(['file']);
  });

  // Node's recursive mkdir loops for ever at full CPU there (`ferry nats config --out /proc/x` hung).
  it.runIf(existsSync('/proc/self'))('a parent that refuses the mkdir (procfs): refused at once, naming the directory', () => {
    root = mkdtempSync(join(tmpdir(), 'ferry-out-dir-'));
    expect(catchFerryError(() => makeOutDir('/proc/ferry-out/conf')).message).toMatch(/^cannot create the --out directory \/proc\/ferry-out\/conf: /);
  });

  it('--out a regular file: refused, the file kept', () => {
    fresh();
    writeFileSync(join(root, 'f'), 'x');
    expect(catchFerryError(() => makeOutDir(join(root, 'f'))).message).toBe(`--out ${join(root, 'f')} is not a directory`);
    expect(readdirSync(root)).toEqual(['f']);
  });

  it('undo removes the directories it made (parents included) and what was written in them', () => {
    fresh();
    const out = join(root, 'a', 'b');
    const dir = makeOutDir(out);
    expect(dir.created).toBe(join(root, 'a'));
    writeFileSync(join(out, 'partial.conf'), 'half');
    dir.undo();
    expect(readdirSync(root)).toEqual([]);
  });

  it('undo leaves a directory that was there alone', () => {
    fresh();
    const out = join(root, 'there');
    mkdirSync(out);
    writeFileSync(join(out, 'old.conf'), 'kept');
    const dir = makeOutDir(out);
    expect(dir.created).toBeUndefined();
    dir.undo();
    expect(existsSync(join(out, 'old.conf'))).toBe(true);
  });
});
