// The server's keys: the root key (signs the trust document; keep it offline in production with
// `ferry keys rotate --root-key FILE`), the online signing key (signs DML records and commands),
// and the current signed trust document naming the online key and its roles.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateSigningKeyPair, keyFingerprint, type SigningKeyPair } from '../shared/crypto/sign.js';
import { issueTrust, signedTrustSchema, trustDocSchema, type SignedTrust, type TrustDoc } from '../shared/crypto/trust.js';
import { FerryError } from '../shared/errors.js';
import type { DataPaths } from './config.js';

export const DEFAULT_TRUST_TTL_MS = 365 * 86_400_000;

export function rootKeyPath(paths: DataPaths): string {
  return join(paths.keysDir, 'root.json');
}

export function trustPath(paths: DataPaths): string {
  return join(paths.keysDir, 'trust.json');
}

/** The keys a running server signs with; reloaded in place after `ferry keys rotate`. */
export class KeyRing {
  signing!: SigningKeyPair;
  trust!: SignedTrust;
  trustDoc!: TrustDoc;

  constructor(private readonly paths: DataPaths) {
    this.reload();
  }

  reload(): void {
    this.signing = readKey(this.paths.signingKey);
    this.trust = signedTrustSchema.parse(JSON.parse(readFileSync(trustPath(this.paths), 'utf8')));
    this.trustDoc = trustDocSchema.parse(JSON.parse(this.trust.payload));
  }

  get signingFingerprint(): string {
    return keyFingerprint(this.signing.publicKey);
  }

  get rootFingerprint(): string {
    return keyFingerprint(this.trustDoc.root.publicKey);
  }
}

/** For `ferry init`: create whatever keys are missing (never replaces existing ones). */
export function ensureKeys(paths: DataPaths): string[] {
  const created: string[] = [];
  for (const file of [rootKeyPath(paths), paths.signingKey]) {
    if (!existsSync(file)) {
      writeSecret(file, JSON.stringify(generateSigningKeyPair(), null, 2));
      created.push(file);
    }
  }
  if (!existsSync(trustPath(paths))) {
    writeTrust(paths, 1, readKey(rootKeyPath(paths)), [readKey(rootKeyPath(paths))], readKey(paths.signingKey), DEFAULT_TRUST_TTL_MS);
    created.push(trustPath(paths));
  }
  return created;
}

export interface RotateResult {
  version: number;
  expiresAt: string;
  rootFingerprint: string;
  signingFingerprint: string;
  rotated: ('signing' | 'root')[];
}

/**
 * Issue a new trust document: a new online key (unless --renew-only), optionally a new root
 * (signed by the old and the new root), and a new expiry. The old keys are kept in keys/retired.
 */
export function rotateKeys(paths: DataPaths, opts: { root: boolean; signing: boolean; ttlMs: number; rootKeyFile?: string | undefined }): RotateResult {
  const current = trustDocSchema.parse(JSON.parse(signedTrustSchema.parse(JSON.parse(readFileSync(trustPath(paths), 'utf8'))).payload));
  const rootFile = opts.rootKeyFile ?? rootKeyPath(paths);
  if (!existsSync(rootFile)) throw new FerryError('FERRY_NOT_FOUND', `root key ${rootFile} not found`, { hint: 'pass --root-key FILE where you keep the root key offline' });
  const oldRoot = readKey(rootFile);
  if (oldRoot.publicKey !== current.root.publicKey) throw new FerryError('FERRY_UNTRUSTED_KEY', `${rootFile} is not the root key of the current trust document`);
  const retired = join(paths.keysDir, 'retired');
  mkdirSync(retired, { recursive: true, mode: 0o700 });
  const rotated: RotateResult['rotated'] = [];
  let signing = readKey(paths.signingKey);
  if (opts.signing) {
    writeSecret(join(retired, `signing-v${current.version}.json`), JSON.stringify(signing, null, 2));
    signing = generateSigningKeyPair();
    rotated.push('signing');
  }
  let root = oldRoot;
  if (opts.root) {
    writeSecret(join(retired, `root-v${current.version}.json`), JSON.stringify(oldRoot, null, 2));
    root = generateSigningKeyPair();
    rotated.push('root');
  }
  // Signed by the old root always, and by the new one too when the root changes.
  const doc = writeTrust(paths, current.version + 1, root, opts.root ? [oldRoot, root] : [oldRoot], signing, opts.ttlMs);
  if (opts.signing) writeSecret(paths.signingKey, JSON.stringify(signing, null, 2));
  if (opts.root) writeSecret(rootFile, JSON.stringify(root, null, 2));
  return { version: doc.version, expiresAt: doc.expiresAt, rootFingerprint: keyFingerprint(root.publicKey), signingFingerprint: keyFingerprint(signing.publicKey), rotated };
}

function writeTrust(paths: DataPaths, version: number, root: SigningKeyPair, signers: SigningKeyPair[], signing: SigningKeyPair, ttlMs: number): TrustDoc {
  const now = Date.now();
  const doc: TrustDoc = {
    type: 'ferry-trust',
    version,
    issuedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + ttlMs).toISOString(),
    root: { publicKey: root.publicKey },
    keys: [{ publicKey: signing.publicKey, roles: ['packages', 'commands'] }],
  };
  writeSecret(trustPath(paths), JSON.stringify(issueTrust(doc, signers), null, 2));
  return doc;
}

function readKey(file: string): SigningKeyPair {
  return JSON.parse(readFileSync(file, 'utf8')) as SigningKeyPair;
}

function writeSecret(file: string, content: string): void {
  writeFileSync(`${file}.tmp`, content, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}
