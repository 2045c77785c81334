import { describe, expect, it } from 'vitest';
import { FerryError } from '../errors.js';
import { createSealKeyPair, openSealed, seal } from './seal.js';

describe('sealed replies', () => {
  const text = new TextEncoder().encode('{"agentId":"web-1","jwt":"eyJ…"}');

  it('open with the key pair they were sealed to, and only with it', () => {
    const mine = createSealKeyPair();
    expect(Buffer.from(mine.publicKey, 'base64')).toHaveLength(32);
    const sealed = seal(text, mine.publicKey);
    expect(Buffer.from(openSealed(sealed, mine))).toEqual(Buffer.from(text));
    // Each seal uses a fresh ephemeral key and IV: the same text never seals the same twice.
    expect(seal(text, mine.publicKey)).not.toBe(sealed);
    expect(() => openSealed(sealed, createSealKeyPair())).toThrow(/does not open with this request's key/);
  });

  it('refuse an altered byte anywhere, a short message and a key that is not 32 bytes', () => {
    const mine = createSealKeyPair();
    const raw = Buffer.from(seal(text, mine.publicKey), 'base64');
    for (const at of [0, 31, 32, 44, 59, 60, raw.length - 1]) {
      const bad = Buffer.from(raw);
      bad[at] = bad[at]! ^ 1;
      expect(() => openSealed(bad.toString('base64'), mine), `byte ${at}`).toThrow(FerryError);
    }
    expect(() => openSealed(raw.subarray(0, 59).toString('base64'), mine)).toThrow(/too short/);
    expect(() => seal(text, Buffer.alloc(31).toString('base64'))).toThrow(/32 bytes/);
  });
});
