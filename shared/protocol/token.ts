// The join token's wire format, shared by the server (which issues tokens) and agents (which
// present them). A token carries its id; its secret, which never leaves the host (the agent sends
// an HMAC of a fresh server challenge instead); its own enrolment credential (a NATS user that
// expires with the token and may only ask for a challenge and a join); the fingerprint of the
// server's root key, which the agent pins; and the server's URL.
import * as z from 'zod';
import { FerryError } from '../errors.js';

const TOKEN_PREFIX = 'FERRY2.';
const LEGACY_PREFIX = 'FERRY1.';

export const tokenBodySchema = z
  .object({
    i: z.string().regex(/^[0-9a-f]{12}$/),
    s: z.string().min(16).max(128),
    f: z.string().max(128),
    /** the enrolment user's JWT and nkey seed */
    j: z.string().max(4096),
    k: z.string().regex(/^SU[A-Z2-7]{56}$/),
    u: z.string().max(1024).optional(),
    /** a site's token (ferry token create --site): the site's name and where its agents connect */
    n: z.string().regex(/^[a-z][a-z0-9-]{0,30}$/).optional(),
    l: z.string().max(1024).optional(),
  })
  .strict();
export type TokenBody = z.infer<typeof tokenBodySchema>;

export function encodeToken(body: TokenBody): string {
  return TOKEN_PREFIX + Buffer.from(JSON.stringify(body)).toString('base64url');
}

export function decodeToken(token: string): TokenBody {
  const refuse = (why: string, hint = 'create a new one with: ferry token create') => new FerryError('FERRY_TOKEN_INVALID', `join token refused: ${why}`, { hint });
  if (token.startsWith(LEGACY_PREFIX)) throw refuse('it was made before decentralised auth (FERRY1) and no longer works');
  if (!token.startsWith(TOKEN_PREFIX)) throw refuse('it does not start with FERRY2.');
  try {
    return tokenBodySchema.parse(JSON.parse(Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64url').toString('utf8')));
  } catch {
    throw refuse('it is not a Ferry join token');
  }
}
