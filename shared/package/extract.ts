// Unpacking a `.ferry` package into a fresh directory. The archive scanner in read.ts
// decides what is allowed; this file only writes what it is handed, with modes taken from
// the manifest (never from tar headers, never owners), and removes the whole directory if
// anything at all goes wrong so callers never see a half-extracted or tampered tree.

import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { FerryError } from '../errors.js';
import type { Manifest, ManifestFile } from './manifest.js';
import { scanArchive, type ArchiveLimits, type PayloadSink } from './read.js';

export interface ExtractOptions {
  limits?: Partial<ArchiveLimits>;
  /** Called with the cumulative number of payload bytes written so far. */
  onProgress?: (bytes: number) => void;
}

/** Only these two modes exist in a package; anything else (setuid, sticky, group-write) is dropped. */
const safeMode = (mode: number): number => ((mode & 0o111) !== 0 ? 0o755 : 0o644);

/** Payload is written to disk in batches of about this many bytes. */
const WRITE_BATCH_BYTES = 1024 * 1024;

/**
 * Extracts `file` into `destDir`, which must not exist yet. Payload `payload/bin/x` becomes
 * `destDir/bin/x`. Every file is hashed as it is written and compared with the manifest.
 */
export async function extractPackage(file: string, destDir: string, options: ExtractOptions = {}): Promise<Manifest> {
  const root = resolve(destDir);
  await mkdir(dirname(root), { recursive: true });
  try {
    // Non-recursive mkdir is the atomic "must not exist" check: it also refuses a
    // dangling symlink planted at destDir.
    await mkdir(root, { mode: 0o755 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new FerryError('FERRY_INVALID_INPUT', `extraction directory already exists: ${destDir}`, {
        hint: 'extract into a new directory',
      });
    }
    throw e;
  }

  // On a case-insensitive filesystem two distinct archive paths can name the same file;
  // O_EXCL turns that into EEXIST/ENOTDIR, which is a property of the archive, not a bug.
  const collision = (e: unknown, rel: string): unknown => {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST' && code !== 'ENOTDIR') return e;
    return new FerryError('FERRY_ARCHIVE_UNSAFE', `entry "payload/${rel}" collides with an earlier entry on this filesystem`);
  };
  let current: FileHandle | undefined;
  let written = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async (fh: FileHandle): Promise<void> => {
    const chunks = pending;
    pending = [];
    pendingBytes = 0;
    const total = chunks.reduce((n, c) => n + c.length, 0);
    const { bytesWritten } = chunks.length ? await fh.writev(chunks) : { bytesWritten: 0 };
    // A short write (rare on a regular file): the rest, one write at a time.
    let skip = bytesWritten;
    for (const c of chunks) {
      if (skip >= c.length) {
        skip -= c.length;
        continue;
      }
      for (let off = skip; off < c.length; ) off += (await fh.write(c, off, c.length - off)).bytesWritten;
      skip = 0;
    }
    if (bytesWritten > total) throw new FerryError('FERRY_INTERNAL', 'wrote more than was given');
  };
  // Every path below comes from the scanner, which has already refused absolute paths,
  // ".." segments, links and duplicates; and since we create everything under root
  // ourselves and never write links, no component of these joins can be a symlink.
  const sink: PayloadSink = {
    async directory(rel) {
      await mkdir(join(root, rel), { recursive: true, mode: 0o755 }).catch((e: unknown) => {
        throw collision(e, rel);
      });
    },
    async beginFile(f: ManifestFile) {
      const target = join(root, f.path);
      try {
        await mkdir(dirname(target), { recursive: true, mode: 0o755 });
        // 'wx' = O_CREAT|O_EXCL: never reuse or follow anything already at the path.
        current = await open(target, 'wx', 0o600);
      } catch (e) {
        throw collision(e, f.path);
      }
    },
    async data(chunk) {
      if (!current) throw new FerryError('FERRY_INTERNAL', 'payload data outside a file');
      // Written in batches: each write costs the event loop about the same whatever its size.
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes >= WRITE_BATCH_BYTES) await flush(current);
      written += chunk.length;
      options.onProgress?.(written);
    },
    async endFile(f: ManifestFile) {
      if (!current) throw new FerryError('FERRY_INTERNAL', 'file end without a file');
      await flush(current);
      const fh = current;
      current = undefined;
      try {
        // chmod on the descriptor, after the content is complete and verified, so the
        // umask cannot interfere and no path lookup is involved.
        await fh.chmod(safeMode(f.mode));
      } finally {
        await fh.close();
      }
    },
  };

  try {
    return await scanArchive(file, options.limits, { sink });
  } catch (e) {
    await current?.close().catch(() => undefined);
    await rm(root, { recursive: true, force: true });
    if (e instanceof FerryError) throw e;
    throw new FerryError('FERRY_INTERNAL', `extracting ${file}: ${(e as Error).message}`, { cause: e });
  }
}
