// `mkdir -p` for paths a user gives (--out, a backup file, a package's output). Node 20's
// `mkdirSync(p, { recursive: true })` (and the promise version) loops for ever at full CPU when a
// parent exists but refuses the mkdir with ENOENT, as procfs does (`ferry nats config --out
// /proc/x` hung). Here each missing directory is made on its own, from the nearest one that
// exists, so every failure is an error with its code.
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Make `dir` and any missing parents; the first directory made (undefined when `dir` was there), as mkdirSync's recursive form returns. */
export function makeDirs(dir: string, mode?: number): string | undefined {
  const target = resolve(dir);
  const top = nearestExisting(target);
  const missing: string[] = [];
  for (let d = target; d !== top && !missing.includes(d); d = dirname(d)) missing.push(d);
  for (const d of missing.reverse()) mkdirSync(d, mode === undefined ? undefined : { mode });
  return missing[0];
}

/** The deepest of `path` and its parents that exists; undefined when none does. */
export function nearestExisting(path: string): string | undefined {
  for (let d = resolve(path); ; d = dirname(d)) {
    if (exists(d)) return d;
    if (dirname(d) === d) return undefined;
  }
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch (err) {
    // missing, or a file where a directory of the path should be
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
    throw err;
  }
}
