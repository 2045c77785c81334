// Signed admin requests: who sent a request is proven by an Ed25519 signature over the verb, a
// hash of the body, the time and a fresh nonce, made with the operator's own key. The server
// checks it against its operator registry (server/operators/), so no caller can name themselves.
// Shared by the CLI (signs) and the server (verifies); the text signed is defined once, here.
import { createHash, randomBytes } from 'node:crypto';
import { signBytes, verifySignature } from '../crypto/sign.js';

/** The NATS header that carries the signature: `v1 <operator> <unix ms> <nonce> <signature>`. */
export const AUTH_HEADER = 'Ferry-Auth';
/** Operator names: short, lower case, safe in a NATS subject token and a terminal. */
export const OPERATOR_NAME_RE = /^[a-z][a-z0-9-]{0,31}$/;

export interface RequestAuth {
  operator: string;
  at: number;
  nonce: string;
  signature: string;
}

/** The exact bytes signed; a domain prefix keeps these signatures from meaning anything else. */
export function signedText(verb: string, body: Uint8Array, operator: string, at: number, nonce: string): Uint8Array {
  const bodyHash = createHash('sha256').update(body).digest('hex');
  return Buffer.from(`ferry-api-request-v1\n${verb}\n${bodyHash}\n${operator}\n${at}\n${nonce}`);
}

/** The header value for one request. */
export function signRequest(key: { operator: string; secretKey: string }, verb: string, body: Uint8Array, now = Date.now()): string {
  const nonce = randomBytes(16).toString('base64url');
  const signature = signBytes(key.secretKey, signedText(verb, body, key.operator, now, nonce));
  return `v1 ${key.operator} ${now} ${nonce} ${signature}`;
}

/** Parse the header; undefined when it is malformed. */
export function parseRequestAuth(header: string | undefined): RequestAuth | undefined {
  const parts = (header ?? '').split(' ');
  if (parts.length !== 5 || parts[0] !== 'v1') return undefined;
  const [, operator, at, nonce, signature] = parts as [string, string, string, string, string];
  if (!OPERATOR_NAME_RE.test(operator) || !/^\d{1,15}$/.test(at) || !/^[A-Za-z0-9_-]{16,64}$/.test(nonce) || signature.length > 128) return undefined;
  return { operator, at: Number(at), nonce, signature };
}

export function verifyRequestSignature(publicKey: string, verb: string, body: Uint8Array, auth: RequestAuth): boolean {
  return verifySignature(publicKey, signedText(verb, body, auth.operator, auth.at, auth.nonce), auth.signature);
}
