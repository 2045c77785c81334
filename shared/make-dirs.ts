// `mkdir -p` for paths a user gives (--out, a backup file, a package's output). Node 20's
// `mkdirSync(p, { recursive: true })` (and the promise version) loops for ever at full CPU when a
// parent exists but refuses the mkdir with ENOENT, as procfs does (`ferry nats config --out
// /proc/x` hung). Here each missing directory is made on its own, from the nearest one that
// exists, so every failure is an error with its code.
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Make `dir` and any missing parents; the first directory made (undefined when `dir` was there), as mkdirSync's recursive form returns. */
export function makeDirs(dir: string, mode?: number): string | undefined {
  const missing: string[] = [];
  for (let d = resolve(dir); !exists(d); d = dirname(d)) {
    missing.push(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing.reverse()) mkdirSync(d, mode === undefined ? undefined : { mode });
  return missing[0];
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
