import { describe, expect, it } from 'vitest';
import { createUser } from '@nats-io/nkeys';
import { jwtAuthenticator, nkeyAuthenticator } from '@nats-io/transport-node';
import { nativeAuthenticator, nativeKeyPair } from './nkey-auth.js';

describe('native nkeys', () => {
  it('answer a nonce exactly as the client library does, with and without a JWT', () => {
    const kp = createUser();
    const seed = new TextDecoder().decode(kp.getSeed());
    expect(nativeKeyPair(seed).publicKey).toBe(kp.getPublicKey());
    const nonce = 'xBg4pGlM9yGd2x6';
    expect(nativeAuthenticator(seed)(nonce)).toEqual(nkeyAuthenticator(new TextEncoder().encode(seed))(nonce));
    expect(nativeAuthenticator(seed, 'a.b.c')(nonce)).toEqual(jwtAuthenticator('a.b.c', new TextEncoder().encode(seed))(nonce));
  });

  it('sign what tweetnacl signs, and verify it', () => {
    const kp = createUser();
    const native = nativeKeyPair(new TextDecoder().decode(kp.getSeed()));
    const data = new TextEncoder().encode('a JWT header.payload');
    const sig = native.sign(data);
    expect(Buffer.from(sig)).toEqual(Buffer.from(kp.sign(data)));
    expect(native.verify(data, sig)).toBe(true);
    expect(kp.verify(data, sig)).toBe(true);
  });

  it('refuse something that is not a seed', () => {
    expect(() => nativeKeyPair('SUNOTASEED')).toThrow();
  });
});
