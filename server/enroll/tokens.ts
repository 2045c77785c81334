// Join tokens: what an administrator hands to a new host. A token carries the enrolment
// identity (which can only make a join request) and the fingerprint of the server's signing
// key, which the agent pins; its secret is stored only as a hash, with an expiry and a use count.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { FerryError } from '../../shared/errors.js';
import type { Db } from '../db/open.js';
import { decodeToken, encodeToken, type TokenBody } from '../../shared/protocol/token.js';

export interface CreatedToken {
  token: string;
  id: string;
  expiresAt: string;
  uses: number;
  tags: Record<string, string>;
}

export function createToken(
  db: Db,
  opts: { enrollPassword: string; rootFingerprint: string; natsUrl?: string; tags: Record<string, string>; ttlMs: number; uses: number },
): CreatedToken {
  const id = randomBytes(6).toString('hex');
  const secret = randomBytes(24).toString('base64url');
  const expiresAt = Date.now() + opts.ttlMs;
  db.prepare('INSERT INTO tokens (id, secret_hash, tags, expires_at, uses_left, created_at) VALUES (?, ?, ?, ?, ?, ?)').run(
    id,
    hashSecret(secret),
    JSON.stringify(opts.tags),
    expiresAt,
    opts.uses,
    Date.now(),
  );
  const body: TokenBody = { i: id, s: secret, e: opts.enrollPassword, f: opts.rootFingerprint, ...(opts.natsUrl ? { u: opts.natsUrl } : {}) };
  return { token: encodeToken(body), id, expiresAt: new Date(expiresAt).toISOString(), uses: opts.uses, tags: opts.tags };
}

/** Check and use up one use of a token, atomically. Returns the tags it grants. */
export function consumeToken(db: Db, token: string, now = Date.now()): Record<string, string> {
  const body = decodeToken(token);
  return db.transaction(() => {
    const row = db.prepare('SELECT secret_hash, tags, expires_at, uses_left FROM tokens WHERE id = ?').get(body.i) as
      | { secret_hash: string; tags: string; expires_at: number; uses_left: number }
      | undefined;
    if (!row || !sameHash(row.secret_hash, hashSecret(body.s))) throw invalid('it is unknown to this server');
    if (row.expires_at <= now) throw invalid('it has expired');
    if (row.uses_left <= 0) throw invalid('it has no uses left');
    db.prepare('UPDATE tokens SET uses_left = uses_left - 1 WHERE id = ?').run(body.i);
    return JSON.parse(row.tags) as Record<string, string>;
  })();
}

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

function sameHash(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

function invalid(why: string): FerryError {
  return new FerryError('FERRY_TOKEN_INVALID', `join token refused: ${why}`, { hint: 'create a new one with: ferry token create' });
}
