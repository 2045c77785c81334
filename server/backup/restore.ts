// `ferry restore FILE --data-dir DIR`: turns a backup into the data directory of a stopped server.
//
// The archive is unpacked into a sibling staging directory and checked before anything is put
// in place: every file against the SHA-256 in manifest.json, the database with SQLite's
// integrity check, its package index against the package files, and the keys against the root
// fingerprint the backup recorded. Only then does the staging directory become DIR (a rename), so
// a failed restore leaves DIR as it was. The package files wait in DIR/restore/ until the next
// `ferry server` start puts them back into the Object Store (see complete.ts): the DML lives in
// JetStream, which only a running NATS can write.
import Database from 'better-sqlite3';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { makeDirs } from '../../shared/make-dirs.js';
import { basename, dirname, join, resolve } from 'node:path';
import { FerryError } from '../../shared/errors.js';
import { dataPaths, type RuntimeInfo } from '../config.js';
import { assertInitialized } from '../init.js';
import { KeyRing } from '../keys.js';
import { BACKUP_DB, BACKUP_MANIFEST, BACKUP_PACKAGES_DIR, type BackupManifest } from './manifest.js';
import { extractBackup } from './read-archive.js';

/** Where a restored data directory keeps the package files until the server uploads them. */
export const RESTORE_DIR = 'restore';

export interface RestoreOptions {
  file: string;
  dataDir: string;
  /** replace a data directory that is not empty */
  force?: boolean;
}

export interface RestoreResult {
  dataDir: string;
  createdAt: string;
  ferryVersion: string;
  rootFingerprint: string;
  natsUrl?: string;
  packages: { name: string; version: string; sha256: string }[];
  replaced: boolean;
}

export async function restoreBackup(opts: RestoreOptions): Promise<RestoreResult> {
  const target = resolve(opts.dataDir);
  const file = resolve(opts.file);
  if (!existsSync(file)) throw new FerryError('FERRY_NOT_FOUND', `backup file not found: ${file}`);
  if (existsSync(target) && !statSync(target).isDirectory()) throw new FerryError('FERRY_INVALID_INPUT', `--data-dir ${target} is not a directory`, { hint: 'restore into a new directory' });
  const occupied = existsSync(target) && readdirSync(target).length > 0;
  if (occupied) {
    if (runningServerPid(target) !== undefined) {
      throw new FerryError('FERRY_CONFLICT', `a Ferry server is running on ${target}`, { hint: 'stop it first; restore into a stopped server’s data directory' });
    }
    // --force replaces a Ferry data directory, never any directory (`--data-dir ~ --force`).
    if (!existsSync(dataPaths(target).db)) {
      throw new FerryError('FERRY_CONFLICT', `${target} is not empty and is not a Ferry data directory (no ferry.db)`, { hint: 'restore into a new or empty directory; --force replaces only a Ferry data directory' });
    }
    if (!opts.force) {
      throw new FerryError('FERRY_CONFLICT', `${target} is not empty`, { hint: 'restore into a new directory, or add --force to replace its contents' });
    }
  }
  makeDirs(dirname(target));
  const staging = await mkdtemp(join(dirname(target), `.${basename(target)}.restoring-`));
  let manifest: BackupManifest;
  try {
    await chmod(staging, 0o700);
    manifest = await extractBackup(file, staging);
    checkDatabase(join(staging, BACKUP_DB), manifest);
    checkKeys(staging, manifest);
    await lay(staging, manifest);
    await putInPlace(staging, target, occupied);
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
  return {
    dataDir: target,
    createdAt: manifest.createdAt,
    ferryVersion: manifest.ferryVersion,
    rootFingerprint: manifest.rootFingerprint,
    ...(manifest.natsUrl ? { natsUrl: manifest.natsUrl } : {}),
    packages: manifest.packages.map((p) => ({ name: p.name, version: p.version, sha256: p.sha256 })),
    replaced: occupied,
  };
}

/** The database must be intact, and its package index must be exactly the packages in the archive. */
function checkDatabase(dbFile: string, manifest: BackupManifest): void {
  let db: Database.Database;
  try {
    db = new Database(dbFile, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new FerryError('FERRY_INVALID_INPUT', `the database in the backup cannot be opened: ${(err as Error).message}`);
  }
  try {
    const check = db.pragma('integrity_check', { simple: true });
    if (check !== 'ok') throw new FerryError('FERRY_INVALID_INPUT', `the database in the backup is damaged: ${String(check)}`);
    const rows = db.prepare('SELECT name, version, sha256, size FROM packages').all() as { name: string; version: string; sha256: string; size: number }[];
    const inArchive = new Map(manifest.packages.map((p) => [`${p.name}@${p.version}`, p]));
    for (const r of rows) {
      const p = inArchive.get(`${r.name}@${r.version}`);
      if (!p) throw new FerryError('FERRY_INVALID_INPUT', `the backup has no file for DML package ${r.name}@${r.version}`);
      if (p.sha256 !== r.sha256 || p.size !== r.size) throw new FerryError('FERRY_DIGEST_MISMATCH', `${r.name}@${r.version} in the backup does not match the DML digest ${r.sha256}`);
      inArchive.delete(`${r.name}@${r.version}`);
    }
    const extra = [...inArchive.keys()][0];
    if (extra) throw new FerryError('FERRY_INVALID_INPUT', `the backup holds ${extra}, which its database does not know`);
  } catch (err) {
    if (err instanceof FerryError) throw err;
    throw new FerryError('FERRY_INVALID_INPUT', `the database in the backup is not a Ferry database: ${(err as Error).message}`);
  } finally {
    db.close();
  }
}

/** The keys must be complete and carry the root the backup was made with. */
function checkKeys(dir: string, manifest: BackupManifest): void {
  const paths = dataPaths(dir);
  assertInitialized(paths);
  for (const f of [paths.serverSeed, paths.adminSeed, paths.natsKeys]) {
    if (!existsSync(f)) throw new FerryError('FERRY_INVALID_INPUT', `the backup lacks keys/${basename(f)}`);
  }
  const root = new KeyRing(paths).rootFingerprint;
  if (root !== manifest.rootFingerprint) throw new FerryError('FERRY_SIGNATURE_INVALID', `the keys in the backup have root ${root}, manifest.json says ${manifest.rootFingerprint}`);
}

/** Give the staging directory the layout of a data directory. */
async function lay(staging: string, manifest: BackupManifest): Promise<void> {
  const paths = dataPaths(staging);
  const restoreDir = join(staging, RESTORE_DIR);
  await mkdir(restoreDir, { mode: 0o700 });
  if (existsSync(join(staging, BACKUP_PACKAGES_DIR))) await rename(join(staging, BACKUP_PACKAGES_DIR), join(restoreDir, BACKUP_PACKAGES_DIR));
  await writeFile(join(restoreDir, BACKUP_MANIFEST), JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });
  for (const d of [paths.natsDir, paths.tmpDir]) await mkdir(d, { recursive: true, mode: 0o700 });
}

async function putInPlace(staging: string, target: string, occupied: boolean): Promise<void> {
  if (!occupied) {
    if (existsSync(target)) await rmdir(target); // empty: rmdir refuses anything else
    await rename(staging, target);
    return;
  }
  const aside = `${target}.replaced-${Date.now()}`;
  await rename(target, aside);
  try {
    await rename(staging, target);
  } catch (err) {
    await rename(aside, target);
    throw err;
  }
  await rm(aside, { recursive: true, force: true });
}

function runningServerPid(dir: string): number | undefined {
  const runtime = dataPaths(dir).runtime;
  if (!existsSync(runtime)) return undefined;
  try {
    const pid = (JSON.parse(readFileSync(runtime, 'utf8')) as RuntimeInfo).pid;
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}
