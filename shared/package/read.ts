// Reading `.ferry` archives without trusting them. One streaming scanner enforces every
// safety rule entry by entry (paths, types, duplicates, limits, decompression ratio) and
// checks payload files against the manifest; readPackageManifest, verifyPackageArchive and
// extractPackage are thin layers over it, so the rules cannot drift apart. The tar reading
// itself (gunzip, parser, queued disk work) is shared/archive/safe-tar.ts.

import type { ReadEntry } from 'tar';
import { archiveUnsafe as unsafe, checkEntryDigest, entryKind, quoted as q, readJsonEntry } from '../archive/entries.js';
import { readGzipTar, type TarReading } from '../archive/safe-tar.js';
import { FerryError, type FerryErrorCode } from '../errors.js';
import { MANIFEST_ENTRY, MAX_MANIFEST_BYTES, MAX_PATH_DEPTH, MAX_PATH_LENGTH, PAYLOAD_DIR, parseManifest, pathProblem, type Manifest, type ManifestFile } from './manifest.js';

export interface ArchiveLimits {
  maxEntries: number;
  maxTotalBytes: number;
  maxFileBytes: number;
  maxDepth: number;
  maxDecompressionRatio: number;
  maxPathLength: number;
}

/** maxDepth and maxPathLength can only tighten the manifest's own ceilings (manifest.ts). */
export const defaultArchiveLimits: Readonly<ArchiveLimits> = Object.freeze({
  maxEntries: 100_000,
  maxTotalBytes: 4 * 1024 ** 3,
  maxFileBytes: 2 * 1024 ** 3,
  maxDepth: MAX_PATH_DEPTH,
  maxDecompressionRatio: 200,
  maxPathLength: MAX_PATH_LENGTH,
});

/** Where the scanner delivers payload in archive order; every call is awaited before the next. */
export interface PayloadSink {
  directory(rel: string): Promise<void>;
  beginFile(file: ManifestFile): Promise<void>;
  data(chunk: Buffer): Promise<void>;
  endFile(file: ManifestFile): Promise<void>;
}

export function resolveLimits(limits: Partial<ArchiveLimits> = {}): ArchiveLimits {
  return { ...defaultArchiveLimits, ...limits };
}

const err = (code: FerryErrorCode, message: string): FerryError => new FerryError(code, message);
const invalid = (message: string): FerryError => err('FERRY_PACKAGE_INVALID', message);

/** Why a manifest cannot be honoured under `limits`; checked before any payload is read. */
export function manifestLimitProblem(m: Manifest, limits: ArchiveLimits): string | undefined {
  if (m.files.length + 1 > limits.maxEntries) return `manifest lists ${m.files.length} files, over the limit of ${limits.maxEntries} entries`;
  let total = 0;
  for (const f of m.files) {
    total += f.size;
    if (f.size > limits.maxFileBytes) return `file ${q(f.path)} is ${f.size} bytes, over the ${limits.maxFileBytes}-byte limit`;
    if (f.path.split('/').length > limits.maxDepth) return `file ${q(f.path)} is nested deeper than ${limits.maxDepth} levels`;
    if (PAYLOAD_DIR.length + 1 + f.path.length > limits.maxPathLength) return `file ${q(f.path)} has a path longer than ${limits.maxPathLength}`;
  }
  if (total > limits.maxTotalBytes) return `payload totals ${total} bytes, over the ${limits.maxTotalBytes}-byte limit`;
  return undefined;
}

function ancestors(rel: string): string[] {
  const segs = rel.split('/');
  return segs.slice(1).map((_, i) => segs.slice(0, i + 1).join('/'));
}

/**
 * Streams the whole archive (or just its manifest) and enforces the format and safety
 * rules. Nothing touches disk unless a sink is given. Throws FerryError on any violation.
 */
export async function scanArchive(
  file: string,
  limitsIn: Partial<ArchiveLimits> = {},
  opts: { sink?: PayloadSink; manifestOnly?: boolean } = {},
): Promise<Manifest> {
  const limits = resolveLimits(limitsIn);
  const sink = opts.sink;
  let manifest: Manifest | undefined;
  let expected = new Map<string, ManifestFile>();
  const seenFiles = new Set<string>();
  const explicitDirs = new Set<string>();
  const impliedDirs = new Set<string>();
  let entries = 0;
  let declaredBytes = 0;

  const onManifestEntry = (entry: ReadEntry, reading: TarReading): void => {
    const rules = { maxBytes: MAX_MANIFEST_BYTES, tooLarge: invalid, notJson: (detail: string) => invalid(`manifest.json: not valid JSON: ${detail}`) };
    readJsonEntry(entry, reading, rules, (raw) => {
      manifest = parseManifest(raw);
      if (opts.manifestOnly) {
        // Payload limits are the installer's business; a reader of metadata must not
        // refuse a package that a server with larger limits accepts.
        reading.stop();
        return;
      }
      const problem = manifestLimitProblem(manifest, limits);
      if (problem) throw unsafe(`manifest.json: ${problem}`);
      expected = new Map(manifest.files.map((f) => [f.path, f]));
    });
  };

  const onPayloadFile = (entry: ReadEntry, rel: string, reading: TarReading): void => {
    const want = expected.get(rel);
    if (!want) throw invalid(`archive entry ${q(entry.path)} is not listed in manifest.json`);
    if (entry.size > limits.maxFileBytes) throw unsafe(`entry ${q(entry.path)} is ${entry.size} bytes, over the ${limits.maxFileBytes}-byte limit`);
    declaredBytes += entry.size;
    if (declaredBytes > limits.maxTotalBytes) throw unsafe(`entry ${q(entry.path)} takes the payload over the ${limits.maxTotalBytes}-byte limit`);
    if (entry.size !== want.size) {
      throw err('FERRY_DIGEST_MISMATCH', `entry ${q(entry.path)} is ${entry.size} bytes but manifest.json says ${want.size}`);
    }
    seenFiles.add(rel);
    if (sink) reading.queue(() => sink.beginFile(want));
    checkEntryDigest(entry, want, reading, {
      onData: sink && ((c) => reading.queue(() => sink.data(c))),
      onMatch: sink && (() => reading.queue(() => sink.endFile(want))),
      mismatch: (digest, got) =>
        err('FERRY_DIGEST_MISMATCH', `entry ${q(entry.path)} does not match manifest.json (sha256 ${digest}, ${got} bytes; expected ${want.sha256}, ${want.size} bytes)`),
    });
  };

  const onEntry = (entry: ReadEntry, reading: TarReading): void => {
    entries += 1;
    const name = entry.path;
    if (entries > limits.maxEntries) throw unsafe(`archive has more than ${limits.maxEntries} entries (at ${q(name)})`);
    if (name.length > limits.maxPathLength) throw unsafe(`entry ${q(name)} has a path longer than ${limits.maxPathLength}`);
    const kind = entryKind(entry, { directories: true, noLinks: 'links are not allowed', onlyAllowed: 'only files and directories are allowed' });
    const p = kind === 'dir' && name.endsWith('/') ? name.slice(0, -1) : name;
    const problem = pathProblem(p);
    if (problem) throw unsafe(`entry ${q(name)}: path ${problem}`);

    if (entries === 1) {
      if (p !== MANIFEST_ENTRY || kind !== 'file') throw invalid(`first archive entry must be manifest.json, found ${q(name)}`);
      return onManifestEntry(entry, reading);
    }
    if (p === MANIFEST_ENTRY) throw unsafe('archive contains a second manifest.json');
    const segs = p.split('/');
    if (segs[0] !== PAYLOAD_DIR) throw unsafe(`entry ${q(name)} is outside ${PAYLOAD_DIR}/`);
    if (segs.length === 1) {
      if (kind === 'dir') return;
      throw unsafe(`entry ${q(name)} must be a directory`);
    }
    if (!manifest) throw invalid('manifest.json was not readable before the payload');
    const rel = segs.slice(1).join('/');
    if (segs.length - 1 > limits.maxDepth) throw unsafe(`entry ${q(name)} is nested deeper than ${limits.maxDepth} levels`);
    if (seenFiles.has(rel) || explicitDirs.has(rel)) throw unsafe(`entry ${q(name)} appears twice`);
    for (const a of ancestors(rel)) {
      if (seenFiles.has(a)) throw unsafe(`entry ${q(name)} is inside ${q(`${PAYLOAD_DIR}/${a}`)}, which is a file`);
    }
    if (kind === 'dir') {
      if (expected.has(rel)) throw unsafe(`entry ${q(name)} is a directory but manifest.json lists it as a file`);
      explicitDirs.add(rel);
      if (sink) reading.queue(() => sink.directory(rel));
    } else {
      if (impliedDirs.has(rel)) throw unsafe(`entry ${q(name)} is a file but earlier entries use it as a directory`);
      onPayloadFile(entry, rel, reading);
    }
    for (const a of ancestors(rel)) impliedDirs.add(a);
  };

  await readGzipTar(file, {
    chunkBytes: 256 * 1024,
    onEntry,
    corrupt: (detail) => invalid(`corrupt archive: ${detail}`),
    unreadable: (e) => {
      if (e.code === 'ENOENT') return new FerryError('FERRY_NOT_FOUND', `package file not found: ${file}`);
      if (e.code?.startsWith('Z_')) return invalid(`${file} is not a valid .ferry file (gzip: ${e.message})`);
      return invalid(`cannot read ${file}: ${e.message}`);
    },
    inflation: {
      maxRatio: limits.maxDecompressionRatio,
      // The tar stream can only be headers, payload and padding; anything beyond generous
      // per-entry overhead is junk we refuse to keep inflating.
      maxBytes: limits.maxTotalBytes + MAX_MANIFEST_BYTES + (limits.maxEntries + 2) * (2048 + 2 * limits.maxPathLength),
      nestedGzip: () => invalid('archive is compressed twice; a .ferry file is a single gzip layer'),
    },
  });
  if (!manifest) throw invalid(`${file} has no manifest.json`);
  if (!opts.manifestOnly) {
    const missing = manifest.files.find((f) => !seenFiles.has(f.path));
    if (missing) throw invalid(`manifest.json lists ${q(missing.path)} but the archive does not contain it`);
  }
  return manifest;
}

/** The manifest of a package, reading only as far as the first archive entry. */
export async function readPackageManifest(file: string): Promise<Manifest> {
  return scanArchive(file, {}, { manifestOnly: true });
}

/** Full safety and integrity check of a package without writing anything to disk. */
export async function verifyPackageArchive(file: string, limits?: Partial<ArchiveLimits>): Promise<Manifest> {
  return scanArchive(file, limits);
}
