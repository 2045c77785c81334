// A garbage collection while a new key is exported must not hang the process. On Node 20,
// `generateKeyPairSync(…).privateKey.export({ format: 'jwk' })` could deadlock for good (the
// export holds the key's mutex; the finished key generation's finalizer, run by a GC in between,
// takes it again): an agent's `join` hung that way. Every Ferry function that makes a key runs
// here in a loop, in a child with the agent's 1 MiB semi-space (many GCs), from the compiled
// dist/ (npm run build first). Before shared/crypto/keygen.ts the loop hung within seconds. An
// nkey's public key derived from its seed (an export of an imported key: shared/nats/nkey-auth.ts)
// runs in it too. (A hang is a matter of timing: a loop that passes makes one unlikely, no more.) The loop runs a
// fixed 1,500 times; only a hang may take it past the 60 s kill.
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/fleet.js';

const mod = (path: string) => JSON.stringify(pathToFileURL(join(REPO_ROOT, 'dist', path)).href);

const LOOP = `
const { createSealKeyPair, seal, openSealed } = await import(${mod('shared/crypto/seal.js')});
const { generateSigningKeyPair } = await import(${mod('shared/crypto/sign.js')});
const { createNativeUser, nativePublicKey } = await import(${mod('shared/nats/nkey-auth.js')});
const keep = [];
let n = 0;
for (; n < 1500; n++) {
  const own = createSealKeyPair();
  const sealed = seal(Buffer.from('reply'), own.publicKey);
  const user = createNativeUser();
  // an nkey's public key from its seed (every connection with a seed: an agent's, a token's)
  if (nativePublicKey(user.seed) !== user.publicKey) throw new Error('nkey mismatch');
  keep.push(openSealed(sealed, own), generateSigningKeyPair(), user);
  if (keep.length > 3000) keep.length = 0;
}
process.stdout.write(String(n));
`;

describe('key generation under garbage collection', () => {
  it('seal keys, signing keys and nkeys are made thousands of times without a hang', () => {
    const r = spawnSync(process.execPath, ['--max-semi-space-size=1', '--input-type=module', '-e', LOOP], { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
    expect(r.signal, 'the loop hung (killed after 60 s)').toBeNull();
    expect(r.status, r.stderr).toBe(0);
    // a fixed count, not a time: on a busy machine fewer loops fit in any time (the kill is the hang check)
    expect(Number(r.stdout)).toBe(1500);
  }, 90_000);
});
