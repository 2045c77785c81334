// The join token's wire format, shared by the server (which issues tokens) and agents (which
// present them). A token carries its id and secret, the enrolment password (whose NATS user may
// only make a join request), the fingerprint of the server's signing key that the agent pins, and the URL.
import { z } from 'zod';
import { FerryError } from '../errors.js';

const TOKEN_PREFIX = 'FERRY1.';

export const tokenBodySchema = z.object({ i: z.string(), s: z.string(), e: z.string(), f: z.string(), u: z.string().optional() }).strict();
export type TokenBody = z.infer<typeof tokenBodySchema>;

export function encodeToken(body: TokenBody): string {
  return TOKEN_PREFIX + Buffer.from(JSON.stringify(body)).toString('base64url');
}

export function decodeToken(token: string): TokenBody {
  const refuse = (why: string) => new FerryError('FERRY_TOKEN_INVALID', `join token refused: ${why}`, { hint: 'create a new one with: ferry token create' });
  if (!token.startsWith(TOKEN_PREFIX)) throw refuse('it does not start with FERRY1.');
  try {
    return tokenBodySchema.parse(JSON.parse(Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64url').toString('utf8')));
  } catch {
    throw refuse('it is not a Ferry join token');
  }
}
