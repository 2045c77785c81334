// Assembling a version from a delta: the files a kept version already has are copied from it, the
// others were fetched by content (agent/fetch/content.ts). Every file that ends up in the staging
// directory is hashed from its staged bytes and compared with the signed manifest — the same check
// a full install's verifying extraction makes — so a kept file modified on disk is never reused
// (its content is fetched instead) and nothing unverified reaches the version directory. The
// contents were fetched by the download step (agent/install/delta-prepare.ts).
import { createHash } from 'node:crypto';
import { closeSync, constants, createReadStream, fchmodSync, fstatSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Logger } from 'pino';
import { FerryError, toFerryError } from '../../shared/errors.js';
import type { DeltaPlan, PlannedFile } from '../../shared/package/delta.js';
import type { Manifest } from '../../shared/package/manifest.js';
import { checkFreeSpace, installedBytes } from './free-space.js';
import { stagingDir, versionDir } from './layout.js';

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

const COPY_BUFFER_BYTES = 4 * 1024 * 1024;
const YIELD_EVERY_BYTES = 16 * 1024 * 1024;

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
  const made = new Set<string>([root]);
  const parentOf = async (dest: string) => {
    const dir = dirname(dest);
    if (made.has(dir)) return;
    await mkdir(dir, { recursive: true, mode: 0o755 });
    made.add(dir);
  };
  try {
    for (const d of delta.dirs) {
      await mkdir(inside(d), { recursive: true, mode: 0o755 });
      made.add(inside(d));
    }

    // Fetched contents: copied to every path that has them but the last, which gets the file itself.
    const fetchedPath = (sha256: string) => join(delta.filesDir, sha256);
    for (const f of delta.plan.fetch) {
      for (let i = 0; i < f.paths.length; i++) {
        const file = { path: f.paths[i]!, sha256: f.sha256, size: f.size, mode: modeOf(delta.manifest, f.paths[i]!) };
        const dest = inside(file.path);
        await parentOf(dest);
        if (i < f.paths.length - 1) await copyFile(fetchedPath(f.sha256), dest, constants.COPYFILE_EXCL);
        else await rename(fetchedPath(f.sha256), dest);
        await verifyStaged(dest, file);
        result.fetched += 1;
      }
    }

    for (const f of delta.plan.empty) {
      const dest = inside(f.path);
      await parentOf(dest);
      await writeFile(dest, '', { flag: 'wx', mode: 0o600 });
      await verifyStaged(dest, f);
    }

    // Reused contents: the first kept copy whose staged bytes match; none → fetch it.
    const missing: PlannedFile[] = [];
    const buf = Buffer.allocUnsafe(COPY_BUFFER_BYTES);
    for (const f of delta.plan.reuse) {
      const dest = inside(f.path);
      await parentOf(dest);
      let placed = false;
      for (const s of f.sources) if (!placed) placed = await copyKept(join(deps.keptDir(s.version), s.path), dest, f, buf);
      if (placed) result.reused += 1;
      else missing.push(f);
      await new Promise<void>((r) => setImmediate(r)); // let heartbeats and replies through between files
    }

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

/**
 * The stage step's delta path: assemble `name@version` into a fresh staging directory under the
 * install root, then rename it into place. False (logged): the assembly failed, and the caller
 * downloads the whole package instead; too little free space is an error, as for a full install.
 */
export async function stageDelta(delta: PreparedDelta, target: { root: string; name: string; version: string }, fetchFile: AssembleDeps['fetchFile'], log: Logger): Promise<boolean> {
  const { root, name, version } = target;
  checkFreeSpace(root, installedBytes(delta.manifest), 'assembly');
  const staging = stagingDir(root, name, version);
  try {
    const r = await assembleDelta(delta, staging, { keptDir: (v) => versionDir(root, name, v), fetchFile });
    if (r.refetched.length) log.warn({ package: name, version, refetched: r.refetched.slice(0, 20) }, 'kept files did not match their hashes; their content was fetched instead');
    const dir = versionDir(root, name, version);
    rmSync(dir, { recursive: true, force: true }); // a leftover from an earlier try
    renameSync(staging, dir);
    return true;
  } catch (err) {
    log.warn({ package: name, version, err: toFerryError(err).toLine() }, 'assembling the delta failed; downloading the whole package');
    return false;
  }
}

/**
 * Copy a kept file in one pass — read, hash, write — if it is a regular file (never followed
 * through a link) of the right size whose bytes hash right. The hash is of exactly the bytes
 * written, so the staged copy is verified without reading it again. Mismatch: nothing is left.
 * Synchronous calls on purpose (measured: 3× faster for 100 files of 200 KiB than the promise API,
 * whose ~8 thread-pool round trips per file cost more than the copy); a big file yields to the
 * event loop every few buffers so heartbeats and replies still get through.
 */
async function copyKept(src: string, dest: string, f: PlannedFile, buf: Buffer): Promise<boolean> {
  let input: number;
  try {
    input = openSync(src, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return false;
  }
  let output: number | undefined;
  try {
    const st = fstatSync(input);
    if (!st.isFile() || st.size !== f.size) return false;
    output = openSync(dest, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600); // never reuse or follow anything there
    const hash = createHash('sha256');
    let total = 0;
    for (;;) {
      const n = readSync(input, buf, 0, buf.length, null);
      if (n === 0) break;
      total += n;
      if (total > f.size) break;
      hash.update(buf.subarray(0, n));
      let off = 0;
      while (off < n) off += writeSync(output, buf, off, n - off);
      if (total % YIELD_EVERY_BYTES < n) await new Promise<void>((r) => setImmediate(r));
    }
    if (total !== f.size || hash.digest('hex') !== f.sha256) {
      closeSync(output);
      output = undefined;
      rmSync(dest, { force: true });
      return false;
    }
    fchmodSync(output, safeMode(f.mode));
    return true;
  } catch (err) {
    if (output !== undefined) closeSync(output);
    output = undefined;
    rmSync(dest, { force: true });
    if ((err as NodeJS.ErrnoException).code === 'ENOSPC') throw err; // not the kept copy's fault
    return false;
  } finally {
    if (output !== undefined) closeSync(output);
    closeSync(input);
  }
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
