// `ferry backup FILE`: a consistent copy of a running server's state in one archive.
//
// The CLI runs on the server's host and shares its data directory (as it does for the admin key):
// - the database is copied with SQLite's online backup API (a consistent snapshot while the
//   server keeps writing);
// - the package list is taken from that snapshot, and every package is read from the DML
//   (JetStream Object Store) over NATS with the admin identity. DML content is immutable and
//   never deleted, so every package the snapshot names can still be read, byte for byte;
// - the keys directory is copied as it is.
// Everything is staged next to FILE, described by manifest.json (sizes and SHA-256 of every
// file), packed into a gzip tar (mode 0600: it holds the keys) and renamed into place, so FILE
// is either the previous backup or a complete new one.
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { sha256File } from '../../shared/crypto/file-hash.js';
import { existsSync, type Dirent } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { makeDirs } from '../../shared/make-dirs.js';
import { dirname, join, resolve } from 'node:path';
import { create as createTar } from 'tar';
import type { NatsConnection } from '@nats-io/transport-node';
import { FerryError } from '../../shared/errors.js';
import { readObjectToFile } from '../../shared/nats/object-read.js';
import { BUCKETS } from '../../shared/protocol/subjects.js';
import type { DataPaths } from '../config.js';
import { KeyRing } from '../keys.js';
import {
  BACKUP_DB,
  BACKUP_FORMAT,
  BACKUP_FORMAT_VERSION,
  BACKUP_KEYS_DIR,
  BACKUP_MANIFEST,
  BACKUP_POLICY,
  packagePath,
  type BackupFile,
  type BackupManifest,
  type BackupPackage,
} from './manifest.js';
import { ferryVersion } from '../version.js';

export interface CreateBackupOptions {
  paths: DataPaths;
  /** a connection with read access to the DML bucket (the admin identity) */
  nc: NatsConnection;
  out: string;
  natsUrl?: string;
}

export async function createBackup(opts: CreateBackupOptions): Promise<{ file: string; manifest: BackupManifest; manifestSha256: string; bytes: number }> {
  const out = resolve(opts.out);
  makeDirs(dirname(out));
  const staging = await mkdtemp(join(dirname(out), '.ferry-backup-'));
  await chmod(staging, 0o700);
  const tmpArchive = `${staging}.tar.gz`;
  try {
    await snapshotDatabase(opts.paths.db, join(staging, BACKUP_DB));
    const files: BackupFile[] = [await describe(staging, BACKUP_DB)];
    for (const rel of await copyTree(opts.paths.keysDir, join(staging, BACKUP_KEYS_DIR), BACKUP_KEYS_DIR)) files.push(await describe(staging, rel));
    if (existsSync(opts.paths.policy)) {
      await copyFile(opts.paths.policy, join(staging, BACKUP_POLICY));
      files.push(await describe(staging, BACKUP_POLICY));
    }

    const packages: BackupPackage[] = [];
    await mkdir(join(staging, 'packages'), { mode: 0o700 });
    for (const row of packageRows(join(staging, BACKUP_DB))) {
      const path = packagePath(row.name, row.version);
      const got = await readObjectToFile(opts.nc, { bucket: BUCKETS.dml, name: row.object, dest: join(staging, path), expectedSha256: row.sha256, expectedSize: row.size });
      if (got.sha256 !== row.sha256 || got.size !== row.size) {
        throw new FerryError('FERRY_DIGEST_MISMATCH', `DML object ${row.object} has sha256 ${got.sha256} (${got.size} bytes), the database says ${row.sha256} (${row.size} bytes)`);
      }
      packages.push({ name: row.name, version: row.version, sha256: row.sha256, size: row.size, path });
      files.push({ path, size: row.size, sha256: row.sha256 });
    }

    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      formatVersion: BACKUP_FORMAT_VERSION,
      createdAt: new Date().toISOString(),
      ferryVersion: ferryVersion(),
      rootFingerprint: new KeyRing(opts.paths).rootFingerprint,
      ...(opts.natsUrl ? { natsUrl: opts.natsUrl } : {}),
      files,
      packages,
    };
    const manifestText = JSON.stringify(manifest, null, 2) + '\n';
    await writeFile(join(staging, BACKUP_MANIFEST), manifestText, { mode: 0o600 });
    // manifest.json first; only files, no directory or link entries.
    await createTar({ gzip: true, file: tmpArchive, cwd: staging, portable: true, mode: 0o600 }, [BACKUP_MANIFEST, ...files.map((f) => f.path)]);
    await chmod(tmpArchive, 0o600);
    await rename(tmpArchive, out);
    return { file: out, manifest, manifestSha256: createHash('sha256').update(manifestText).digest('hex'), bytes: (await stat(out)).size };
  } finally {
    await rm(staging, { recursive: true, force: true });
    await rm(tmpArchive, { force: true });
  }
}

/** SQLite's online backup: a consistent copy even while the server writes. */
async function snapshotDatabase(src: string, dest: string): Promise<void> {
  let db: Database.Database;
  try {
    db = new Database(src, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new FerryError('FERRY_NOT_INITIALIZED', `cannot open the server database ${src}: ${(err as Error).message}`);
  }
  try {
    await db.backup(dest);
  } finally {
    db.close();
  }
  await chmod(dest, 0o600);
}

interface PackageRow {
  name: string;
  version: string;
  sha256: string;
  size: number;
  object: string;
}

function packageRows(dbFile: string): PackageRow[] {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT name, version, sha256, size, object FROM packages ORDER BY name, version').all() as PackageRow[];
  } finally {
    db.close();
  }
}

/** Copy the regular files of a directory tree; returns their archive paths (prefix/...). */
async function copyTree(src: string, dest: string, prefix: string): Promise<string[]> {
  await mkdir(dest, { recursive: true, mode: 0o700 });
  const out: string[] = [];
  const entries: Dirent[] = await readdir(src, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const e of entries) {
    if (e.isDirectory()) out.push(...(await copyTree(join(src, e.name), join(dest, e.name), `${prefix}/${e.name}`)));
    else if (e.isFile() && !e.name.endsWith('.tmp')) {
      await copyFile(join(src, e.name), join(dest, e.name));
      await chmod(join(dest, e.name), 0o600);
      out.push(`${prefix}/${e.name}`);
    }
  }
  return out;
}

async function describe(root: string, rel: string): Promise<BackupFile> {
  const { sha256, size } = await sha256File(join(root, rel));
  return { path: rel, size, sha256 };
}
