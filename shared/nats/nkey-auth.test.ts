import { describe, expect, it } from 'vitest';
import { createAccount, createOperator, createUser, fromPublic, fromSeed } from '@nats-io/nkeys';
import { nkeyAuthenticator } from '@nats-io/transport-node';
import { createNativeUser, nativeAuthenticator, nativeKeyPair, nativePublicKey } from './nkey-auth.js';

const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe('native nkeys', () => {
  it('derive the same public and private keys as the client library, for every key type', () => {
    for (const kp of [createUser(), createAccount(), createOperator()]) {
      const seed = text(kp.getSeed());
      const ours = nativeKeyPair(seed);
      expect(ours.publicKey).toBe(kp.getPublicKey());
      expect(nativePublicKey(seed)).toBe(kp.getPublicKey());
      expect(text(ours.getPrivateKey())).toBe(text(kp.getPrivateKey()));
      const msg = new TextEncoder().encode('ferry');
      expect(Buffer.from(ours.sign(msg))).toEqual(Buffer.from(kp.sign(msg)));
    }
  });

  it('make new users whose public key matches their seed', () => {
    const u = createNativeUser();
    expect(u.seed).toMatch(/^SU/);
    expect(fromSeed(new TextEncoder().encode(u.seed)).getPublicKey()).toBe(u.publicKey);
    expect(fromPublic(u.publicKey).getPublicKey()).toBe(u.publicKey); // CRC and prefix check out
  });

  it('answer a nonce exactly as the client library does', () => {
    const kp = createUser();
    const seed = text(kp.getSeed());
    const nonce = 'xBg4pGlM9yGd2x6';
    expect(nativeAuthenticator(seed)(nonce)).toEqual(nkeyAuthenticator(new TextEncoder().encode(seed))(nonce));
  });

  it('refuse something that is not a seed', () => {
    expect(() => nativeKeyPair('SUNOTASEED')).toThrow();
  });
});
