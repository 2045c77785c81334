// The `.ferry` package vocabulary: the ferry.json schema authors write, the manifest.json
// schema that travels inside every package, and the path rules both must obey. Everything
// that reads or writes a package validates through here so the rules live in one place.

import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import semver from 'semver';
import * as z from 'zod';
import { FerryError } from '../errors.js';
import { unsafeCharProblem, visible } from '../text.js';

export const FERRY_JSON = 'ferry.json';
export const MANIFEST_ENTRY = 'manifest.json';
export const PAYLOAD_DIR = 'payload';
/** Manifests are parsed in memory before anything is trusted, so they get a hard cap. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const DEFAULT_HOOK_TIMEOUT_SECONDS = 60;

export const HOOK_NAMES = ['preinstall', 'postinstall', 'healthcheck', 'rollback', 'preremove', 'postremove'] as const;
export type HookName = (typeof HOOK_NAMES)[number];

// Closed lists (Node's own platform/arch names) so a typo such as "x86_64" fails at build
// time instead of silently making a package installable nowhere.
const OS_NAMES = ['aix', 'android', 'cygwin', 'darwin', 'freebsd', 'haiku', 'linux', 'netbsd', 'openbsd', 'sunos', 'win32'] as const;
const ARCH_NAMES = ['arm', 'arm64', 'ia32', 'loong64', 'mips', 'mipsel', 'ppc', 'ppc64', 'riscv64', 's390', 's390x', 'x64'] as const;

const NAME_RE = /^[a-z0-9][a-z0-9._-]*$/;

/**
 * Format ceilings for a payload path, checked before anything else looks at the path so that
 * no check costs more than these allow. The archive limits (read.ts) may be tighter, never looser.
 */
export const MAX_PATH_LENGTH = 4096;
export const MAX_PATH_DEPTH = 32;

/** Counts the work the path checks do (path segments visited), so tests can prove it is linear. */
export interface PathWork {
  segments: number;
}

/**
 * A path for an error message: JSON-quoted, cut short (a hostile path cannot flood the line) and
 * made visible (JSON escapes C0 controls, not C1 or bidirectional ones).
 */
export const quotePath = (p: string): string => visible(JSON.stringify(p.length > 120 ? `${p.slice(0, 120)}…` : p));

/**
 * Why a path exceeds the length or depth ceiling, or undefined. Stops at the first segment past
 * the limit: a 40,000-segment path costs as much as a 33-segment one.
 */
export function pathLimitProblem(p: string, work?: PathWork): string | undefined {
  if (p.length > MAX_PATH_LENGTH) return `is longer than ${MAX_PATH_LENGTH} characters`;
  let segments = 1;
  for (let at = p.indexOf('/'); at !== -1; at = p.indexOf('/', at + 1)) {
    if (work) work.segments += 1;
    if (++segments > MAX_PATH_DEPTH) return `is nested deeper than ${MAX_PATH_DEPTH} levels`;
  }
  return undefined;
}

/**
 * Why a relative POSIX path is unacceptable, or undefined if it is fine. Shared by
 * ferry.json hooks, manifest entries and tar entry names so that nothing the manifest
 * accepts could escape the extraction directory, and no path an agent prints (`ferry-agent
 * verify`) or reports (drift) holds a control character (C0 with tab and newline, DEL, C1) or
 * a bidirectional override. Callers apply pathLimitProblem first.
 */
export function pathProblem(p: string): string | undefined {
  if (p === '') return 'is empty';
  if (p.includes('\0')) return 'contains a NUL byte';
  const unsafe = unsafeCharProblem(p);
  if (unsafe) return unsafe;
  if (p.includes('\\')) return 'contains a backslash';
  if (p.startsWith('/')) return 'is absolute';
  if (/^[A-Za-z]:/.test(p)) return 'starts with a drive letter';
  for (const seg of p.split('/')) {
    if (seg === '') return 'has an empty segment';
    if (seg === '.') return 'has a "." segment';
    if (seg === '..') return 'has a ".." segment';
  }
  return undefined;
}

interface PathNode {
  file: boolean;
  /** the first path that went through this node (for the message) */
  via: string;
  children: Map<string, PathNode> | undefined;
}

/**
 * Every file that is also the directory of another file, in one walk over a tree of segments:
 * linear in the total number of segments (each parent is found by descending, never by
 * rebuilding its prefix). Paths must already be within the ceilings.
 */
export function fileDirectoryConflicts(paths: readonly string[], work?: PathWork): Array<{ parent: string; path: string }> {
  const root: PathNode = { file: false, via: '', children: undefined };
  const conflicts: Array<{ parent: string; path: string }> = [];
  for (const path of paths) {
    const segs = path.split('/');
    let node = root;
    let parentFile: number | undefined;
    segs.forEach((seg, i) => {
      if (work) work.segments += 1;
      node.children ??= new Map();
      let next = node.children.get(seg);
      if (!next) node.children.set(seg, (next = { file: false, via: path, children: undefined }));
      node = next;
      if (i < segs.length - 1 && node.file && parentFile === undefined) parentFile = i;
    });
    if (parentFile !== undefined) conflicts.push({ parent: segs.slice(0, parentFile + 1).join('/'), path });
    else if (node.children?.size) conflicts.push({ parent: path, path: node.via });
    node.file = true;
  }
  return conflicts;
}

/** Free text of ferry.json and manifest.json (description): one line, no control characters. */
const packageTextSchema = (max: number) =>
  z
    .string()
    .max(max)
    .superRefine((s, ctx) => {
      const problem = unsafeCharProblem(s);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    });

const nameSchema = z
  .string()
  .max(64, { error: 'must be at most 64 characters' })
  .regex(NAME_RE, { error: (iss) => `${JSON.stringify(iss.input)} must match ${NAME_RE.source}` });

const versionSchema = z
  .string()
  .refine((v) => semver.valid(v) === v, { error: (iss) => `${JSON.stringify(iss.input)} is not semver` });

const relPathSchema = z.string().superRefine((p, ctx) => {
  const problem = pathLimitProblem(p) ?? pathProblem(p);
  if (problem) ctx.addIssue({ code: 'custom', message: `${quotePath(p)} ${problem}` });
});

const hooksSchema = z.strictObject(
  Object.fromEntries(HOOK_NAMES.map((h) => [h, relPathSchema.optional()])) as Record<HookName, z.ZodOptional<typeof relPathSchema>>,
);

const commonShape = {
  name: nameSchema,
  version: versionSchema,
  description: packageTextSchema(4096).optional(),
  hooks: hooksSchema.optional(),
  hookTimeoutSeconds: z.number().int().positive().default(DEFAULT_HOOK_TIMEOUT_SECONDS),
  healthcheck: z
    .strictObject({ retries: z.number().int().nonnegative().optional(), intervalSeconds: z.number().int().positive().optional() })
    .optional(),
  requires: z
    .strictObject({
      os: z.array(z.enum(OS_NAMES)).min(1).optional(),
      arch: z.array(z.enum(ARCH_NAMES)).min(1).optional(),
      diskMB: z.number().int().nonnegative().optional(),
    })
    .optional(),
  depends: z
    .record(nameSchema, z.string().refine((r) => semver.validRange(r) !== null, { error: (iss) => `${JSON.stringify(iss.input)} is not a semver range` }))
    .optional(),
};

export const ferryJsonSchema = z.strictObject(commonShape);
export type FerryJson = z.output<typeof ferryJsonSchema>;

export const manifestFileSchema = z.strictObject({
  path: relPathSchema,
  size: z.number().int().nonnegative(),
  mode: z.union([z.literal(0o755), z.literal(0o644)], { error: 'must be 493 (0o755) or 420 (0o644)' }),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, { error: 'must be 64 lowercase hex characters' }),
});
export type ManifestFile = z.output<typeof manifestFileSchema>;

export const manifestSchema = z
  .strictObject({
    formatVersion: z.literal(1, { error: (iss) => `${JSON.stringify(iss.input)} is not supported (expected 1)` }),
    ...commonShape,
    files: z.array(manifestFileSchema),
    createdAt: z.iso.datetime(),
  })
  .superRefine((m, ctx) => {
    // Sorted-and-unique makes the manifest canonical, and a file that is also some other
    // file's parent directory could never be extracted, so both are structural errors.
    const paths = new Set<string>();
    m.files.forEach((f, i) => {
      const prev = m.files[i - 1];
      if (prev && !(prev.path < f.path)) {
        ctx.addIssue({ code: 'custom', path: ['files', i, 'path'], message: `${quotePath(f.path)} is out of order or duplicated` });
      }
      paths.add(f.path);
    });
    // Paths over the ceilings were already refused above; the walk never sees them.
    const checkable = m.files.map((f) => f.path).filter((p) => pathLimitProblem(p) === undefined);
    for (const c of fileDirectoryConflicts(checkable)) {
      ctx.addIssue({ code: 'custom', path: ['files'], message: `${quotePath(c.parent)} is both a file and the directory of ${quotePath(c.path)}` });
    }
    for (const [hook, p] of Object.entries(m.hooks ?? {})) {
      if (p !== undefined && !paths.has(p)) {
        ctx.addIssue({ code: 'custom', path: ['hooks', hook], message: `${JSON.stringify(p)} is not a payload file` });
      }
    }
  });
export type Manifest = z.output<typeof manifestSchema>;

/** Turns zod's defaults into phrases that read well after a field path ("version is required"). */
const errorMap: z.core.$ZodErrorMap = (iss) => {
  if (iss.code === 'invalid_type') return iss.input === undefined ? 'is required' : `must be ${iss.expected}`;
  if (iss.code === 'too_small') return `must be ${iss.inclusive ? '>=' : '>'} ${String(iss.minimum)}${iss.origin === 'array' ? ' items' : ''}`;
  if (iss.code === 'too_big') return `must be ${iss.inclusive ? '<=' : '<'} ${String(iss.maximum)}${iss.origin === 'string' ? ' characters' : ''}`;
  if (iss.code === 'invalid_value') return `must be one of ${iss.values.map((v) => JSON.stringify(v)).join(', ')}`;
  return undefined;
};

/** One line for the operator: the first problem, prefixed with the file it came from. */
function formatIssues(source: string, issues: z.core.$ZodIssue[]): string {
  const first = issues[0];
  if (!first) return `${source}: invalid`;
  const where = first.path.map(String).join('.');
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : '';
  if (first.code === 'unrecognized_keys') {
    const keys = first.keys.map((k) => JSON.stringify(k)).join(', ');
    return `${source}: unknown key${first.keys.length > 1 ? 's' : ''} ${keys}${where ? ` in ${where}` : ''}${more}`;
  }
  const msg = first.message.charAt(0).toLowerCase() + first.message.slice(1);
  return `${source}: ${where ? `${where} ` : ''}${msg}${more}`;
}

export function parseFerryJson(value: unknown): FerryJson {
  const r = ferryJsonSchema.safeParse(value, { error: errorMap });
  if (!r.success) throw new FerryError('FERRY_PACKAGE_INVALID', formatIssues(FERRY_JSON, r.error.issues));
  return r.data;
}

export function parseManifest(value: unknown): Manifest {
  const r = manifestSchema.safeParse(value, { error: errorMap });
  if (!r.success) throw new FerryError('FERRY_PACKAGE_INVALID', formatIssues(MANIFEST_ENTRY, r.error.issues));
  return r.data;
}

/** Reads and validates `<srcDir>/ferry.json`, including that every hook names a regular file. */
export async function loadFerryJson(srcDir: string): Promise<FerryJson> {
  const file = join(srcDir, FERRY_JSON);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new FerryError('FERRY_NOT_FOUND', `ferry.json not found in ${srcDir}`, { hint: 'create ferry.json with at least name and version' });
    }
    throw new FerryError('FERRY_PACKAGE_INVALID', `ferry.json: cannot read: ${(err as Error).message}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new FerryError('FERRY_PACKAGE_INVALID', `ferry.json: not valid JSON: ${(err as Error).message}`);
  }
  const parsed = parseFerryJson(raw);
  for (const [hook, p] of Object.entries(parsed.hooks ?? {})) {
    if (p === undefined) continue;
    // The build leaves these out of the payload, so a hook pointing at one could never run.
    if (p === FERRY_JSON || p.split('/').includes('.git')) {
      throw new FerryError('FERRY_PACKAGE_INVALID', `ferry.json: hooks.${hook} "${p}" is not part of the payload`);
    }
    const st = await lstat(join(srcDir, p)).catch(() => undefined);
    if (!st) throw new FerryError('FERRY_PACKAGE_INVALID', `ferry.json: hooks.${hook} "${p}" does not exist`);
    if (!st.isFile()) throw new FerryError('FERRY_PACKAGE_INVALID', `ferry.json: hooks.${hook} "${p}" is not a regular file`);
  }
  return parsed;
}
