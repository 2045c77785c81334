// An operator's credentials file: the standard NATS `.creds` (user JWT + nkey seed, which any NATS
// tool reads) followed by one more block, the operator's name and the Ed25519 key that signs their
// admin requests. One file, so `--creds FILE` is all a person carries.
import { FerryError } from '../errors.js';
import { formatCreds, type NatsCreds } from '../nats/creds.js';
import { OPERATOR_NAME_RE } from './request-signature.js';

export interface OperatorKey {
  operator: string;
  /** base64 of the 64-byte Ed25519 secret key (shared/crypto/sign.ts) */
  secretKey: string;
}

const BEGIN = '-----BEGIN FERRY OPERATOR KEY-----';
const END = '------END FERRY OPERATOR KEY------';

export function formatOperatorCreds(creds: NatsCreds, key: OperatorKey): string {
  return `${formatCreds(creds)}\n${operatorKeyBlock(key)}`;
}

export function operatorKeyBlock(key: OperatorKey): string {
  return ['************************* IMPORTANT *************************', 'The key below signs Ferry admin requests as this operator.', '', BEGIN, `${key.operator}:${key.secretKey}`, END, ''].join('\n');
}

/** The operator key in a creds file, or undefined when the file has none (a plain NATS creds file). */
export function parseOperatorKey(text: string): OperatorKey | undefined {
  const m = /-----BEGIN FERRY OPERATOR KEY-----\s*\n\s*([^\s:]+):([A-Za-z0-9+/=]{80,100})\s*\n\s*------END FERRY OPERATOR KEY------/.exec(text);
  if (!m) return undefined;
  if (!OPERATOR_NAME_RE.test(m[1]!)) throw new FerryError('FERRY_CREDS_INVALID', `the operator name in the credentials file is not valid: ${JSON.stringify(m[1]!.slice(0, 40))}`);
  return { operator: m[1]!, secretKey: m[2]! };
}
