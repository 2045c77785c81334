// Checks on single tar entries shared by the hardened archive readers: what kind of entry it
// is (links and special files are refused), reading a small JSON entry such as a manifest,
// and checking a file's bytes against the size and SHA-256 its manifest declares.

import { createHash } from 'node:crypto';
import type { ReadEntry } from 'tar';
import { FerryError } from '../errors.js';
import type { TarReading } from './safe-tar.js';

/** An archive path for an error message: JSON-quoted and cut to a readable length. */
export const quoted = (s: string): string => JSON.stringify(s.length > 200 ? `${s.slice(0, 200)}…` : s);

export const archiveUnsafe = (message: string): FerryError => new FerryError('FERRY_ARCHIVE_UNSAFE', message);

export interface EntryKindRules {
  directories: boolean;
  /** why links are refused, e.g. "links are not allowed" */
  noLinks: string;
  /** why other types are refused, e.g. "only files and directories are allowed" */
  onlyAllowed: string;
}

/** 'file' or 'dir'; links, devices, FIFOs and (unless allowed) directories throw FERRY_ARCHIVE_UNSAFE. */
export function entryKind(entry: ReadEntry, rules: EntryKindRules): 'file' | 'dir' {
  const name = quoted(entry.path);
  switch (entry.type) {
    case 'File':
    case 'OldFile':
    case 'ContiguousFile':
      return 'file';
    case 'SymbolicLink':
    case 'Link':
      throw archiveUnsafe(`entry ${name} is a ${entry.type === 'Link' ? 'hard link' : 'symlink'} (to ${quoted(entry.linkpath ?? '')}); ${rules.noLinks}`);
    case 'Directory':
      if (rules.directories) return 'dir';
  }
  throw archiveUnsafe(`entry ${name} has type ${entry.type}; ${rules.onlyAllowed}`);
}

export interface JsonEntryRules {
  maxBytes: number;
  /** the error for an entry over maxBytes */
  tooLarge(message: string): FerryError;
  /** the error for bytes that are not JSON, given the parser's message */
  notJson(detail: string): FerryError;
}

/**
 * Buffers a small JSON entry and hands the parsed value to `use` when the entry ends;
 * anything `use` throws is the archive's problem.
 */
export function readJsonEntry(entry: ReadEntry, reading: TarReading, rules: JsonEntryRules, use: (raw: unknown) => void): void {
  if (entry.size > rules.maxBytes) throw rules.tooLarge(`${entry.path} is ${entry.size} bytes, over the ${rules.maxBytes}-byte limit`);
  const chunks: Buffer[] = [];
  entry.on('data', (c: Buffer) => chunks.push(c));
  entry.on('end', () => {
    try {
      let raw: unknown;
      try {
        raw = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch (e) {
        throw rules.notJson((e as Error).message);
      }
      use(raw);
    } catch (e) {
      reading.fail(e);
    }
  });
}

export interface DigestCheck {
  /** each chunk of the file, in order */
  onData?(chunk: Buffer): void;
  /** the whole file arrived and matches */
  onMatch?(): void;
  /** the error for content that does not match (its actual sha256 and length) */
  mismatch(sha256: string, bytes: number): FerryError;
}

/** Hashes a file entry as it streams and checks it against `want` when it ends. */
export function checkEntryDigest(entry: ReadEntry, want: { size: number; sha256: string }, reading: TarReading, check: DigestCheck): void {
  const hash = createHash('sha256');
  let got = 0;
  entry.on('data', (c: Buffer) => {
    hash.update(c);
    got += c.length;
    check.onData?.(c);
  });
  entry.on('end', () => {
    if (reading.failed) return;
    const digest = hash.digest('hex');
    if (got !== want.size || digest !== want.sha256) reading.fail(check.mismatch(digest, got));
    else check.onMatch?.();
  });
}
