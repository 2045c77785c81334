// The install path's one free-space rule: before a download, an extraction or a delta's assembly,
// the filesystem must have room for what it is about to write (a one-line refusal otherwise).
import { statfsSync } from 'node:fs';
import { FerryError } from '../../shared/errors.js';
import type { Manifest } from '../../shared/package/manifest.js';

export function checkFreeSpace(dir: string, bytes: number, what: string): void {
  const st = statfsSync(dir);
  const free = st.bavail * st.bsize;
  if (free < bytes) {
    throw new FerryError('FERRY_INSTALL_FAILED', `not enough free space for ${what}: need ${Math.ceil(bytes / 1048576)} MiB, ${Math.floor(free / 1048576)} MiB free in ${dir}`);
  }
}

/** What a version takes on disk: its files plus the room its manifest asks for (requires.diskMB). */
export function installedBytes(manifest: Manifest): number {
  return (manifest.requires?.diskMB ?? 0) * 1024 * 1024 + manifest.files.reduce((n, f) => n + f.size, 0);
}
