// The manifest of a server backup: what the archive holds, each file's size and SHA-256, and
// the DML packages with their digests. It is the archive's first entry, so a restore knows
// every byte it should see before it reads any of them.
import * as z from 'zod';
import { FerryError } from '../../shared/errors.js';
import { pathProblem } from '../../shared/package/manifest.js';

export const BACKUP_FORMAT = 'ferry-backup';
export const BACKUP_FORMAT_VERSION = 1;
export const BACKUP_MANIFEST = 'manifest.json';
export const BACKUP_DB = 'ferry.db';
export const BACKUP_KEYS_DIR = 'keys';
export const BACKUP_PACKAGES_DIR = 'packages';
/** the deployment policy (optional: a data directory may have none) */
export const BACKUP_POLICY = 'policy.json';
export const MAX_BACKUP_MANIFEST_BYTES = 16 * 1024 * 1024;

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters');
const relPath = z.string().superRefine((p, ctx) => {
  const problem = pathProblem(p);
  if (problem) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(p)} ${problem}` });
  const top = p.split('/')[0];
  if (p !== BACKUP_DB && p !== BACKUP_POLICY && top !== BACKUP_KEYS_DIR && top !== BACKUP_PACKAGES_DIR) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(p)} is not a place a backup writes to` });
});

export const backupFileSchema = z.strictObject({ path: relPath, size: z.number().int().nonnegative(), sha256 });
export type BackupFile = z.output<typeof backupFileSchema>;

export const backupPackageSchema = z.strictObject({
  name: z.string().min(1).max(64),
  version: z.string().min(1).max(256),
  /** the DML digest: SHA-256 of the .ferry file */
  sha256,
  size: z.number().int().nonnegative(),
  /** where the .ferry file is in the archive (also listed in files) */
  path: relPath,
});
export type BackupPackage = z.output<typeof backupPackageSchema>;

export const backupManifestSchema = z
  .strictObject({
    format: z.literal(BACKUP_FORMAT),
    formatVersion: z.literal(BACKUP_FORMAT_VERSION, { error: (iss) => `${JSON.stringify(iss.input)} is not supported (expected ${BACKUP_FORMAT_VERSION})` }),
    createdAt: z.iso.datetime(),
    ferryVersion: z.string().max(64),
    /** the root key fingerprint: a restored server must verify with the same root */
    rootFingerprint: z.string().max(128),
    /** the NATS address agents were given (start the restored server on the same one) */
    natsUrl: z.string().max(512).optional(),
    files: z.array(backupFileSchema).max(100_000),
    packages: z.array(backupPackageSchema).max(100_000),
  })
  .superRefine((m, ctx) => {
    const paths = new Set<string>();
    for (const f of m.files) {
      if (paths.has(f.path)) ctx.addIssue({ code: 'custom', path: ['files'], message: `${JSON.stringify(f.path)} is listed twice` });
      paths.add(f.path);
    }
    if (!paths.has(BACKUP_DB)) ctx.addIssue({ code: 'custom', path: ['files'], message: `${BACKUP_DB} is missing` });
    const byPath = new Map(m.files.map((f) => [f.path, f]));
    for (const p of m.packages) {
      const f = byPath.get(p.path);
      if (!f || f.sha256 !== p.sha256 || f.size !== p.size) ctx.addIssue({ code: 'custom', path: ['packages'], message: `${p.name}@${p.version} does not match its file entry` });
    }
  });
export type BackupManifest = z.output<typeof backupManifestSchema>;

export function parseBackupManifest(raw: unknown): BackupManifest {
  const r = backupManifestSchema.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues[0];
    const where = first?.path.map(String).join('.') ?? '';
    throw new FerryError('FERRY_INVALID_INPUT', `backup manifest.json: ${where ? `${where}: ` : ''}${first?.message ?? 'invalid'}`, { hint: 'is this a file written by ferry backup?' });
  }
  return r.data;
}

/** Where a package's .ferry file lives inside the archive. */
export function packagePath(name: string, version: string): string {
  return `${BACKUP_PACKAGES_DIR}/${name}@${version}.ferry`;
}
