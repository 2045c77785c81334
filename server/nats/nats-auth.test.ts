import { describe, expect, it } from 'vitest';
import { encodeAccount } from '@nats-io/jwt';
import { createAccount, createOperator } from '@nats-io/nkeys';
import { claimsKey } from './nats-auth.js';

const decodePayload = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as { iat: number };
/** The JWT with some payload fields replaced (its signature no longer matches: claimsKey does not verify). */
function resigned(jwt: string, fields: Record<string, unknown>): string {
  const [header, , signature] = jwt.split('.');
  const payload = Buffer.from(JSON.stringify({ ...decodePayload(jwt), ...fields })).toString('base64url');
  return `${header}.${payload}.${signature}`;
}

describe('claimsKey', () => {
  const operator = createOperator();
  const account = createAccount().getPublicKey();
  const sign = (exports: { name: string; subject: string }[]) =>
    encodeAccount('FERRY', account, { exports: exports.map((e) => ({ ...e, type: 'service' as const })) }, { signer: operator });

  it('is the same for two signings of the same claims (iat and jti differ)', async () => {
    const first = await sign([{ name: 'api', subject: 'ferry.api.>' }]);
    const second = resigned(first, { iat: decodePayload(first).iat + 60, jti: 'ANOTHERJTI' }); // signed a minute later
    expect(second).not.toBe(first); // comparing whole JWTs would push every account again
    expect(claimsKey(second)).toBe(claimsKey(first));
  });

  it('differs when the claims differ', async () => {
    const before = await sign([{ name: 'api', subject: 'ferry.api.>' }]);
    const after = await sign([{ name: 'api', subject: 'ferry.api.>' }, { name: 'enroll', subject: 'ferry.enroll' }]);
    expect(claimsKey(after)).not.toBe(claimsKey(before));
  });
});
