// Test support only (not part of the package API): crafts `.ferry` archives that
// buildPackage would never produce — absolute paths, links, devices, lying manifests,
// gzip bombs — by encoding raw tar headers with node-tar's Header class, which writes
// whatever it is given, unlike tar.c/Pack which sanitise paths and follow the filesystem.

import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, gunzipSync, gzipSync } from 'node:zlib';
import { Header, type HeaderData } from 'tar';

export interface RawEntry {
  path: string;
  type?: HeaderData['type'];
  body?: Buffer | string;
  /** Header size; defaults to the body length. */
  size?: number;
  mode?: number;
  uid?: number;
  linkpath?: string;
}

export interface PayloadSpec {
  path: string;
  body: Buffer | string;
  mode?: number;
}

export function rawHeader(e: Omit<RawEntry, 'body'> & { size: number }): Buffer {
  const h = new Header({
    path: e.path,
    type: e.type ?? 'File',
    size: e.size,
    mode: e.mode ?? 0o644,
    mtime: new Date(0),
    uid: e.uid ?? 0,
    gid: e.uid ?? 0,
    ...(e.linkpath === undefined ? {} : { linkpath: e.linkpath }),
  });
  h.encode();
  return h.block!;
}

const pad = (n: number): Buffer => Buffer.alloc((512 - (n % 512)) % 512);

/** An uncompressed tar holding exactly `entries`, in order, with an end marker. */
export function tarBytes(entries: RawEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    parts.push(rawHeader({ ...e, size: e.size ?? body.length }), body, pad(body.length));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export async function writeArchive(file: string, entries: RawEntry[]): Promise<void> {
  await writeFile(file, gzipSync(tarBytes(entries)));
}

export const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** A valid manifest object describing `files` (sorted, hashed), plus any overrides. */
export function manifestFor(files: PayloadSpec[], overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    formatVersion: 1,
    name: 'evil',
    version: '1.0.0',
    files: [...files]
      .sort((a, b) => (a.path < b.path ? -1 : 1))
      .map((f) => ({ path: f.path, size: Buffer.byteLength(f.body), mode: f.mode ?? 0o644, sha256: sha256(f.body) })),
    createdAt: '2024-01-01T00:00:00.000Z',
    ...overrides,
  };
}

/** One PAX extended-header record; its length prefix counts itself. */
export function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(rest) + 1;
  while (String(len).length + Buffer.byteLength(rest) !== len) len += 1;
  return `${len}${rest}`;
}

export const manifestEntry = (m: unknown): RawEntry => ({ path: 'manifest.json', body: JSON.stringify(m) });

/** manifest.json followed by `payload/<path>` files: a well-formed package to start from. */
export function packageEntries(files: PayloadSpec[], overrides: Record<string, unknown> = {}): RawEntry[] {
  return [manifestEntry(manifestFor(files, overrides)), ...files.map((f) => ({ path: `payload/${f.path}`, body: f.body, mode: f.mode ?? 0o644 }))];
}

/** Gunzips a package, lets `edit` change the raw tar bytes, and gzips it back. */
export async function rewriteArchive(file: string, edit: (tar: Buffer) => Buffer): Promise<void> {
  await writeFile(file, gzipSync(edit(gunzipSync(await readFile(file)))));
}

/**
 * A package whose manifest honestly declares one `size`-byte file of zeros, streamed
 * through gzip so neither memory nor disk ever holds the inflated bytes.
 */
export async function writeGzipBomb(file: string, size: number): Promise<void> {
  const manifest = {
    formatVersion: 1,
    name: 'bomb',
    version: '1.0.0',
    files: [{ path: 'zeros.bin', size, mode: 0o644, sha256: '0'.repeat(64) }],
    createdAt: '2024-01-01T00:00:00.000Z',
  };
  const body = Buffer.from(JSON.stringify(manifest));
  const zeros = Buffer.alloc(1024 * 1024);
  async function* gen(): AsyncGenerator<Buffer> {
    yield rawHeader({ path: 'manifest.json', size: body.length });
    yield body;
    yield pad(body.length);
    yield rawHeader({ path: 'payload/zeros.bin', size });
    for (let left = size; left > 0; left -= zeros.length) yield left >= zeros.length ? zeros : zeros.subarray(0, left);
    yield pad(size);
    yield Buffer.alloc(1024);
  }
  await pipeline(Readable.from(gen(), { objectMode: false }), createGzip({ level: 9 }), createWriteStream(file));
}
