// NATS credentials files: a user JWT and the nkey seed it was issued for, in the standard
// `.creds` layout that nats-server's tools and every NATS client read.
import { readFileSync } from 'node:fs';
import { FerryError } from '../errors.js';

export interface NatsCreds {
  jwt: string;
  seed: string;
}

const JWT_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const USER_SEED_RE = /^SU[A-Z2-7]{56}$/;

export function formatCreds(creds: NatsCreds): string {
  return [
    '-----BEGIN NATS USER JWT-----',
    creds.jwt,
    '------END NATS USER JWT------',
    '',
    '************************* IMPORTANT *************************',
    'NKEY Seed printed below can be used to sign and prove identity.',
    'NKEYs are sensitive and should be treated as secrets.',
    '',
    '-----BEGIN USER NKEY SEED-----',
    creds.seed,
    '------END USER NKEY SEED------',
    '',
  ].join('\n');
}

/** A JWT's claims, decoded but not verified: only for JWTs this process issued or is about to check another way. */
export function jwtClaims(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** When a JWT was issued (its iat, in ms). */
export function jwtIssuedAt(jwt: string): number {
  const iat = jwtClaims(jwt).iat;
  if (typeof iat !== 'number') throw new Error('the JWT has no iat');
  return iat * 1000;
}

/** Parse a `.creds` text; undefined when it is not one. */
export function parseCreds(text: string): NatsCreds | undefined {
  const blocks = [...text.matchAll(/-{3,}BEGIN [^\n]*-{3,}\s*\n\s*(\S+)\s*\n\s*-{3,}END [^\n]*-{3,}/g)].map((m) => m[1]!);
  const [jwt, seed] = blocks;
  if (!jwt || !seed || !JWT_RE.test(jwt) || !USER_SEED_RE.test(seed)) return undefined;
  return { jwt, seed };
}

export function readCredsFile(file: string): NatsCreds {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new FerryError('FERRY_NOT_INITIALIZED', `cannot read credentials ${file}: ${(err as Error).message}`, {
      hint: 'run `ferry init` first, or pass --creds FILE with a NATS credentials file',
    });
  }
  const creds = parseCreds(text);
  if (!creds) {
    throw new FerryError('FERRY_CREDS_INVALID', `${file} is not a NATS credentials file (a user JWT and its nkey seed)`, {
      hint: /^S[A-Z2-7]{57}\s*$/.test(text) ? 'this is a bare nkey seed from before decentralised auth: use keys/admin.creds of the data directory (ferry server writes it)' : 'pass the .creds file that ferry init or ferry operator add wrote',
    });
  }
  return creds;
}
