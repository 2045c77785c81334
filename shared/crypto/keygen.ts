// New Ed25519 and X25519 key pairs from node:crypto, with the raw public key (and, for Ed25519,
// the raw seed) encoded by the key generation itself.
//
// Not `generateKeyPairSync(…).privateKey.export({ format: 'jwk' })`: on Node 20 (seen with
// 20.20.2) exporting a freshly generated key as JWK can deadlock the process for good. The export
// holds the key's mutex while it creates the JWK's properties; a garbage collection in between
// runs the finalizer of the finished generation job, which shares that key and takes the same
// mutex (gdb: ExportJWKEdKey → … → Heap::CollectGarbage → ~KeyGenJob → uv_mutex_lock). A loop
// of such exports hangs within seconds, more often with the agent's 1 MiB semi-space; an agent's
// `join` hung that way while its idle memory was being measured. Encoded by the job, the key never
// becomes a KeyObject to export: test/faults/keygen-gc.test.ts runs the Ferry functions that make
// keys in such a loop.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';

/** A new Ed25519 key pair: 32-byte seed and 32-byte public key. */
export function newEd25519(): { seed: Buffer; publicKey: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519', { privateKeyEncoding: { format: 'jwk' }, publicKeyEncoding: { format: 'jwk' } }) as unknown as { privateKey: JsonWebKey; publicKey: JsonWebKey };
  return { seed: Buffer.from(privateKey.d!, 'base64url'), publicKey: Buffer.from(publicKey.x!, 'base64url') };
}

/** A new X25519 key pair: the private key as a KeyObject (for diffieHellman), the raw 32-byte public key. */
export function newX25519(): { privateKey: KeyObject; publicKey: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('x25519', { publicKeyEncoding: { format: 'jwk' } }) as unknown as { privateKey: KeyObject; publicKey: JsonWebKey };
  return { privateKey, publicKey: Buffer.from(publicKey.x!, 'base64url') };
}
