// The trust document: which keys the fleet trusts, for what, and until when. It is signed by the
// root key, whose fingerprint an agent pins at join (it comes in the join token). Agents accept a
// new document only when it is newer and signed by the root they trust; a document that names a
// new root must be signed by the old root and the new one. Online keys sign packages (DML records)
// and commands (desired states); an expired document stops new installs.
import * as z from 'zod';
import { FerryError } from '../errors.js';
import { keyFingerprint, openEnvelope, signBytes, verifySignature, type SignedEnvelope, type SigningKeyPair } from './sign.js';

export const TRUST_ROLES = ['packages', 'commands'] as const;
export type TrustRole = (typeof TRUST_ROLES)[number];

export const trustDocSchema = z
  .object({
    type: z.literal('ferry-trust'),
    version: z.number().int().positive(),
    issuedAt: z.string(),
    expiresAt: z.string(),
    root: z.object({ publicKey: z.string().max(64) }).strict(),
    keys: z.array(z.object({ publicKey: z.string().max(64), roles: z.array(z.enum(TRUST_ROLES)).min(1) }).strict()).min(1).max(16),
  })
  .strict();
export type TrustDoc = z.infer<typeof trustDocSchema>;

export const signedTrustSchema = z
  .object({
    payload: z.string().max(64 * 1024),
    signatures: z.array(z.object({ key: z.string().max(128), sig: z.string().max(128) }).strict()).min(1).max(4),
  })
  .strict();
export type SignedTrust = z.infer<typeof signedTrustSchema>;

export function issueTrust(doc: TrustDoc, signers: SigningKeyPair[]): SignedTrust {
  const payload = JSON.stringify(doc);
  return { payload, signatures: signers.map((k) => ({ key: keyFingerprint(k.publicKey), sig: signBytes(k.secretKey, Buffer.from(payload, 'utf8')) })) };
}

function parse(signed: SignedTrust): TrustDoc {
  let json: unknown;
  try {
    json = JSON.parse(signed.payload);
  } catch {
    throw new FerryError('FERRY_INVALID_MESSAGE', 'trust document is not JSON');
  }
  const r = trustDocSchema.safeParse(json);
  if (!r.success) throw new FerryError('FERRY_INVALID_MESSAGE', `trust document is malformed: ${r.error.issues[0]?.path.join('.')}: ${r.error.issues[0]?.message}`);
  return r.data;
}

function signedBy(signed: SignedTrust, publicKey: string): boolean {
  const fp = keyFingerprint(publicKey);
  return signed.signatures.some((s) => s.key === fp && verifySignature(publicKey, Buffer.from(signed.payload, 'utf8'), s.sig));
}

/** First contact: the document's root must be the pinned one and must have signed it. */
export function verifyInitialTrust(signed: SignedTrust, pinnedRootFingerprint: string): TrustDoc {
  const doc = parse(signed);
  if (keyFingerprint(doc.root.publicKey) !== pinnedRootFingerprint) {
    throw new FerryError('FERRY_UNTRUSTED_KEY', `the server's root key ${keyFingerprint(doc.root.publicKey)} is not the one in the join token (${pinnedRootFingerprint})`, {
      hint: 'this is not the server that issued the token: refusing to trust it',
    });
  }
  if (!signedBy(signed, doc.root.publicKey)) throw new FerryError('FERRY_SIGNATURE_INVALID', 'trust document is not signed by its root key');
  return doc;
}

/**
 * An update of a trusted document. Returns the current document for a replay of itself, the new
 * one when it is newer and properly signed; refuses older versions and unsigned root changes.
 */
export function verifyTrustUpdate(current: TrustDoc, signed: SignedTrust): TrustDoc {
  const doc = parse(signed);
  if (doc.version < current.version) throw new FerryError('FERRY_COMMAND_REJECTED', `trust document version ${doc.version} is older than the trusted ${current.version} (rollback refused)`);
  if (doc.version === current.version) {
    if (JSON.stringify(doc) !== JSON.stringify(current)) throw new FerryError('FERRY_SIGNATURE_INVALID', `two different trust documents claim version ${doc.version}`);
    return current;
  }
  if (!signedBy(signed, current.root.publicKey)) throw new FerryError('FERRY_SIGNATURE_INVALID', `trust document v${doc.version} is not signed by the trusted root key ${keyFingerprint(current.root.publicKey)}`);
  if (doc.root.publicKey !== current.root.publicKey && !signedBy(signed, doc.root.publicKey)) {
    throw new FerryError('FERRY_SIGNATURE_INVALID', `trust document v${doc.version} changes the root key but is not signed by the new root`);
  }
  return doc;
}

export function assertTrustCurrent(doc: TrustDoc, now = Date.now()): void {
  if (Date.parse(doc.expiresAt) <= now) {
    throw new FerryError('FERRY_TRUST_EXPIRED', `the trust document (v${doc.version}) expired at ${doc.expiresAt}; no new installs until it is renewed`, {
      hint: 'on the server: ferry keys rotate',
    });
  }
}

/** Open an envelope signed by a key the document trusts for `role`. */
export function openTrusted<S extends z.ZodType>(doc: TrustDoc, role: TrustRole, envelope: SignedEnvelope, schema: S, what: string): z.output<S> {
  const key = doc.keys.find((k) => k.roles.includes(role) && keyFingerprint(k.publicKey) === envelope.key);
  if (!key) throw new FerryError('FERRY_UNTRUSTED_KEY', `${what} is signed by ${envelope.key}, which the trust document (v${doc.version}) does not trust for ${role}`);
  return openEnvelope(key.publicKey, envelope, schema, what);
}
