// A file a command writes where the operator says (`--out FILE`, `backup FILE`): checked before the
// command does anything (so a typo in the path never leaves a half-done command behind: an operator
// registered whose credentials went nowhere), and any error writing it is one line that names the
// file and says why, FERRY_INVALID_INPUT (exit 2), whatever the errno (ENOENT, EACCES, EISDIR, ENOSPC…).
import { accessSync, constants, statSync, writeFileSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { FerryError } from './errors.js';
import { fileErrorReason } from './file-errors.js';

export interface OutFileOptions {
  /** how the command line names it, in the message and the hint (default `--out`) */
  flag?: string;
  /** the hint when the directory may not be written (default: choose another) */
  hint?: string;
  /** the command replaces an existing file (else an existing one is FERRY_ALREADY_EXISTS) */
  overwrite: boolean;
  /** the command makes missing parent directories (then the nearest existing one must be writable) */
  makeParents?: boolean;
  /** the command renames a new file over it: an existing one must be a plain file (not /dev/null) */
  renamesOver?: boolean;
}

/**
 * Refuse, before anything is done, an output file the command could not write: its directory
 * missing (unless the command makes it), not a directory or not writable, the path a directory,
 * or (never overwritten) a file already there. Returns the absolute path.
 */
export function checkOutFile(file: string, opts: OutFileOptions): string {
  const flag = opts.flag ?? '--out';
  const out = resolve(file);
  const refuse = (why: string, hint = opts.hint ?? `choose another ${flag}`): FerryError => new FerryError('FERRY_INVALID_INPUT', `${flag} ${out}: ${why}`, { hint });
  const dir = dirname(out);
  // The nearest ancestor that is there: the directory itself, where missing ones would be made, or a file in the way.
  let near = dir;
  let nearStat = statOrReason(near);
  while (typeof nearStat === 'string' && dirname(near) !== near) {
    near = dirname(near);
    nearStat = statOrReason(near);
  }
  if (typeof nearStat === 'string') throw refuse(`${near}: ${nearStat}`);
  if (!nearStat.isDirectory()) throw refuse(`${near} is not a directory`);
  if (near !== dir && !opts.makeParents) throw refuse(`the directory ${dir} does not exist`);
  try {
    accessSync(near, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw refuse(`${fileErrorReason(err)} (this user may not write to ${near})`);
  }
  const target = statOrReason(out);
  if (typeof target !== 'string') {
    if (target.isDirectory()) throw refuse('it is a directory', `give a file name, e.g. ${flag} ${out}/NAME`);
    if (opts.renamesOver && !target.isFile()) throw refuse('it is not a plain file, and a new file would replace it', `give a file name, or write it elsewhere and copy it there`);
    if (!opts.overwrite) throw new FerryError('FERRY_ALREADY_EXISTS', `${out} exists; it is never overwritten`, { hint: `pass ${flag} NEWFILE` });
  }
  return out;
}

/** An error writing the output file, as one line naming it. */
export function outFileError(file: string, err: unknown, flag = '--out'): FerryError {
  if (err instanceof FerryError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  const hint = code === 'ENOSPC' || code === 'EDQUOT' ? `free some space, or choose another ${flag}` : `choose another ${flag}`;
  return new FerryError('FERRY_INVALID_INPUT', `${flag} ${resolve(file)}: cannot write it: ${fileErrorReason(err)}`, { hint, cause: err });
}

/** Write the whole output file (replacing what it holds); any error is `outFileError`. */
export function writeOutFile(file: string, data: string | Uint8Array, flag = '--out'): void {
  try {
    writeFileSync(file, data);
  } catch (err) {
    throw outFileError(file, err, flag);
  }
}

function statOrReason(path: string): Stats | string {
  try {
    return statSync(path);
  } catch (err) {
    return fileErrorReason(err);
  }
}
