// Offline (air-gapped) bundles: `ferry dml export` writes DML packages, their signed records and
// the trust document into one tar file; `ferry dml import` on another server checks all of it
// against a root key fingerprint it is told to trust before anything is added.
//
// A bundle is a tar of regular files only:
//   bundle.json                    {format, trust, index, packages: [{name, version, file, record}]}
//   packages/NAME@VERSION.ferry    the package bytes
// `index` is an envelope signed by the exporting DML's signing key listing every package's
// name, version, SHA-256 and size; each `record` is that package's DML record. Both verify under
// `trust` (signed by the root), so a file added, dropped, swapped or changed anywhere is refused.
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { sha256File } from '../../shared/crypto/file-hash.js';
import * as tar from 'tar';
import * as z from 'zod';
import { FerryError } from '../../shared/errors.js';
import { keyFingerprint, type SignedEnvelope } from '../../shared/crypto/sign.js';
import { assertTrustCurrent, openTrusted, signedTrustSchema, verifyInitialTrust, type SignedTrust } from '../../shared/crypto/trust.js';
import { dmlRecordSchema, packageNameSchema, signedEnvelopeSchema, versionSchema, type DmlRecord } from '../../shared/protocol/messages.js';

export const BUNDLE_FORMAT = 'ferry-bundle/1';
const MAX_PACKAGES = 100;
const MAX_BUNDLE_JSON_BYTES = 4 * 1024 * 1024;
const PACKAGE_ENTRY = /^packages\/[a-z0-9][a-z0-9._-]*@[A-Za-z0-9.+-]+\.ferry$/;

export const bundleIndexSchema = z
  .object({
    format: z.literal(BUNDLE_FORMAT),
    createdAt: z.string(),
    packages: z.array(z.object({ name: packageNameSchema, version: versionSchema, sha256: z.string().regex(/^[0-9a-f]{64}$/), size: z.number().int().nonnegative() }).strict()).min(1).max(MAX_PACKAGES),
  })
  .strict();
export type BundleIndex = z.infer<typeof bundleIndexSchema>;

/** What the server hands `ferry dml export`: everything but the bytes, which the CLI reads itself. */
export interface BundleExport {
  trust: SignedTrust;
  index: SignedEnvelope;
  packages: { name: string; version: string; object: string; sha256: string; size: number; record: SignedEnvelope }[];
}

const bundleJsonSchema = z
  .object({
    format: z.literal(BUNDLE_FORMAT),
    trust: signedTrustSchema,
    index: signedEnvelopeSchema,
    packages: z.array(z.object({ name: packageNameSchema, version: versionSchema, file: z.string().regex(PACKAGE_ENTRY), record: signedEnvelopeSchema }).strict()).min(1).max(MAX_PACKAGES),
  })
  .strict();
type BundleJson = z.infer<typeof bundleJsonSchema>;

export function packageEntryName(name: string, version: string): string {
  return `packages/${name}@${version}.ferry`;
}

/** The bundle.json of an export (the package files go beside it under packages/). */
export function bundleJson(exp: BundleExport): string {
  const doc: BundleJson = {
    format: BUNDLE_FORMAT,
    trust: exp.trust,
    index: exp.index,
    packages: exp.packages.map((p) => ({ name: p.name, version: p.version, file: packageEntryName(p.name, p.version), record: p.record })),
  };
  return JSON.stringify(doc, null, 2);
}

/** Write the tar: `dir` holds bundle.json and packages/. */
export async function writeBundleTar(dir: string, out: string, entries: string[]): Promise<void> {
  await tar.c({ file: out, cwd: dir, portable: true, noMtime: true }, ['bundle.json', ...entries]);
}

function invalid(message: string, hint?: string): FerryError {
  return new FerryError('FERRY_BUNDLE_INVALID', message, hint ? { hint } : {});
}

/**
 * Unpack a bundle into the empty directory `dir`: regular files named like a bundle's, nothing
 * else (no links, no other paths), and no more bytes than `maxBytes`.
 */
export async function unpackBundle(file: string, dir: string, maxBytes: number): Promise<void> {
  if (!statSync(file, { throwIfNoEntry: false })?.isFile()) throw new FerryError('FERRY_NOT_FOUND', `${file} is not a file`);
  const refused: string[] = [];
  let total = 0;
  let count = 0;
  mkdirSync(dir, { recursive: true });
  try {
    await tar.x({
      file,
      cwd: dir,
      strict: true,
      preserveOwner: false,
      maxDepth: 3,
      filter: (path, entry) => {
        const e = entry as tar.ReadEntry;
        const ok = e.type === 'File' && (path === 'bundle.json' || PACKAGE_ENTRY.test(path)) && ++count <= MAX_PACKAGES + 1 && (total += e.size ?? 0) <= maxBytes;
        if (!ok && e.type !== 'Directory') refused.push(path);
        return ok;
      },
      onReadEntry: (entry) => {
        entry.mode = 0o600;
      },
    });
  } catch (err) {
    throw invalid(`${file} is not a readable bundle: ${(err as Error).message}`);
  }
  if (refused.length) throw new FerryError('FERRY_ARCHIVE_UNSAFE', `bundle entry ${JSON.stringify(refused[0])} is not a bundle file (only bundle.json and packages/NAME@VERSION.ferry, regular files)`);
}


export interface VerifiedBundle {
  rootFingerprint: string;
  createdAt: string;
  packages: { name: string; version: string; sha256: string; size: number; file: string }[];
}

/**
 * Check an unpacked bundle completely: the trust document under the pinned root, the signed index,
 * each record, each file's size and SHA-256. Throws at the first thing that does not hold.
 */
export async function verifyBundle(dir: string, trustRoot: string): Promise<VerifiedBundle> {
  const jsonFile = join(dir, 'bundle.json');
  const st = statSync(jsonFile, { throwIfNoEntry: false });
  if (!st?.isFile()) throw invalid('the bundle has no bundle.json');
  if (st.size > MAX_BUNDLE_JSON_BYTES) throw invalid('bundle.json is too large');
  let parsed: BundleJson;
  try {
    parsed = bundleJsonSchema.parse(JSON.parse(readFileSync(jsonFile, 'utf8')));
  } catch (err) {
    const issue = err instanceof z.ZodError ? `${err.issues[0]?.path.join('.')}: ${err.issues[0]?.message}` : (err as Error).message;
    throw invalid(`bundle.json is malformed (${issue})`);
  }
  const doc = verifyInitialTrust(parsed.trust, trustRoot);
  assertTrustCurrent(doc);
  const index = openTrusted(doc, 'packages', parsed.index, bundleIndexSchema, 'bundle index');
  const listed = new Map(index.packages.map((p) => [`${p.name}@${p.version}`, p]));
  if (listed.size !== index.packages.length) throw invalid('the bundle index lists a package twice');
  const names = parsed.packages.map((p) => `${p.name}@${p.version}`);
  if (names.length !== listed.size || names.some((n) => !listed.has(n)) || new Set(names).size !== names.length) {
    throw invalid('the packages in bundle.json are not the ones its signed index lists');
  }
  const packages: VerifiedBundle['packages'] = [];
  for (const p of parsed.packages) {
    const want = listed.get(`${p.name}@${p.version}`)!;
    const record: DmlRecord = openTrusted(doc, 'packages', p.record, dmlRecordSchema, `DML record of ${p.name}@${p.version}`);
    if (record.name !== p.name || record.version !== p.version || record.sha256 !== want.sha256 || record.size !== want.size) {
      throw invalid(`the DML record of ${p.name}@${p.version} does not match the bundle index`);
    }
    if (p.file !== packageEntryName(p.name, p.version)) throw invalid(`${p.name}@${p.version} is stored as ${p.file}`);
    const file = join(dir, p.file);
    const size = statSync(file, { throwIfNoEntry: false });
    if (!size?.isFile()) throw invalid(`${p.file} is missing from the bundle`);
    if (size.size !== record.size) throw new FerryError('FERRY_DIGEST_MISMATCH', `${p.file} is ${size.size} bytes; its signed record says ${record.size}`);
    const { sha256 } = await sha256File(file);
    if (sha256 !== record.sha256) throw new FerryError('FERRY_DIGEST_MISMATCH', `${p.file} has SHA-256 ${sha256}; its signed record says ${record.sha256}`);
    packages.push({ name: p.name, version: p.version, sha256, size: record.size, file });
  }
  return { rootFingerprint: keyFingerprint(doc.root.publicKey), createdAt: index.createdAt, packages };
}
