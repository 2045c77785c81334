// The bootstrap admin: the data directory's keys/admin.creds is the first operator ("admin",
// role admin), so the quick start needs no `operator add`. Its signing key is added to that file
// once (an older data directory's file has none) and its public half registered.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { generateSigningKeyPair } from '../../shared/crypto/sign.js';
import { operatorKeyBlock, parseOperatorKey } from '../../shared/operators/credentials.js';
import { parseCreds } from '../../shared/nats/creds.js';
import { nativePublicKey } from '../../shared/nats/nkey-auth.js';
import { FerryError } from '../../shared/errors.js';
import { publicKeyOf } from './keys.js';
import type { OperatorRegistry } from './registry.js';

export const BOOTSTRAP_ADMIN = 'admin';

export function ensureBootstrapAdmin(credsFile: string, registry: OperatorRegistry): void {
  let text = readFileSync(credsFile, 'utf8');
  const creds = parseCreds(text);
  if (!creds) throw new FerryError('FERRY_CREDS_INVALID', `${credsFile} is not a NATS credentials file`);
  let key = parseOperatorKey(text);
  if (!key || key.operator !== BOOTSTRAP_ADMIN) {
    const pair = generateSigningKeyPair();
    key = { operator: BOOTSTRAP_ADMIN, secretKey: pair.secretKey };
    text = `${text.replace(/\n?\*+ IMPORTANT \*+\nThe key below signs[\s\S]*$/, '').trimEnd()}\n\n${operatorKeyBlock(key)}`;
    const tmp = `${credsFile}.${process.pid}.tmp`;
    writeFileSync(tmp, text, { mode: 0o600 });
    renameSync(tmp, credsFile);
  }
  registry.upsertBootstrapAdmin(BOOTSTRAP_ADMIN, nativePublicKey(creds.seed), publicKeyOf(key.secretKey));
}
