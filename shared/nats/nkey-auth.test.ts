import { describe, expect, it } from 'vitest';
import { createUser } from '@nats-io/nkeys';
import { nkeyAuthenticator } from '@nats-io/transport-node';
import { nativeNkeyAuthenticator } from './nkey-auth.js';

describe('nativeNkeyAuthenticator', () => {
  it('answers a nonce exactly as the client library does', () => {
    const kp = createUser();
    const seed = new TextDecoder().decode(kp.getSeed());
    const ours = nativeNkeyAuthenticator(seed);
    expect(ours.publicKey).toBe(kp.getPublicKey());
    const nonce = 'xBg4pGlM9yGd2x6';
    expect(ours.authenticator(nonce)).toEqual(nkeyAuthenticator(new TextEncoder().encode(seed))(nonce));
  });

  it('refuses something that is not a seed', () => {
    expect(() => nativeNkeyAuthenticator('SUNOTASEED')).toThrow();
  });
});
