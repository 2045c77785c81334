import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { generateSigningKeyPair, keyFingerprint, openEnvelope, signBytes, signEnvelope, verifySignature } from './sign.js';

const GROUP_ORDER = (1n << 252n) + 27742317777372353535851937790883648493n;

function malleate(signature: string): string {
  const sig = Buffer.from(signature, 'base64');
  let s = 0n;
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i]!);
  s += GROUP_ORDER;
  for (let i = 32; i < 64; i++) {
    sig[i] = Number(s & 0xffn);
    s >>= 8n;
  }
  return sig.toString('base64');
}

describe('signatures', () => {
  const keys = generateSigningKeyPair();
  const message = Buffer.from('install hello-web@1.4.0');

  it('verifies a genuine signature and rejects another message or key', () => {
    const sig = signBytes(keys.secretKey, message);
    expect(verifySignature(keys.publicKey, message, sig)).toBe(true);
    expect(verifySignature(keys.publicKey, Buffer.from('install hello-web@1.4.1'), sig)).toBe(false);
    expect(verifySignature(generateSigningKeyPair().publicKey, message, sig)).toBe(false);
  });

  it('rejects a malleated signature (S + L) that tweetnacl alone accepts', async () => {
    const sig = signBytes(keys.secretKey, message);
    const evil = malleate(sig);
    const nacl = (await import('tweetnacl')).default;
    // Prove the attack is real: tweetnacl's own check accepts it.
    expect(nacl.sign.detached.verify(message, Buffer.from(evil, 'base64'), Buffer.from(keys.publicKey, 'base64'))).toBe(true);
    expect(verifySignature(keys.publicKey, message, evil)).toBe(false);
  });

  it('rejects truncated, oversized and non-base64 signatures without throwing', () => {
    const sig = Buffer.from(signBytes(keys.secretKey, message), 'base64');
    expect(verifySignature(keys.publicKey, message, sig.subarray(0, 63).toString('base64'))).toBe(false);
    expect(verifySignature(keys.publicKey, message, Buffer.concat([sig, Buffer.from([0])]).toString('base64'))).toBe(false);
    expect(verifySignature(keys.publicKey, message, '!!not base64!!')).toBe(false);
    expect(verifySignature('short', message, sig.toString('base64'))).toBe(false);
  });

  it('signatures are byte-identical to tweetnacl and verify both ways', async () => {
    const nacl = (await import('tweetnacl')).default;
    const secret = Buffer.from(keys.secretKey, 'base64');
    const ours = signBytes(keys.secretKey, message);
    expect(ours).toBe(Buffer.from(nacl.sign.detached(message, secret)).toString('base64'));
    expect(nacl.sign.detached.verify(message, Buffer.from(ours, 'base64'), Buffer.from(keys.publicKey, 'base64'))).toBe(true);
    expect(verifySignature(keys.publicKey, message, Buffer.from(nacl.sign.detached(message, secret)).toString('base64'))).toBe(true);
  });

  it("makes key pairs in tweetnacl's format: seed ‖ public key, the public key derived from the seed", async () => {
    const nacl = (await import('tweetnacl')).default;
    for (let i = 0; i < 5; i++) {
      const pair = generateSigningKeyPair();
      const secret = Buffer.from(pair.secretKey, 'base64');
      expect(secret.length).toBe(64);
      const theirs = nacl.sign.keyPair.fromSeed(secret.subarray(0, 32));
      expect(Buffer.from(theirs.secretKey).toString('base64')).toBe(pair.secretKey);
      expect(Buffer.from(theirs.publicKey).toString('base64')).toBe(pair.publicKey);
    }
    expect(generateSigningKeyPair().secretKey).not.toBe(generateSigningKeyPair().secretKey);
  });

  it('rejects a public key that is not a valid point without throwing', () => {
    const sig = signBytes(keys.secretKey, message);
    expect(verifySignature(Buffer.alloc(32, 0xff).toString('base64'), message, sig)).toBe(false);
  });

  it('fingerprints are stable and distinct', () => {
    expect(keyFingerprint(keys.publicKey)).toBe(keyFingerprint(keys.publicKey));
    expect(keyFingerprint(keys.publicKey)).toMatch(/^SHA256:[A-Za-z0-9_-]{43}$/);
    expect(keyFingerprint(generateSigningKeyPair().publicKey)).not.toBe(keyFingerprint(keys.publicKey));
  });
});

describe('envelopes', () => {
  const keys = generateSigningKeyPair();
  const schema = z.object({ n: z.number() }).strict();

  it('opens what was sealed', () => {
    expect(openEnvelope(keys.publicKey, signEnvelope(keys, { n: 1 }), schema)).toEqual({ n: 1 });
  });

  it('refuses an altered payload with FERRY_SIGNATURE_INVALID', () => {
    const env = signEnvelope(keys, { n: 1 });
    expect(() => openEnvelope(keys.publicKey, { ...env, payload: '{"n":2}' }, schema)).toThrow(
      expect.objectContaining({ code: 'FERRY_SIGNATURE_INVALID' }),
    );
  });

  it('refuses a validly signed but malformed document with FERRY_INVALID_MESSAGE', () => {
    const env = signEnvelope(keys, { n: 'one' });
    expect(() => openEnvelope(keys.publicKey, env, schema)).toThrow(expect.objectContaining({ code: 'FERRY_INVALID_MESSAGE' }));
  });
});
