// Reading `.ferry` archives without trusting them. One streaming scanner enforces every
// safety rule entry by entry (paths, types, duplicates, limits, decompression ratio) and
// checks payload files against the manifest; readPackageManifest, verifyPackageArchive and
// extractPackage are thin layers over it, so the rules cannot drift apart.
//
// node-tar's Parser is used only as a synchronous tokenizer: we gunzip ourselves (so we can
// measure the compression ratio and refuse nested compression, which Parser would happily
// sniff and unpack), feed it one chunk at a time, and queue any disk work the chunk produced.
// Because entries are consumed synchronously, the queue never holds more than one chunk.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { FerryError, type FerryErrorCode } from '../errors.js';
import { MANIFEST_ENTRY, MAX_MANIFEST_BYTES, PAYLOAD_DIR, parseManifest, pathProblem, type Manifest, type ManifestFile } from './manifest.js';

export interface ArchiveLimits {
  maxEntries: number;
  maxTotalBytes: number;
  maxFileBytes: number;
  maxDepth: number;
  maxDecompressionRatio: number;
  maxPathLength: number;
}

export const defaultArchiveLimits: Readonly<ArchiveLimits> = Object.freeze({
  maxEntries: 100_000,
  maxTotalBytes: 4 * 1024 ** 3,
  maxFileBytes: 2 * 1024 ** 3,
  maxDepth: 32,
  maxDecompressionRatio: 200,
  maxPathLength: 4096,
});

/** Small archives legitimately compress far better than 200:1 (a few headers, lots of padding). */
const RATIO_GRACE_BYTES = 1024 * 1024;

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

const q = (s: string): string => JSON.stringify(s.length > 200 ? `${s.slice(0, 200)}…` : s);
const err = (code: FerryErrorCode, message: string): FerryError => new FerryError(code, message);
const unsafe = (message: string): FerryError => err('FERRY_ARCHIVE_UNSAFE', message);
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
  let failure: FerryError | undefined;
  let stopped = false;
  const ops: Array<() => Promise<void>> = [];
  const fail = (e: unknown): void => {
    failure ??= e instanceof FerryError ? e : invalid(`corrupt archive: ${e instanceof Error ? e.message : String(e)}`);
  };

  const onManifestEntry = (entry: ReadEntry): void => {
    if (entry.size > MAX_MANIFEST_BYTES) throw invalid(`manifest.json is ${entry.size} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit`);
    const chunks: Buffer[] = [];
    entry.on('data', (c: Buffer) => chunks.push(c));
    entry.on('end', () => {
      try {
        let raw: unknown;
        try {
          raw = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch (e) {
          throw invalid(`manifest.json: not valid JSON: ${(e as Error).message}`);
        }
        manifest = parseManifest(raw);
        if (opts.manifestOnly) {
          // Payload limits are the installer's business; a reader of metadata must not
          // refuse a package that a server with larger limits accepts.
          stopped = true;
          return;
        }
        const problem = manifestLimitProblem(manifest, limits);
        if (problem) throw unsafe(`manifest.json: ${problem}`);
        expected = new Map(manifest.files.map((f) => [f.path, f]));
      } catch (e) {
        fail(e);
      }
    });
  };

  const onPayloadFile = (entry: ReadEntry, rel: string): void => {
    const want = expected.get(rel);
    if (!want) throw invalid(`archive entry ${q(entry.path)} is not listed in manifest.json`);
    if (entry.size > limits.maxFileBytes) throw unsafe(`entry ${q(entry.path)} is ${entry.size} bytes, over the ${limits.maxFileBytes}-byte limit`);
    declaredBytes += entry.size;
    if (declaredBytes > limits.maxTotalBytes) throw unsafe(`entry ${q(entry.path)} takes the payload over the ${limits.maxTotalBytes}-byte limit`);
    if (entry.size !== want.size) {
      throw err('FERRY_DIGEST_MISMATCH', `entry ${q(entry.path)} is ${entry.size} bytes but manifest.json says ${want.size}`);
    }
    seenFiles.add(rel);
    const hash = createHash('sha256');
    let got = 0;
    if (sink) ops.push(() => sink.beginFile(want));
    entry.on('data', (c: Buffer) => {
      hash.update(c);
      got += c.length;
      if (sink) ops.push(() => sink.data(c));
    });
    entry.on('end', () => {
      if (failure) return;
      const digest = hash.digest('hex');
      if (got !== want.size || digest !== want.sha256) {
        fail(err('FERRY_DIGEST_MISMATCH', `entry ${q(entry.path)} does not match manifest.json (sha256 ${digest}, ${got} bytes; expected ${want.sha256}, ${want.size} bytes)`));
      } else if (sink) {
        ops.push(() => sink.endFile(want));
      }
    });
  };

  const onEntry = (entry: ReadEntry): void => {
    entries += 1;
    const name = entry.path;
    if (entries > limits.maxEntries) throw unsafe(`archive has more than ${limits.maxEntries} entries (at ${q(name)})`);
    if (name.length > limits.maxPathLength) throw unsafe(`entry ${q(name)} has a path longer than ${limits.maxPathLength}`);
    let kind: 'file' | 'dir';
    switch (entry.type) {
      case 'File':
      case 'OldFile':
      case 'ContiguousFile':
        kind = 'file';
        break;
      case 'Directory':
        kind = 'dir';
        break;
      case 'SymbolicLink':
      case 'Link':
        throw unsafe(`entry ${q(name)} is a ${entry.type === 'Link' ? 'hard link' : 'symlink'} (to ${q(entry.linkpath ?? '')}); links are not allowed`);
      default:
        throw unsafe(`entry ${q(name)} has type ${entry.type}; only files and directories are allowed`);
    }
    const p = kind === 'dir' && name.endsWith('/') ? name.slice(0, -1) : name;
    const problem = pathProblem(p);
    if (problem) throw unsafe(`entry ${q(name)}: path ${problem}`);

    if (entries === 1) {
      if (p !== MANIFEST_ENTRY || kind !== 'file') throw invalid(`first archive entry must be manifest.json, found ${q(name)}`);
      return onManifestEntry(entry);
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
      if (sink) ops.push(() => sink.directory(rel));
    } else {
      if (impliedDirs.has(rel)) throw unsafe(`entry ${q(name)} is a file but earlier entries use it as a directory`);
      onPayloadFile(entry, rel);
    }
    for (const a of ancestors(rel)) impliedDirs.add(a);
  };

  const parser = new Parser({ strict: true, zstd: false, brotli: false });
  parser.on('entry', (entry: ReadEntry) => {
    try {
      if (!failure && !stopped) onEntry(entry);
    } catch (e) {
      fail(e);
    }
    // Entries start paused and the parser waits for each to end: always let them flow.
    entry.resume();
  });
  parser.on('ignoredEntry', (entry: ReadEntry) => {
    fail(unsafe(entry.meta ? `oversized ${entry.type} header before ${q(entry.path)}` : `entry ${q(entry.path)} has unsupported type ${entry.type}`));
  });
  parser.on('error', (e: Error) => fail(invalid(`corrupt archive: ${e.message}`)));
  // Anything after the end-of-archive marker is ignored by every tar; stop reading there
  // rather than let the parser buffer trailing bytes.
  parser.on('eof', () => {
    stopped = true;
  });

  // Sink errors (ENOSPC, EACCES…) are the destination's fault, not the archive's: keep
  // them apart so they are not reported as a corrupt package.
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

  let compressed = 0;
  let uncompressed = 0;
  // The tar stream can only be headers, payload and padding; anything beyond generous
  // per-entry overhead is junk we refuse to keep inflating.
  const maxStream = limits.maxTotalBytes + MAX_MANIFEST_BYTES + (limits.maxEntries + 2) * (2048 + 2 * limits.maxPathLength);
  try {
    await pipeline(
      createReadStream(file, { highWaterMark: 64 * 1024 }),
      async function* countCompressed(src: AsyncIterable<Buffer>) {
        for await (const c of src) {
          compressed += c.length;
          yield c;
        }
      },
      createGunzip({ chunkSize: 64 * 1024 }),
      async function feed(src: AsyncIterable<Buffer>) {
        for await (const c of src) {
          if (uncompressed === 0 && c.length >= 2 && c[0] === 0x1f && c[1] === 0x8b) {
            throw invalid('archive is compressed twice; a .ferry file is a single gzip layer');
          }
          uncompressed += c.length;
          if (uncompressed > RATIO_GRACE_BYTES && uncompressed / compressed > limits.maxDecompressionRatio) {
            throw unsafe(`decompression ratio over ${limits.maxDecompressionRatio}:1 after ${uncompressed} bytes (likely a gzip bomb)`);
          }
          if (uncompressed > maxStream) throw unsafe(`archive inflates beyond ${maxStream} bytes`);
          parser.write(c);
          await drain();
          if (stopped) return;
        }
        parser.end();
        await drain();
      },
    );
  } catch (e) {
    if (failure) throw failure;
    if (e instanceof FerryError || e === sinkError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (!stopped) {
      if (code === 'ENOENT') throw new FerryError('FERRY_NOT_FOUND', `package file not found: ${file}`);
      if (typeof code === 'string' && code.startsWith('Z_')) throw invalid(`${file} is not a valid .ferry file (gzip: ${(e as Error).message})`);
      throw invalid(`cannot read ${file}: ${(e as Error).message}`);
    }
  }
  if (failure) throw failure;
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
