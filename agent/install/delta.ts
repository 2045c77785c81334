// Assembling a version from a delta: the files a kept version already has are copied from it, the
// others were fetched by content (agent/fetch/content.ts). Every file that ends up in the staging
// directory is hashed from its staged bytes and compared with the signed manifest — the same check
// a full install's verifying extraction makes — so a kept file modified on disk is never reused
// (its content is fetched instead) and nothing unverified reaches the version directory.
import { createHash } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { FerryError } from '../../shared/errors.js';
import type { DeltaPlan, PlannedFile } from '../../shared/package/delta.js';
import type { Manifest } from '../../shared/package/manifest.js';

/** A delta whose missing contents were fetched (download step), waiting to be assembled (stage). */
export interface PreparedDelta {
  manifest: Manifest;
  dirs: string[];
  plan: DeltaPlan;
  /** fetched contents, one file per SHA-256 */
  filesDir: string;
}

export interface AssembleDeps {
  /** the directory of a kept version */
  keptDir: (version: string) => string;
  /** fetch one content (checked against its hash) to dest: for a kept copy that did not verify */
  fetchFile: (file: { sha256: string; size: number }, dest: string) => Promise<void>;
}

export interface AssembleResult {
  reused: number;
  fetched: number;
  /** paths whose kept copies did not match the manifest, so their content was fetched */
  refetched: string[];
}

/** Copies from kept versions run this many at a time (the disk, not the CPU, is the limit). */
const COPY_CONCURRENCY = 4;

/** Only these two modes exist in a package (as in extract.ts). */
const safeMode = (mode: number): number => ((mode & 0o111) !== 0 ? 0o755 : 0o644);

/**
 * Build the version in `staging` (which must not exist). On any error the staging directory is
 * removed and the error thrown: the caller falls back to the full package.
 */
export async function assembleDelta(delta: PreparedDelta, staging: string, deps: AssembleDeps): Promise<AssembleResult> {
  const root = resolve(staging);
  const inside = (rel: string): string => {
    const p = resolve(root, rel);
    if (!p.startsWith(root + sep)) throw new FerryError('FERRY_ARCHIVE_UNSAFE', `path ${JSON.stringify(rel)} leaves the version directory`);
    return p;
  };
  await mkdir(dirname(root), { recursive: true });
  await mkdir(root, { mode: 0o755 }); // non-recursive: refuses anything already there
  const result: AssembleResult = { reused: 0, fetched: 0, refetched: [] };
  try {
    for (const d of delta.dirs) await mkdir(inside(d), { recursive: true, mode: 0o755 });

    // Fetched contents: copied to every path that has them but the last, which gets the file itself.
    const fetchedPath = (sha256: string) => join(delta.filesDir, sha256);
    for (const f of delta.plan.fetch) {
      for (let i = 0; i < f.paths.length; i++) {
        const file = { path: f.paths[i]!, sha256: f.sha256, size: f.size, mode: modeOf(delta.manifest, f.paths[i]!) };
        const dest = inside(file.path);
        await mkdir(dirname(dest), { recursive: true, mode: 0o755 });
        if (i < f.paths.length - 1) await copyFile(fetchedPath(f.sha256), dest, constants.COPYFILE_EXCL);
        else await rename(fetchedPath(f.sha256), dest);
        await verifyStaged(dest, file);
        result.fetched += 1;
      }
    }

    for (const f of delta.plan.empty) {
      const dest = inside(f.path);
      await mkdir(dirname(dest), { recursive: true, mode: 0o755 });
      await writeFile(dest, '', { flag: 'wx', mode: 0o600 });
      await verifyStaged(dest, f);
    }

    // Reused contents: the first kept copy whose staged bytes match; none → fetch it.
    const missing: PlannedFile[] = [];
    let next = 0;
    let failed = false;
    const worker = async () => {
      while (!failed && next < delta.plan.reuse.length) {
        const f = delta.plan.reuse[next++]!;
        const dest = inside(f.path);
        await mkdir(dirname(dest), { recursive: true, mode: 0o755 });
        let placed = false;
        for (const s of f.sources) {
          if (await copyKept(join(deps.keptDir(s.version), s.path), dest, f)) {
            placed = true;
            break;
          }
        }
        if (placed) result.reused += 1;
        else missing.push(f);
      }
    };
    const settled = await Promise.allSettled(Array.from({ length: COPY_CONCURRENCY }, () => worker().catch((e: unknown) => ((failed = true), Promise.reject(e)))));
    const rejected = settled.find((r) => r.status === 'rejected');
    if (rejected) throw rejected.reason;

    for (const f of missing.sort((a, b) => (a.path < b.path ? -1 : 1))) {
      const tmp = join(delta.filesDir, `${f.sha256}.refetch`);
      await deps.fetchFile(f, tmp);
      const dest = inside(f.path);
      await rename(tmp, dest);
      await verifyStaged(dest, f);
      result.refetched.push(f.path);
      result.fetched += 1;
    }
    return result;
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw err;
  }
}

/** Copy a kept file if it is a regular file of the right size and its copy hashes right. */
async function copyKept(src: string, dest: string, f: PlannedFile): Promise<boolean> {
  const st = await lstat(src).catch(() => undefined);
  if (!st?.isFile() || st.size !== f.size) return false;
  try {
    await copyFile(src, dest, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
  } catch {
    await rm(dest, { force: true });
    return false;
  }
  if ((await sha256Of(dest)) !== f.sha256) {
    await rm(dest, { force: true });
    return false;
  }
  await chmod(dest, safeMode(f.mode));
  return true;
}

/** The staged bytes must be the manifest's: size and SHA-256; then the manifest's mode. */
async function verifyStaged(dest: string, f: PlannedFile): Promise<void> {
  const st = await lstat(dest);
  if (!st.isFile() || st.size !== f.size || (await sha256Of(dest)) !== f.sha256) {
    throw new FerryError('FERRY_DIGEST_MISMATCH', `${f.path}: the assembled file does not match the signed manifest`);
  }
  await chmod(dest, safeMode(f.mode));
}

function modeOf(m: Manifest, path: string): number {
  const f = m.files.find((x) => x.path === path);
  if (!f) throw new FerryError('FERRY_INTERNAL', `${path} is not in the manifest`);
  return f.mode;
}

function sha256Of(path: string): Promise<string> {
  return new Promise((ok, fail) => {
    const hash = createHash('sha256');
    createReadStream(path, { highWaterMark: 1024 * 1024 })
      .on('data', (d) => hash.update(d))
      .on('error', fail)
      .on('end', () => ok(hash.digest('hex')));
  });
}
