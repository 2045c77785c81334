// A NATS nkey authenticator that signs the server's nonce natively. The client library's own
// authenticator derives the key pair and signs with pure-JS tweetnacl (~15 ms each here) on every
// connection attempt, which a simulated fleet of thousands of agents, reconnecting through
// configuration reloads, pays again and again. The signature is the same Ed25519 either way.
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { fromSeed } from '@nats-io/nkeys';
import type { Authenticator } from '@nats-io/transport-node';

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const cache = new Map<string, NativeNkey>();

export interface NativeNkey {
  publicKey: string;
  authenticator: Authenticator;
}

export function nativeNkeyAuthenticator(seedText: string): NativeNkey {
  const seed = seedText.trim();
  const cached = cache.get(seed);
  if (cached) return cached;
  const pair = fromSeed(new TextEncoder().encode(seed)) as ReturnType<typeof fromSeed> & { getRawSeed(): Uint8Array };
  const privateKey: KeyObject = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, Buffer.from(pair.getRawSeed())]), format: 'der', type: 'pkcs8' });
  const publicKey = pair.getPublicKey(); // derived once per identity
  const authenticator: Authenticator = (nonce?: string) => ({
    nkey: publicKey,
    sig: nonce ? Buffer.from(sign(null, Buffer.from(nonce), privateKey)).toString('base64') : '',
  });
  const result = { publicKey, authenticator };
  cache.set(seed, result);
  return result;
}
