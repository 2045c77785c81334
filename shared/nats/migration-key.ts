// The key of the MIGRATE account, derived from the server's root key fingerprint. An agent that
// joined before decentralised auth holds no user JWT and cannot get one without connecting; it
// knows the root fingerprint (every token carries it), so it can sign itself a user of this
// account. The account (whose JWT only the operator can sign) imports one service,
// `ferry.enroll.migrate`, which gives an agent its own JWT once it proves its nkey, sealed to a key
// of the request; it allows no connection at all once every agent has its JWT. Knowing the
// fingerprint therefore gains nothing: the account holds no data and can reach nothing else.
import { createHash } from 'node:crypto';
import { Prefix } from '@nats-io/nkeys';
import { Codec } from '@nats-io/nkeys/lib/codec.js';

export function migrationAccountSeed(rootFingerprint: string): string {
  const raw = createHash('sha256').update(`ferry-migrate-account-v1\n${rootFingerprint}`).digest();
  return new TextDecoder().decode(Codec.encodeSeed(Prefix.Account, new Uint8Array(raw)));
}
