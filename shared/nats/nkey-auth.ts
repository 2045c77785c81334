// NATS nkeys that sign natively. The client library's own nkeys derive the public key, the
// private key and every signature with pure-JS tweetnacl (~4-15 ms each here) — and
// @nats-io/jwt asks the signer for its private key on every JWT it encodes, so a join paid one
// tweetnacl key derivation on the server for the agent's JWT and one on the host for its fresh
// nkey. Here all three come from node:crypto's Ed25519 (~0.06 ms a signature).
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { fromSeed, type KeyPair } from '@nats-io/nkeys';
import type { Authenticator } from '@nats-io/transport-node';
import { newEd25519 } from '../crypto/keygen.js';

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const cache = new Map<string, NativeKeyPair>();

// nkeys' text form: base32 (RFC 4648, no padding) of prefix byte ‖ key ‖ CRC-16 (XMODEM, little endian).
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const PREFIX_PRIVATE = 15 << 3; // 'P'
const PREFIX_SEED = 18 << 3; // 'S'
const PREFIX_USER = 20 << 3; // 'U'

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

function encodeKey(prefixByte: number, raw: Uint8Array): string {
  const body = Buffer.concat([Buffer.from([prefixByte]), raw]);
  const crc = crc16(body);
  return base32(Buffer.concat([body, Buffer.from([crc & 0xff, crc >> 8])]));
}

/** The public key (text form, e.g. `U…` for a user seed `SU…`) of an nkey seed, derived natively. */
export function nativePublicKey(seedText: string): string {
  return derive(seedText.trim()).publicKey;
}

/**
 * A new user nkey (seed and public key), made by node:crypto: no pure-JS curve arithmetic, and no
 * key import (making a private KeyObject from raw bytes costs more than generating a new pair).
 */
export function createNativeUser(): { seed: string; publicKey: string } {
  const { seed: rawSeed, publicKey: rawPublic } = newEd25519();
  // A seed's first two bytes carry the seed prefix and the key type (nkeys' Codec.encodeSeed).
  const seedPrefix = Buffer.from([PREFIX_SEED | (PREFIX_USER >> 5), (PREFIX_USER & 31) << 3]);
  const body = Buffer.concat([seedPrefix, rawSeed]);
  const crc = crc16(body);
  const seed = base32(Buffer.concat([body, Buffer.from([crc & 0xff, crc >> 8])]));
  return { seed, publicKey: encodeKey(PREFIX_USER, rawPublic) };
}

// The JWK export below is not the Node 20 deadlock of shared/crypto/keygen.ts: that one needs a
// garbage collection during the export to destroy another holder of the same key (the finished
// key-generation job, whose destructor takes the key's mutex the export holds). Here the key is
// imported, not generated, and its only holders (privateKey, publicKeyObject) stay reachable until
// derive returns. Checked on Node 20.20.2 with the agent's 1 MiB semi-space: ~150,000 derivations
// in 45-60 s loops never hung, where the keygen pattern in the same loop hung within 8 s;
// test/faults/keygen-gc.test.ts keeps derivations in its loop.
function derive(seed: string) {
  const pair = fromSeed(new TextEncoder().encode(seed)) as KeyPair & { getRawSeed(): Uint8Array };
  const rawSeed = pair.getRawSeed();
  const privateKey: KeyObject = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, Buffer.from(rawSeed)]), format: 'der', type: 'pkcs8' });
  const publicKeyObject = createPublicKey(privateKey);
  const rawPublic = Buffer.from(publicKeyObject.export({ format: 'jwk' }).x!, 'base64url');
  // The seed's second character names the key's type; its public key carries the same prefix byte.
  const prefixByte = BASE32.indexOf(seed.charAt(1)) << 3;
  return { pair, rawSeed, rawPublic, privateKey, publicKeyObject, publicKey: encodeKey(prefixByte, rawPublic) };
}

/** A nats.js/@nats-io/jwt KeyPair whose sign() is node:crypto's Ed25519. */
export interface NativeKeyPair extends KeyPair {
  readonly publicKey: string;
}

export function nativeKeyPair(seedText: string): NativeKeyPair {
  const seed = seedText.trim();
  const cached = cache.get(seed);
  if (cached) return cached;
  const { pair, rawSeed, rawPublic, privateKey, publicKeyObject, publicKey } = derive(seed);
  // tweetnacl's 64-byte secret key (seed ‖ public key), as nkeys encodes it: @nats-io/jwt asks for
  // it on every JWT it signs (to check the signer holds a seed), so it is made once, natively.
  const privateText = new TextEncoder().encode(encodeKey(PREFIX_PRIVATE, Buffer.concat([rawSeed, rawPublic])));
  const native: NativeKeyPair = {
    publicKey,
    getPublicKey: () => publicKey,
    getPrivateKey: () => privateText.slice(),
    getSeed: () => pair.getSeed(),
    sign: (input: Uint8Array) => new Uint8Array(sign(null, input, privateKey)),
    verify: (input: Uint8Array, sig: Uint8Array) => verify(null, input, publicKeyObject, sig),
    clear: () => undefined,
    seal: (...args) => pair.seal(...args),
    open: (...args) => pair.open(...args),
  };
  cache.set(seed, native);
  return native;
}

/** Sign the server's nonce; with a user JWT for operator mode (decentralised auth). */
export function nativeAuthenticator(seedText: string, jwt?: string): Authenticator {
  const pair = nativeKeyPair(seedText);
  return (nonce?: string) => ({
    ...(jwt ? { jwt } : {}),
    nkey: pair.publicKey,
    sig: nonce ? Buffer.from(pair.sign(Buffer.from(nonce))).toString('base64') : '',
  });
}
