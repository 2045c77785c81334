// File-level deltas: the DML keeps every payload file's content addressed by its SHA-256 (one
// object per distinct content, shared by every version that has it) and, per package version, a
// signed *file index*: the package's manifest and directories, bound to the signed record's
// artifact SHA-256. An agent that keeps an earlier version plans which files it can reuse (same
// hash) and fetches only the others. Everything here is pure: names, the index schema, the plan.
import * as z from 'zod';
import type { Manifest } from './manifest.js';
import { pathLimitProblem, pathProblem } from './manifest.js';
import { defaultArchiveLimits, type ArchiveLimits } from './read.js';

/** The Object Store name of a file's content (in the DML bucket; package objects are `name@version`). */
export function contentObjectName(sha256: string): string {
  return `sha256/${sha256}`;
}

/** The Object Store name of a package version's signed file index. */
export function fileIndexObjectName(name: string, version: string): string {
  return `index/${name}@${version}`;
}

export const FILE_INDEX_KIND = 'ferry.file-index/1';
/** A file index is parsed in memory; the manifest's own cap plus room for the directory list. */
export const MAX_FILE_INDEX_BYTES = 8 * 1024 * 1024;

const relPath = z.string().superRefine((p, ctx) => {
  const problem = pathLimitProblem(p) ?? pathProblem(p);
  if (problem) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(p.slice(0, 120))} ${problem}` });
});

/**
 * What the DML signs for a delta: this manifest and these directories are the content of the
 * package whose signed record names `sha256`/`size`. The `kind` keeps it from ever parsing as a
 * DML record (and a record from parsing as this): both schemas are strict.
 */
export const fileIndexSchema = z
  .object({
    kind: z.literal(FILE_INDEX_KIND),
    name: z.string().min(1).max(64),
    version: z.string().min(1).max(256),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    size: z.number().int().nonnegative(),
    /** every directory of the payload, empty ones included (the manifest lists only files) */
    dirs: z.array(relPath).max(100_000),
    /** parsed with parseManifest by the reader */
    manifest: z.unknown(),
  })
  .strict();
export type FileIndex = z.infer<typeof fileIndexSchema>;

/** A version kept on the host, newest first when handed to planDelta. */
export interface KeptVersion {
  version: string;
  manifest: Manifest;
}

export interface ReuseSource {
  version: string;
  path: string;
}

export interface PlannedFile {
  path: string;
  sha256: string;
  size: number;
  mode: number;
}

export interface DeltaPlan {
  /** files whose content a kept version has: copy from the first source whose bytes still match */
  reuse: Array<PlannedFile & { sources: ReuseSource[] }>;
  /** distinct contents to fetch from the DML, each with the paths that get it */
  fetch: Array<{ sha256: string; size: number; paths: string[] }>;
  /** empty files: created, nothing to fetch or copy */
  empty: PlannedFile[];
  reuseBytes: number;
  fetchBytes: number;
}

/**
 * Which files of `target` can come from kept versions and which must be fetched. A source with
 * the same path is tried first (the usual case: an unchanged file), then the other kept files
 * with that content, newest version first.
 */
export function planDelta(target: Manifest, kept: readonly KeptVersion[]): DeltaPlan {
  const byHash = new Map<string, ReuseSource[]>();
  for (const k of kept) {
    for (const f of k.manifest.files) {
      if (f.size === 0) continue;
      const list = byHash.get(f.sha256) ?? [];
      list.push({ version: k.version, path: f.path });
      byHash.set(f.sha256, list);
    }
  }
  const plan: DeltaPlan = { reuse: [], fetch: [], empty: [], reuseBytes: 0, fetchBytes: 0 };
  const fetching = new Map<string, { sha256: string; size: number; paths: string[] }>();
  for (const f of target.files) {
    const file = { path: f.path, sha256: f.sha256, size: f.size, mode: f.mode };
    if (f.size === 0) {
      plan.empty.push(file);
      continue;
    }
    const sources = byHash.get(f.sha256);
    if (sources?.length) {
      const samePath = sources.filter((s) => s.path === f.path);
      plan.reuse.push({ ...file, sources: [...samePath, ...sources.filter((s) => s.path !== f.path)] });
      plan.reuseBytes += f.size;
      continue;
    }
    const pending = fetching.get(f.sha256);
    if (pending) {
      pending.paths.push(f.path);
      continue;
    }
    const entry = { sha256: f.sha256, size: f.size, paths: [f.path] };
    fetching.set(f.sha256, entry);
    plan.fetch.push(entry);
    plan.fetchBytes += f.size;
  }
  return plan;
}

/**
 * A delta is worth it when it reuses something and moves fewer bytes than the (compressed)
 * package would; otherwise the agent downloads the package as before.
 */
export function deltaWorthIt(plan: DeltaPlan, packageBytes: number): boolean {
  return plan.reuse.length > 0 && plan.fetchBytes < packageBytes;
}

/**
 * The archive limits a full install enforces while extracting (entries, total and per-file bytes),
 * applied to a delta's manifest and directories before anything is fetched: why it is refused, or
 * undefined.
 */
export function deltaLimitProblem(manifest: Manifest, dirs: readonly string[], limits: ArchiveLimits = defaultArchiveLimits): string | undefined {
  const entries = manifest.files.length + dirs.length;
  if (entries > limits.maxEntries) return `${entries} entries, over the limit of ${limits.maxEntries}`;
  let total = 0;
  for (const f of manifest.files) {
    if (f.size > limits.maxFileBytes) return `${JSON.stringify(f.path.slice(0, 120))} is ${f.size} bytes, over the limit of ${limits.maxFileBytes}`;
    total += f.size;
  }
  if (total > limits.maxTotalBytes) return `${total} payload bytes, over the limit of ${limits.maxTotalBytes}`;
  return undefined;
}
