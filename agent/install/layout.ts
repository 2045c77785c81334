// The on-disk layout under the install root: <root>/<package>/<version>/ per version and
// <root>/<package>/current, a relative symlink switched atomically with rename(2).
import { existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

export function packageDir(root: string, name: string): string {
  return join(root, name);
}

export function versionDir(root: string, name: string, version: string): string {
  return join(root, name, version);
}

export function currentLink(root: string, name: string): string {
  return join(root, name, 'current');
}

/** A fresh staging path on the same filesystem as the final directory, so rename is atomic. */
export function stagingDir(root: string, name: string, version: string): string {
  mkdirSync(packageDir(root, name), { recursive: true });
  return join(root, name, `.staging-${version}-${randomBytes(4).toString('hex')}`);
}

export function readCurrent(root: string, name: string): string | undefined {
  try {
    return readlinkSync(currentLink(root, name));
  } catch {
    return undefined;
  }
}

/** Point current at a version: a new link is renamed over the old one, never a gap. */
export function switchCurrent(root: string, name: string, version: string): void {
  const tmp = join(packageDir(root, name), `.current-${randomBytes(4).toString('hex')}`);
  symlinkSync(version, tmp);
  renameSync(tmp, currentLink(root, name));
}

export function removeCurrent(root: string, name: string): void {
  rmSync(currentLink(root, name), { force: true });
}

export function versionExists(root: string, name: string, version: string): boolean {
  const dir = versionDir(root, name, version);
  return existsSync(dir) && lstatSync(dir).isDirectory();
}

/** Remove leftovers of interrupted installs (staging directories, temporary links). */
export function cleanStaging(root: string, name: string): void {
  const dir = packageDir(root, name);
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith('.staging-') || entry.startsWith('.current-')) rmSync(join(dir, entry), { recursive: true, force: true });
  }
}

