// Join tokens: what an administrator hands to a new host. A token carries its own enrolment
// credential (a NATS user of the ENROLL account that expires with the token and is revoked when
// its uses are used up or the token is revoked), a secret the host proves without sending it, and
// the fingerprint of the server's root key, which the agent pins. The server keeps only the
// secret's SHA-256, the expiry, the uses left and the enrolment user's public key.
import { createHash, randomBytes } from 'node:crypto';
import { FerryError } from '../../shared/errors.js';
import { createNativeUser } from '../../shared/nats/nkey-auth.js';
import { tagsSchema } from '../../shared/protocol/messages.js';
import { encodeToken, type TokenBody } from '../../shared/protocol/token.js';
import type { Db } from '../db/open.js';
import { statementCache, type Prepare } from '../../shared/sqlite.js';

export type { CreatedToken } from '../../shared/protocol/replies.js';
import type { CreatedToken } from '../../shared/protocol/replies.js';

/** The reply shape of token.list / token.revoke lives with the protocol (shared/protocol/replies.ts). */
export type { TokenInfo } from '../../shared/protocol/replies.js';
import type { TokenInfo } from '../../shared/protocol/replies.js';

export interface TokenIssuer {
  issueEnroll(tokenId: string, nkey: string, expiresAtMs: number): Promise<string>;
}

export async function createToken(
  db: Db,
  issuer: TokenIssuer,
  opts: { rootFingerprint: string; natsUrl?: string; tags: Record<string, string>; ttlMs: number; uses: number; site?: { name: string; url: string } },
): Promise<CreatedToken> {
  // Tags reach the agent in its join reply: refuse now what the agent would refuse then.
  const tags = tagsSchema.safeParse(opts.tags);
  if (!tags.success) throw new FerryError('FERRY_INVALID_INPUT', `--tag: ${tags.error.issues[0]?.path.join('.') ?? ''} ${tags.error.issues[0]?.message ?? 'is not valid'}`.trim(), { hint: 'tag keys are 1-64 of A-Z a-z 0-9 _ . -; values are up to 256 characters without control characters' });
  const id = randomBytes(6).toString('hex');
  const secret = randomBytes(24).toString('base64url');
  const expiresAt = Date.now() + opts.ttlMs;
  const enrollUser = createNativeUser();
  const enrollSeed = enrollUser.seed;
  const jwt = await issuer.issueEnroll(id, enrollUser.publicKey, expiresAt);
  db.prepare('INSERT INTO tokens (id, secret_hash, tags, expires_at, uses_left, created_at, enroll_nkey) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
    id,
    hashSecret(secret),
    JSON.stringify(tags.data),
    expiresAt,
    opts.uses,
    Date.now(),
    enrollUser.publicKey,
  );
  // A site's token: the agent joins at the hub, then runs through the site (the hub its fallback).
  const body: TokenBody = { i: id, s: secret, f: opts.rootFingerprint, j: jwt, k: enrollSeed, ...(opts.natsUrl ? { u: opts.natsUrl } : {}), ...(opts.site ? { n: opts.site.name, l: opts.site.url } : {}) };
  return { token: encodeToken(body), id, expiresAt: new Date(expiresAt).toISOString(), uses: opts.uses, tags: tags.data, ...(opts.site ? { site: opts.site.name } : {}) };
}

// Statements of the join path, compiled once per database (compiling cost more than running them).
const caches = new WeakMap<Db, Prepare>();
function sql(db: Db, text: string) {
  let cache = caches.get(db);
  if (!cache) caches.set(db, (cache = statementCache(db)));
  return cache(text);
}

/** The key a token's join proofs are made with (the stored SHA-256 of its secret); undefined if unknown. */
export function tokenProofKey(db: Db, id: string): Buffer | undefined {
  const row = sql(db, 'SELECT secret_hash FROM tokens WHERE id = ?').get(id) as { secret_hash: string } | undefined;
  return row ? Buffer.from(row.secret_hash, 'hex') : undefined;
}

/**
 * A token a host may join with now (known, not revoked, not expired, a use left), or the join's
 * refusal (FERRY_TOKEN_INVALID, saying why). Reads only: a challenge asks it before any proof.
 */
export function usableToken(db: Db, id: string, now = Date.now()): { tags: Record<string, string>; usesLeft: number } {
  const row = sql(db, 'SELECT tags, expires_at, uses_left, revoked_at FROM tokens WHERE id = ?').get(id) as
    | { tags: string; expires_at: number; uses_left: number; revoked_at: number | null }
    | undefined;
  if (!row) throw invalid('it is unknown to this server');
  if (row.revoked_at !== null) throw invalid('it was revoked');
  if (row.expires_at <= now) throw invalid('it has expired');
  if (row.uses_left <= 0) throw invalid('it has no uses left');
  return { tags: JSON.parse(row.tags) as Record<string, string>, usesLeft: row.uses_left };
}

/** Check and use up one use of a token (call inside a transaction). */
export function consumeToken(db: Db, id: string, now = Date.now()): { tags: Record<string, string>; usesLeft: number } {
  const token = usableToken(db, id, now);
  sql(db, 'UPDATE tokens SET uses_left = uses_left - 1 WHERE id = ?').run(id);
  return { tags: token.tags, usesLeft: token.usesLeft - 1 };
}

/** Revoke a token: no further join, and its enrolment user is cut off (the caller pushes the update). */
export function revokeToken(db: Db, id: string, now = Date.now()): TokenInfo {
  const token = getToken(db, id, now);
  if (!token) throw new FerryError('FERRY_NOT_FOUND', `no token ${id}`, { hint: 'ferry token list shows the tokens' });
  if (token.state === 'revoked') throw new FerryError('FERRY_CONFLICT', `token ${id} is already revoked`);
  db.prepare('UPDATE tokens SET revoked_at = ? WHERE id = ?').run(now, id);
  return getToken(db, id, now)!;
}

export function listTokens(db: Db, now = Date.now()): TokenInfo[] {
  return (db.prepare('SELECT * FROM tokens ORDER BY created_at DESC, id').all() as TokenRow[]).map((r) => tokenInfo(r, now));
}

function getToken(db: Db, id: string, now: number): TokenInfo | undefined {
  const row = db.prepare('SELECT * FROM tokens WHERE id = ?').get(id) as TokenRow | undefined;
  return row ? tokenInfo(row, now) : undefined;
}

interface TokenRow {
  id: string;
  tags: string;
  expires_at: number;
  uses_left: number;
  created_at: number;
  revoked_at: number | null;
}

function tokenInfo(r: TokenRow, now: number): TokenInfo {
  const state = r.revoked_at !== null ? 'revoked' : r.expires_at <= now ? 'expired' : r.uses_left <= 0 ? 'used-up' : 'active';
  return {
    id: r.id,
    tags: JSON.parse(r.tags) as Record<string, string>,
    createdAt: new Date(r.created_at).toISOString(),
    expiresAt: new Date(r.expires_at).toISOString(),
    usesLeft: r.uses_left,
    state,
    ...(r.revoked_at !== null ? { revokedAt: new Date(r.revoked_at).toISOString() } : {}),
  };
}

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

function invalid(why: string): FerryError {
  return new FerryError('FERRY_TOKEN_INVALID', `join token refused: ${why}`, { hint: 'create a new one with: ferry token create' });
}
