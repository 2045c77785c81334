// Unpacks a backup archive into a fresh directory without trusting it. The first entry must be
// manifest.json; after it only regular files listed in the manifest are accepted (no links,
// devices or directories, no absolute or ".." paths, no duplicates), each must have the size the
// manifest declares (so inflation is bounded by the manifest) and the SHA-256 it declares.
// Files are created with O_EXCL and mode 0600 under directories we make ourselves. Any problem
// throws, and the caller removes the directory.
//
// node-tar's Parser is used as a synchronous tokenizer (as shared/package/read.ts does): we
// gunzip ourselves, feed one chunk at a time and run the disk work that chunk produced.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { FerryError } from '../../shared/errors.js';
import { pathProblem } from '../../shared/package/manifest.js';
import { BACKUP_MANIFEST, MAX_BACKUP_MANIFEST_BYTES, parseBackupManifest, type BackupFile, type BackupManifest } from './manifest.js';

const q = (s: string): string => JSON.stringify(s.length > 200 ? `${s.slice(0, 200)}…` : s);
const unsafe = (message: string): FerryError => new FerryError('FERRY_ARCHIVE_UNSAFE', message);
const invalid = (message: string): FerryError => new FerryError('FERRY_INVALID_INPUT', message, { hint: 'is this a file written by ferry backup?' });

/** Extract `file` into `dest` (an existing, empty directory we created); returns the manifest. */
export async function extractBackup(file: string, dest: string): Promise<BackupManifest> {
  let manifest: BackupManifest | undefined;
  let expected = new Map<string, BackupFile>();
  const seen = new Set<string>();
  let entries = 0;
  let failure: FerryError | undefined;
  let stopped = false;
  const ops: (() => Promise<void>)[] = [];
  let fh: FileHandle | undefined; // the file being written
  const fail = (e: unknown): void => {
    failure ??= e instanceof FerryError ? e : invalid(`corrupt backup archive: ${e instanceof Error ? e.message : String(e)}`);
  };

  const onManifest = (entry: ReadEntry): void => {
    if (entry.size > MAX_BACKUP_MANIFEST_BYTES) throw unsafe(`manifest.json is ${entry.size} bytes, over the ${MAX_BACKUP_MANIFEST_BYTES}-byte limit`);
    const chunks: Buffer[] = [];
    entry.on('data', (c: Buffer) => chunks.push(c));
    entry.on('end', () => {
      try {
        let raw: unknown;
        try {
          raw = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch (e) {
          throw invalid(`backup manifest.json is not valid JSON: ${(e as Error).message}`);
        }
        manifest = parseBackupManifest(raw);
        expected = new Map(manifest.files.map((f) => [f.path, f]));
      } catch (e) {
        fail(e);
      }
    });
  };

  const onFile = (entry: ReadEntry, path: string): void => {
    const want = expected.get(path);
    if (!want) throw unsafe(`archive entry ${q(path)} is not listed in manifest.json`);
    if (seen.has(path)) throw unsafe(`archive entry ${q(path)} appears twice`);
    if (entry.size !== want.size) throw new FerryError('FERRY_DIGEST_MISMATCH', `archive entry ${q(path)} is ${entry.size} bytes but manifest.json says ${want.size}`);
    seen.add(path);
    const hash = createHash('sha256');
    ops.push(async () => {
      const target = join(dest, path);
      await mkdir(dirname(target), { recursive: true, mode: 0o700 });
      fh = await open(target, 'wx', 0o600); // O_EXCL: never follow or reuse anything at the path
    });
    entry.on('data', (c: Buffer) => {
      hash.update(c);
      ops.push(async () => {
        let off = 0;
        while (off < c.length) off += (await fh!.write(c, off, c.length - off)).bytesWritten;
      });
    });
    entry.on('end', () => {
      const digest = hash.digest('hex');
      if (digest !== want.sha256) fail(new FerryError('FERRY_DIGEST_MISMATCH', `${path} in the backup has sha256 ${digest}, manifest.json says ${want.sha256}`, { hint: 'the archive was changed or damaged after it was made' }));
      ops.push(async () => {
        await fh?.close();
        fh = undefined;
      });
    });
  };

  const onEntry = (entry: ReadEntry): void => {
    entries += 1;
    const path = entry.path;
    if (entries > 100_002) throw unsafe('backup archive has too many entries');
    switch (entry.type) {
      case 'File':
      case 'OldFile':
      case 'ContiguousFile':
        break;
      case 'SymbolicLink':
      case 'Link':
        throw unsafe(`entry ${q(path)} is a ${entry.type === 'Link' ? 'hard link' : 'symlink'} (to ${q(entry.linkpath ?? '')}); a backup holds only files`);
      default:
        throw unsafe(`entry ${q(path)} has type ${entry.type}; a backup holds only files`);
    }
    const problem = pathProblem(path);
    if (problem) throw unsafe(`entry ${q(path)}: path ${problem}`);
    if (entries === 1) {
      if (path !== BACKUP_MANIFEST) throw invalid(`the first entry of a backup must be manifest.json, found ${q(path)}`);
      return onManifest(entry);
    }
    if (!manifest) throw invalid('manifest.json was not readable before the files');
    onFile(entry, path);
  };

  const parser = new Parser({ strict: true, zstd: false, brotli: false });
  parser.on('entry', (entry: ReadEntry) => {
    try {
      if (!failure && !stopped) onEntry(entry);
    } catch (e) {
      fail(e);
    }
    entry.resume();
  });
  parser.on('ignoredEntry', (entry: ReadEntry) => fail(unsafe(`entry ${q(entry.path)} has unsupported type ${entry.type}`)));
  parser.on('error', (e: Error) => fail(invalid(`corrupt backup archive: ${e.message}`)));
  parser.on('eof', () => {
    stopped = true;
  });

  let sinkError: unknown;
  const drain = async (): Promise<void> => {
    while (ops.length > 0) {
      if (failure) throw failure;
      await ops.shift()!().catch((e: unknown) => {
        throw (sinkError = e);
      });
    }
    if (failure) throw failure;
  };
  try {
    await pipeline(createReadStream(file, { highWaterMark: 256 * 1024 }), createGunzip({ chunkSize: 256 * 1024 }), async function feed(src: AsyncIterable<Buffer>) {
      for await (const c of src) {
        parser.write(c);
        await drain();
        if (stopped) return;
      }
      parser.end();
      await drain();
    });
  } catch (e) {
    if (failure) throw failure;
    if (e instanceof FerryError || e === sinkError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new FerryError('FERRY_NOT_FOUND', `backup file not found: ${file}`);
    if (!stopped) throw invalid(`${file} is not a readable backup archive: ${(e as Error).message}`);
  } finally {
    await fh?.close().catch(() => undefined);
  }
  if (failure) throw failure;
  if (!manifest) throw invalid(`${file} has no manifest.json`);
  const missing = manifest.files.find((f) => !seen.has(f.path));
  if (missing) throw invalid(`manifest.json lists ${q(missing.path)} but the archive does not contain it`);
  return manifest;
}
