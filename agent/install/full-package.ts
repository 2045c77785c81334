// The whole-package path of an install (and of a kept version fetched again): the downloaded
// package's manifest checked against the signed record, then one verifying extraction into a fresh
// staging directory renamed into place as the version directory.
import { renameSync, rmSync } from 'node:fs';
import { FerryError } from '../../shared/errors.js';
// The read and extract modules themselves, not the package barrel (mod.ts), which also exports
// the package builder and with it node-tar's writer (loaded at start, not on first use).
import { readPackageManifest } from '../../shared/package/read.js';
import { extractPackage } from '../../shared/package/extract.js';
import type { Manifest } from '../../shared/package/manifest.js';
import { checkFreeSpace, installedBytes } from './free-space.js';
import { stagingDir, versionDir } from './layout.js';

/** A version of a package, under the install root. */
export interface VersionTarget {
  root: string;
  name: string;
  version: string;
}

/** The downloaded package's manifest, which must name the signed record's package and version. */
export async function readVerifiedManifest(download: string, name: string, version: string): Promise<Manifest> {
  const manifest = await readPackageManifest(download);
  if (manifest.name !== name || manifest.version !== version) {
    throw new FerryError('FERRY_PACKAGE_INVALID', `package is ${manifest.name}@${manifest.version}, the signed record says ${name}@${version}`);
  }
  return manifest;
}

/** Extract (verifying every file) into a fresh staging directory, then rename it into place. */
export async function extractVersion(download: string, manifest: Manifest, target: VersionTarget): Promise<void> {
  const { root, name, version } = target;
  checkFreeSpace(root, installedBytes(manifest), 'extraction');
  const staging = stagingDir(root, name, version);
  try {
    await extractPackage(download, staging);
  } catch (err) {
    // The free-space check counts bytes, not blocks: a disk can still fill up here.
    if (/ENOSPC/.test(String((err as Error).message))) {
      throw new FerryError('FERRY_INSTALL_FAILED', `not enough free space while extracting into ${root} (ENOSPC); nothing was kept`, { cause: err });
    }
    throw err;
  }
  const dir = versionDir(root, name, version);
  rmSync(dir, { recursive: true, force: true }); // a leftover from an earlier try, or a modified kept copy
  renameSync(staging, dir);
}
