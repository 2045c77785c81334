// The keys of Ferry's NATS decentralised auth: the operator, one key per account, the accounts'
// (scoped) signing keys and the system user. Kept in <data-dir>/keys/nats.json (mode 0600), made
// once by `ferry init` (or on the first start of a data directory from before decentralised auth)
// and never replaced, so the JWTs issued to agents stay valid.
import { createAccount, createOperator, createUser } from '@nats-io/nkeys';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as z from 'zod';
import { FerryError } from '../../shared/errors.js';
import { nativeKeyPair, type NativeKeyPair } from '../../shared/nats/nkey-auth.js';

const seed = (prefix: string) => z.string().regex(new RegExp(`^S${prefix}[A-Z2-7]{56}$`));
const natsKeysSchema = z
  .object({
    version: z.literal(1),
    operator: seed('O'),
    // OPERATORS came later: a keys file without it gets one on its next load
    accounts: z.object({ SYS: seed('A'), FERRY: seed('A'), AGENTS: seed('A'), ENROLL: seed('A'), OPERATORS: seed('A') }).strict(),
    /** scoped signing keys: what a user signed with one may do is fixed by the account, not the user JWT */
    signers: z.object({ AGENTS: seed('A'), ENROLL: seed('A') }).strict(),
    /** the server's user in the system account (pushes account updates to the resolver) */
    sysUser: seed('U'),
  })
  .strict();
type NatsKeysFile = z.infer<typeof natsKeysSchema>;

export type AccountName = keyof NatsKeysFile['accounts'];
export const ACCOUNT_NAMES: readonly AccountName[] = ['SYS', 'FERRY', 'AGENTS', 'ENROLL', 'OPERATORS'];

export interface NatsKeys {
  operator: NativeKeyPair;
  accounts: Record<AccountName, NativeKeyPair>;
  signers: { AGENTS: NativeKeyPair; ENROLL: NativeKeyPair };
  sysUser: NativeKeyPair;
}

const text = (kp: { getSeed(): Uint8Array }) => new TextDecoder().decode(kp.getSeed());

/** Create keys/nats.json unless it exists; true when it was created. */
export function ensureNatsKeys(file: string): boolean {
  if (existsSync(file)) return false;
  const doc: NatsKeysFile = {
    version: 1,
    operator: text(createOperator()),
    accounts: { SYS: text(createAccount()), FERRY: text(createAccount()), AGENTS: text(createAccount()), ENROLL: text(createAccount()), OPERATORS: text(createAccount()) },
    signers: { AGENTS: text(createAccount()), ENROLL: text(createAccount()) },
    sysUser: text(createUser()),
  };
  writeKeysFile(file, doc);
  return true;
}

function writeKeysFile(file: string, doc: NatsKeysFile): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(doc, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, file);
}

export function loadNatsKeys(file: string): NatsKeys {
  let doc: NatsKeysFile;
  try {
    const raw = JSON.parse(readFileSync(file, 'utf8')) as { accounts?: Record<string, string> };
    // A data directory from before the OPERATORS account: add its key, keep every other key.
    const upgrade = raw.accounts !== undefined && raw.accounts.OPERATORS === undefined;
    if (upgrade) raw.accounts!.OPERATORS = text(createAccount());
    doc = natsKeysSchema.parse(raw);
    if (upgrade) writeKeysFile(file, doc);
  } catch (err) {
    throw new FerryError('FERRY_NOT_INITIALIZED', `cannot read the NATS keys ${file}: ${(err as Error).message.split('\n')[0]}`, {
      hint: 'run `ferry init` for this data directory (it never replaces existing keys)',
    });
  }
  const accounts = Object.fromEntries(ACCOUNT_NAMES.map((n) => [n, nativeKeyPair(doc.accounts[n])])) as Record<AccountName, NativeKeyPair>;
  return {
    operator: nativeKeyPair(doc.operator),
    accounts,
    signers: { AGENTS: nativeKeyPair(doc.signers.AGENTS), ENROLL: nativeKeyPair(doc.signers.ENROLL) },
    sysUser: nativeKeyPair(doc.sysUser),
  };
}
