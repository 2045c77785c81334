import { describe, expect, it } from 'vitest';
import { decode, encodeUser } from '@nats-io/jwt';
import { createAccount, createUser } from '@nats-io/nkeys';
import { nativeKeyPair } from '../../shared/nats/nkey-auth.js';
import { encodeScopedUser } from './accounts.js';

const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe('encodeScopedUser', () => {
  it('makes the claims @nats-io/jwt makes for a scoped user, in the same order, with a valid signature', async () => {
    const account = createAccount().getPublicKey();
    const signer = nativeKeyPair(text(createAccount().getSeed()));
    const user = createUser().getPublicKey();
    for (const exp of [undefined, 2_000_000_000]) {
      const ours = encodeScopedUser('agent-1', user, account, signer, exp);
      const theirs = await encodeUser('agent-1', user, account, {}, { signer, scopedUser: true, ...(exp ? { exp } : {}) });
      expect(ours.split('.')[0]).toBe(theirs.split('.')[0]);
      const strip = (jwt: string) => JSON.stringify(decode(jwt), (k, v: unknown) => (k === 'iat' || k === 'jti' ? undefined : v));
      expect(strip(ours)).toBe(strip(theirs)); // decode() verifies the signature
      const claim = decode<Record<string, unknown>>(ours);
      expect(Object.keys(claim)).toEqual(Object.keys(decode<Record<string, unknown>>(theirs)));
    }
  });

  it('refuses a key that is not a user nkey', () => {
    const signer = nativeKeyPair(text(createAccount().getSeed()));
    expect(() => encodeScopedUser('x', createAccount().getPublicKey(), createAccount().getPublicKey(), signer)).toThrow();
    const user = createUser().getPublicKey();
    const altered = `${user.slice(0, -1)}${user.endsWith('A') ? 'B' : 'A'}`; // a broken CRC
    expect(() => encodeScopedUser('x', altered, createAccount().getPublicKey(), signer)).toThrow();
  });
});
