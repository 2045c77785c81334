// Unpacks a backup archive into a fresh directory without trusting it. The first entry must be
// manifest.json; after it only regular files listed in the manifest are accepted (no links,
// devices or directories, no absolute or ".." paths, no duplicates), each must have the size the
// manifest declares (so inflation is bounded by the manifest) and the SHA-256 it declares.
// Files are created with O_EXCL and mode 0600 under directories we make ourselves. Any problem
// throws, and the caller removes the directory.
//
// The tar reading itself (gunzip, parser, queued disk work) is shared/archive/safe-tar.ts, the
// same hardened reader `.ferry` packages go through.
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ReadEntry } from 'tar';
import { archiveUnsafe as unsafe, checkEntryDigest, entryKind, quoted as q, readJsonEntry } from '../../shared/archive/entries.js';
import { readGzipTar, type TarReading } from '../../shared/archive/safe-tar.js';
import { FerryError } from '../../shared/errors.js';
import { pathProblem } from '../../shared/package/manifest.js';
import { BACKUP_MANIFEST, MAX_BACKUP_MANIFEST_BYTES, parseBackupManifest, type BackupFile, type BackupManifest } from './manifest.js';

const invalid = (message: string): FerryError => new FerryError('FERRY_INVALID_INPUT', message, { hint: 'is this a file written by ferry backup?' });
const onlyFiles = { directories: false, noLinks: 'a backup holds only files', onlyAllowed: 'a backup holds only files' };

/** Extract `file` into `dest` (an existing, empty directory we created); returns the manifest. */
export async function extractBackup(file: string, dest: string): Promise<BackupManifest> {
  let manifest: BackupManifest | undefined;
  let expected = new Map<string, BackupFile>();
  const seen = new Set<string>();
  let entries = 0;
  let fh: FileHandle | undefined; // the file being written

  const onManifest = (entry: ReadEntry, reading: TarReading): void => {
    const rules = { maxBytes: MAX_BACKUP_MANIFEST_BYTES, tooLarge: unsafe, notJson: (detail: string) => invalid(`backup manifest.json is not valid JSON: ${detail}`) };
    readJsonEntry(entry, reading, rules, (raw) => {
      manifest = parseBackupManifest(raw);
      expected = new Map(manifest.files.map((f) => [f.path, f]));
    });
  };

  const onFile = (entry: ReadEntry, path: string, reading: TarReading): void => {
    const want = expected.get(path);
    if (!want) throw unsafe(`archive entry ${q(path)} is not listed in manifest.json`);
    if (seen.has(path)) throw unsafe(`archive entry ${q(path)} appears twice`);
    if (entry.size !== want.size) throw new FerryError('FERRY_DIGEST_MISMATCH', `archive entry ${q(path)} is ${entry.size} bytes but manifest.json says ${want.size}`);
    seen.add(path);
    reading.queue(async () => {
      const target = join(dest, path);
      await mkdir(dirname(target), { recursive: true, mode: 0o700 });
      fh = await open(target, 'wx', 0o600); // O_EXCL: never follow or reuse anything at the path
    });
    checkEntryDigest(entry, want, reading, {
      onData: (c) =>
        reading.queue(async () => {
          let off = 0;
          while (off < c.length) off += (await fh!.write(c, off, c.length - off)).bytesWritten;
        }),
      onMatch: () =>
        reading.queue(async () => {
          await fh?.close();
          fh = undefined;
        }),
      mismatch: (digest) =>
        new FerryError('FERRY_DIGEST_MISMATCH', `${path} in the backup has sha256 ${digest}, manifest.json says ${want.sha256}`, { hint: 'the archive was changed or damaged after it was made' }),
    });
  };

  const onEntry = (entry: ReadEntry, reading: TarReading): void => {
    entries += 1;
    const path = entry.path;
    if (entries > 100_002) throw unsafe('backup archive has too many entries');
    entryKind(entry, onlyFiles);
    const problem = pathProblem(path);
    if (problem) throw unsafe(`entry ${q(path)}: path ${problem}`);
    if (entries === 1) {
      if (path !== BACKUP_MANIFEST) throw invalid(`the first entry of a backup must be manifest.json, found ${q(path)}`);
      return onManifest(entry, reading);
    }
    if (!manifest) throw invalid('manifest.json was not readable before the files');
    onFile(entry, path, reading);
  };

  try {
    await readGzipTar(file, {
      chunkBytes: 256 * 1024,
      onEntry,
      corrupt: (detail) => invalid(`corrupt backup archive: ${detail}`),
      unreadable: (e) =>
        e.code === 'ENOENT' ? new FerryError('FERRY_NOT_FOUND', `backup file not found: ${file}`) : invalid(`${file} is not a readable backup archive: ${e.message}`),
    });
  } finally {
    await fh?.close().catch(() => undefined);
  }
  if (!manifest) throw invalid(`${file} has no manifest.json`);
  const missing = manifest.files.find((f) => !seen.has(f.path));
  if (missing) throw invalid(`manifest.json lists ${q(missing.path)} but the archive does not contain it`);
  return manifest;
}
