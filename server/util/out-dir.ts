// The --out directory of a command that writes files (ferry nats config, ferry site add): made
// (with any missing parents, owner only) or refused in one line that names it and says why; and
// removed again when the command fails after making it, so a failed write leaves nothing behind.
import { existsSync, rmSync, statSync } from 'node:fs';
import { FerryError } from '../../shared/errors.js';
import { fileErrorReason } from '../../shared/file-errors.js';
import { makeDirs, nearestExisting } from '../../shared/make-dirs.js';

export interface OutDir {
  /** the first directory this call created (`out` or a parent of it); undefined: `out` was there */
  created: string | undefined;
  /** remove what this call created; nothing when `out` was there already */
  undo(): void;
}

/** Make the absolute directory `out`, or throw FERRY_INVALID_INPUT naming it and the reason. */
export function makeOutDir(out: string): OutDir {
  if (existsSync(out) && !statSync(out).isDirectory()) throw new FerryError('FERRY_INVALID_INPUT', `--out ${out} is not a directory`);
  let created: string | undefined;
  try {
    created = makeDirs(out, 0o700);
  } catch (err) {
    throw new FerryError('FERRY_INVALID_INPUT', `cannot create the --out directory ${out}: ${mkdirReason(out, err)}`, {
      hint: 'choose an --out this user can write to',
      cause: err,
    });
  }
  return {
    created,
    undo: () => {
      if (created !== undefined) rmSync(created, { recursive: true, force: true });
    },
  };
}

function mkdirReason(out: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const parent = nearestExisting(out);
  if (code === 'ENOTDIR') return parent && !statSync(parent).isDirectory() ? `${parent} is not a directory` : 'a parent of it is not a directory';
  if (code === 'EACCES' || code === 'EPERM') return `permission denied${parent ? ` (this user may not write to ${parent})` : ''}`;
  return fileErrorReason(err);
}
