import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { catchFerryError } from '../test/helpers/errors.js';
import { checkOutFile, outFileError, writeOutFile } from './out-file.js';

describe('checkOutFile: an output file that cannot be written is refused before anything is done', () => {
  let root: string;
  afterEach(() => rmSync(root, { recursive: true, force: true }));
  const fresh = () => (root = mkdtempSync(join(tmpdir(), 'ferry-out-file-')));

  it('its directory missing, a file in the way, the path a directory: FERRY_INVALID_INPUT naming it; nothing made', () => {
    fresh();
    writeFileSync(join(root, 'file'), 'x');
    const missing = join(root, 'nowhere', 'dan.creds');
    expect(catchFerryError(() => checkOutFile(missing, { overwrite: false })).toLine()).toBe(`FERRY_INVALID_INPUT: --out ${missing}: the directory ${join(root, 'nowhere')} does not exist — hint: choose another --out`);
    expect(catchFerryError(() => checkOutFile(join(root, 'file', 'r.md'), { overwrite: true })).message).toBe(`--out ${join(root, 'file', 'r.md')}: ${join(root, 'file')} is not a directory`);
    expect(catchFerryError(() => checkOutFile(root, { overwrite: true })).message).toBe(`--out ${root}: it is a directory`);
    expect(catchFerryError(() => checkOutFile(join(root, 'file', 'deeper', 'x'), { overwrite: true, makeParents: true })).message).toBe(`--out ${join(root, 'file', 'deeper', 'x')}: ${join(root, 'file')} is not a directory`);
    expect(readdirSync(root)).toEqual(['file']);
  });

  it('an existing file: FERRY_ALREADY_EXISTS when never overwritten; a device is not replaced by a rename', () => {
    fresh();
    writeFileSync(join(root, 'file'), 'x');
    expect(catchFerryError(() => checkOutFile(join(root, 'file'), { overwrite: false }), 'FERRY_ALREADY_EXISTS').message).toBe(`${join(root, 'file')} exists; it is never overwritten`);
    expect(checkOutFile(join(root, 'file'), { overwrite: true, renamesOver: true })).toBe(join(root, 'file'));
    expect(catchFerryError(() => checkOutFile('/dev/null', { flag: 'backup file', overwrite: true, renamesOver: true })).message).toBe('backup file /dev/null: it is not a plain file, and a new file would replace it');
    expect(checkOutFile('/dev/null', { overwrite: true })).toBe('/dev/null');
  });

  it('missing parents are fine for a command that makes them; the path comes back absolute', () => {
    fresh();
    expect(checkOutFile(join(root, 'a', 'b', 'p.ferry'), { overwrite: true, makeParents: true })).toBe(join(root, 'a', 'b', 'p.ferry'));
    expect(existsSync(join(root, 'a'))).toBe(false);
  });

  it.skipIf(process.getuid?.() === 0)('a directory this user may not write to: permission denied, naming it', () => {
    fresh();
    mkdirSync(join(root, 'ro'));
    chmodSync(join(root, 'ro'), 0o555);
    expect(catchFerryError(() => checkOutFile(join(root, 'ro', 'x'), { overwrite: false })).message).toBe(`--out ${join(root, 'ro', 'x')}: permission denied (this user may not write to ${join(root, 'ro')})`);
  });
});

describe('writeOutFile and outFileError: any error writing it is one line naming it', () => {
  it('a full disk (/dev/full: ENOSPC), a missing directory, a directory', () => {
    expect(catchFerryError(() => writeOutFile('/dev/full', 'review')).toLine()).toBe('FERRY_INVALID_INPUT: --out /dev/full: cannot write it: no space left on the device — hint: free some space, or choose another --out');
    expect(catchFerryError(() => writeOutFile('/nonexistent-ferry/dir/r.md', 'x')).message).toBe('--out /nonexistent-ferry/dir/r.md: cannot write it: no such file or directory');
    expect(catchFerryError(() => writeOutFile(tmpdir(), 'x', 'backup file')).message).toBe(`backup file ${tmpdir()}: cannot write it: it is a directory`);
  });

  it('writes the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-out-file-'));
    try {
      writeOutFile(join(dir, 'r.md'), '# review\n');
      expect(readFileSync(join(dir, 'r.md'), 'utf8')).toBe('# review\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a FerryError passes as it is', () => {
    const e = catchFerryError(() => {
      throw outFileError('x', catchFerryError(() => checkOutFile(tmpdir(), { overwrite: true })));
    });
    expect(e.message).toBe(`--out ${tmpdir()}: it is a directory`);
  });
});
