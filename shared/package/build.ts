// Building a `.ferry` package from a source directory holding ferry.json. We emit the tar
// stream ourselves (using node-tar's Header/Pax encoders) rather than tar.c/Pack because we
// need manifest.json first under a name that is not on disk, `payload/` prefixes, modes
// normalised to 0755/0644, no hard-link entries for hard-linked sources, and byte-identical
// output for identical input. Each file is re-hashed while it is streamed into the archive,
// so a file that changes mid-build fails the build instead of shipping a lying manifest.

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, readdir, rename, rm } from 'node:fs/promises';
import { makeDirs } from '../make-dirs.js';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { sha256File } from '../crypto/file-hash.js';
import { createGzip } from 'node:zlib';
import { Header, Pax, type HeaderData } from 'tar';
import * as z from 'zod';
import { FerryError } from '../errors.js';
import { outFileError } from '../out-file.js';
import {
  FERRY_JSON,
  MANIFEST_ENTRY,
  MAX_MANIFEST_BYTES,
  PAYLOAD_DIR,
  loadFerryJson,
  parseManifest,
  pathProblem,
  type Manifest,
  type ManifestFile,
} from './manifest.js';
import { defaultArchiveLimits, manifestLimitProblem } from './read.js';

export interface BuildOptions {
  /**
   * ISO timestamp recorded in the manifest and used as every entry's mtime. Default:
   * FIXED_CREATED_AT, never the files' times, so an unchanged source builds the same bytes in a
   * fresh clone or after a `touch`.
   */
  createdAt?: string;
}

/** A package's time when none is given (no SOURCE_DATE_EPOCH): the epoch, as SOURCE_DATE_EPOCH=0 would say. */
export const FIXED_CREATED_AT = '1970-01-01T00:00:00.000Z';

/** `SOURCE_DATE_EPOCH` (reproducible-builds.org: whole seconds since 1970) as an ISO timestamp. */
export function sourceDateEpoch(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d{1,12}$/.test(value.trim())) throw new FerryError('FERRY_INVALID_INPUT', `SOURCE_DATE_EPOCH=${JSON.stringify(value)} is not a whole number of seconds since 1970`, { hint: 'e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)' });
  return new Date(Number(value.trim()) * 1000).toISOString();
}

export interface BuildResult {
  manifest: Manifest;
  sha256: string;
  size: number;
  file: string;
}

export function defaultPackageFileName(name: string, version: string): string {
  return `${name}-${version}.ferry`;
}

interface SourceEntry {
  rel: string;
  abs: string;
  kind: 'file' | 'dir';
  size: number;
  mode: 0o755 | 0o644;
}

const invalid = (message: string): FerryError => new FerryError('FERRY_PACKAGE_INVALID', message);

/** Depth-first, names sorted, parents before children: the archive order, deterministic. */
async function walkSource(srcDir: string, skipAbs: string): Promise<SourceEntry[]> {
  const out: SourceEntry[] = [];
  const walk = async (relDir: string): Promise<void> => {
    const names = (await readdir(join(srcDir, relDir))).sort();
    for (const name of names) {
      const rel = relDir ? `${relDir}/${name}` : name;
      const abs = join(srcDir, rel);
      if (relDir === '' && name === FERRY_JSON) continue;
      if (abs === skipAbs) continue;
      const problem = pathProblem(rel);
      if (problem) throw invalid(`cannot package ${JSON.stringify(rel)}: path ${problem}`);
      const st = await lstat(abs);
      if (st.isDirectory()) {
        if (name === '.git') continue;
        out.push({ rel, abs, kind: 'dir', size: 0, mode: 0o755 });
        await walk(rel);
      } else if (st.isFile()) {
        out.push({ rel, abs, kind: 'file', size: st.size, mode: (st.mode & 0o111) !== 0 ? 0o755 : 0o644 });
      } else if (st.isSymbolicLink()) {
        throw invalid(`${rel} is a symlink; packages may not contain symlinks`);
      } else {
        throw invalid(`${rel} is not a regular file or directory`);
      }
    }
  };
  await walk('');
  return out;
}


function headerBlocks(data: HeaderData): Buffer[] {
  const h = new Header({ uid: 0, gid: 0, uname: '', gname: '', ...data });
  // encode() reports when a field (long or non-ASCII path) does not fit ustar.
  const needPax = h.encode();
  if (!h.block) throw new FerryError('FERRY_INTERNAL', `failed to encode tar header for ${data.path}`);
  if (!needPax) return [h.block];
  return [new Pax({ path: data.path, size: data.size, mtime: data.mtime }).encode(), h.block];
}

const padding = (size: number): Buffer => Buffer.alloc((512 - (size % 512)) % 512);

async function* tarStream(manifestBytes: Buffer, entries: SourceEntry[], files: Map<string, ManifestFile>, mtime: Date): AsyncGenerator<Buffer> {
  yield* headerBlocks({ path: MANIFEST_ENTRY, type: 'File', size: manifestBytes.length, mode: 0o644, mtime });
  yield manifestBytes;
  yield padding(manifestBytes.length);
  for (const e of entries) {
    const path = `${PAYLOAD_DIR}/${e.rel}`;
    if (e.kind === 'dir') {
      yield* headerBlocks({ path: `${path}/`, type: 'Directory', size: 0, mode: 0o755, mtime });
      continue;
    }
    const want = files.get(e.rel)!;
    yield* headerBlocks({ path, type: 'File', size: want.size, mode: want.mode, mtime });
    const hash = createHash('sha256');
    let n = 0;
    for await (const chunk of createReadStream(e.abs)) {
      const c = chunk as Buffer;
      n += c.length;
      // Never write more bytes than the header promised, or the tar would be corrupt.
      if (n > want.size) break;
      hash.update(c);
      yield c;
    }
    if (n !== want.size || hash.digest('hex') !== want.sha256) {
      throw invalid(`${e.rel} changed while the package was being built; build again`);
    }
    yield padding(want.size);
  }
  yield Buffer.alloc(1024); // end-of-archive marker: two zero blocks
}

/** Builds `outFile` from `srcDir` atomically (temp file in the same directory, then rename). */
export async function buildPackage(srcDir: string, outFile: string, options: BuildOptions = {}): Promise<BuildResult> {
  const ferry = await loadFerryJson(srcDir);
  const out = resolve(outFile);
  let entries: SourceEntry[];
  const files: ManifestFile[] = [];
  try {
    // Building into the source dir is natural (`ferry build .`); never package our own output.
    entries = await walkSource(resolve(srcDir), out);
    for (const e of entries) {
      if (e.kind === 'file') files.push({ path: e.rel, size: e.size, mode: e.mode, sha256: (await sha256File(e.abs)).sha256 });
    }
  } catch (e) {
    if (e instanceof FerryError) throw e;
    throw invalid(`cannot read package source ${srcDir}: ${(e as Error).message}`);
  }
  const createdAt = options.createdAt ?? FIXED_CREATED_AT;
  if (!z.iso.datetime().safeParse(createdAt).success) {
    throw new FerryError('FERRY_INVALID_INPUT', `createdAt ${JSON.stringify(createdAt)} is not an ISO timestamp like 2024-05-01T12:00:00.000Z`);
  }
  const mtime = new Date(createdAt);
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

  // Explicit key order keeps manifest.json stable and readable.
  const draft = {
    formatVersion: 1,
    name: ferry.name,
    version: ferry.version,
    description: ferry.description,
    hooks: ferry.hooks,
    hookTimeoutSeconds: ferry.hookTimeoutSeconds,
    healthcheck: ferry.healthcheck,
    requires: ferry.requires,
    depends: ferry.depends,
    files,
    createdAt,
  };
  const manifestBytes = Buffer.from(JSON.stringify(draft), 'utf8');
  if (manifestBytes.length > MAX_MANIFEST_BYTES) {
    throw invalid(`manifest.json would be ${manifestBytes.length} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit (too many files?)`);
  }
  // Parse what readers will parse, so the returned manifest is exactly what they will see.
  const manifest = parseManifest(JSON.parse(manifestBytes.toString('utf8')));
  // Refuse to produce what readers with default limits would refuse to open.
  const limits = defaultArchiveLimits;
  const deepDir = entries.find((e) => e.rel.split('/').length > limits.maxDepth || PAYLOAD_DIR.length + e.rel.length + 2 > limits.maxPathLength);
  const tooBig =
    manifestLimitProblem(manifest, limits) ??
    (entries.length + 1 > limits.maxEntries ? `${entries.length} files and directories, over the limit of ${limits.maxEntries} entries` : undefined) ??
    (deepDir ? `${JSON.stringify(deepDir.rel)} is nested deeper than ${limits.maxDepth} levels or has a path longer than ${limits.maxPathLength}` : undefined);
  if (tooBig) throw invalid(`package would be refused by readers: ${tooBig}`);

  const tmp = join(dirname(out), `.${basename(out)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const hash = createHash('sha256');
  let size = 0;
  try {
    makeDirs(dirname(out));
    await pipeline(
      Readable.from(tarStream(manifestBytes, entries, new Map(files.map((f) => [f.path, f])), mtime), { objectMode: false }),
      createGzip({ level: 6 }),
      async function* count(src: AsyncIterable<Buffer>) {
        for await (const c of src) {
          hash.update(c);
          size += c.length;
          yield c;
        }
      },
      createWriteStream(tmp, { flags: 'wx', mode: 0o644, flush: true }),
    );
    await rename(tmp, out);
  } catch (e) {
    await rm(tmp, { force: true });
    if (e instanceof FerryError) throw e;
    // the output's own errors (its directory, the temporary file, the rename): one line naming it
    const path = (e as NodeJS.ErrnoException).path;
    if (path === undefined || path === tmp || path === out || out.startsWith(path + sep)) throw outFileError(outFile, e);
    throw new FerryError('FERRY_INTERNAL', `writing ${outFile}: ${(e as Error).message}`, { cause: e });
  }
  return { manifest, sha256: hash.digest('hex'), size, file: out };
}
