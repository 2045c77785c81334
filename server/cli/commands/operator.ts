// ferry operator add | list | revoke | renew | roles: people and their roles. `add` makes the
// person's keys here, sends only the public halves, and writes the credentials file once (mode
// 0600); `renew` replaces the NATS user JWT in the caller's own file (same keys), atomically.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { generateSigningKeyPair } from '../../../shared/crypto/sign.js';
import { FerryError } from '../../../shared/errors.js';
import { formatOperatorCreds, parseOperatorKey } from '../../../shared/operators/credentials.js';
import { jwtClaims, parseCreds } from '../../../shared/nats/creds.js';
import { fileErrorReason } from '../../../shared/file-errors.js';
import { checkOutFile } from '../../../shared/out-file.js';
import { OPERATOR_NAME_RE } from '../../../shared/operators/request-signature.js';
import { isRole, mayCall, ROLE_DESCRIPTIONS, roleTableMarkdown, ROLES, VERB_ROLES } from '../../../shared/operators/roles.js';
import type { ApiVerb } from '../../../shared/protocol/api.js';
import { withClient } from '../with-client.js';
import { printJson, printLines, printTable } from '../output.js';
import { connectionFlags, type GlobalArgs } from './common.js';

type AddArgs = GlobalArgs & { name: string; role: string; out?: string };

const add: CommandModule<GlobalArgs, AddArgs> = {
  command: 'add <name>',
  describe: "Create a person's credentials file (NATS user + request-signing key) with a role",
  builder: (y) =>
    y
      .positional('name', { type: 'string', demandOption: true, describe: 'the person (lower case, e.g. alice)' })
      .option('role', { type: 'string', demandOption: true, choices: [...ROLES], describe: 'what they may do (ferry operator roles)' })
      .option('out', { type: 'string', describe: 'the credentials file to write (default ./NAME.creds); never overwritten' }),
  handler: async (a) => {
    if (!OPERATOR_NAME_RE.test(a.name)) throw new FerryError('FERRY_INVALID_INPUT', `operator name ${JSON.stringify(a.name)} is not 1-32 lower-case letters, digits and -, starting with a letter`);
    if (!isRole(a.role)) throw new FerryError('FERRY_INVALID_INPUT', `unknown role ${a.role}`, { hint: `one of ${ROLES.join(', ')}` });
    // Checked before the server registers anyone: a file that cannot be written (or exists: it is
    // never overwritten) leaves nobody registered whose keys nobody holds.
    const out = checkOutFile(a.out ?? `${a.name}.creds`, { overwrite: false });
    const { createNativeUser } = await import('../../../shared/nats/nkey-auth.js'); // NATS' nkeys: loaded when used
    const nats = createNativeUser();
    const signing = generateSigningKeyPair();
    const result = await withClient(connectionFlags(a), (c) =>
      c.request('operator.add', { name: a.name, role: a.role as (typeof ROLES)[number], natsKey: nats.publicKey, signingKey: signing.publicKey }),
    );
    writeNewCreds(out, formatOperatorCreds({ jwt: result.jwt, seed: nats.seed }, { operator: a.name, secretKey: signing.secretKey }), result.name);
    const { jwt: _jwt, ...doc } = result;
    if (a.json) return printJson({ ...doc, file: out });
    printLines([`operator ${result.name} (${result.role}) added; credentials written to ${out} (mode 0600)`, `give that file to ${result.name} only; they run ferry with --creds ${out} (or FERRY_CREDS)`]);
  },
};

/**
 * The new operator's credentials file, once (mode 0600, never over another file). It was checked
 * before the server registered them; should the write fail even so (the disk filled up), no part
 * of the file stays, and the message says that they are registered with keys nobody holds.
 */
function writeNewCreds(out: string, text: string, name: string): void {
  try {
    writeFileSync(out, text, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') rmSync(out, { force: true });
    throw new FerryError('FERRY_INVALID_INPUT', `operator ${name} is registered, but its credentials could not be written to ${out}: ${fileErrorReason(err)}; nobody holds its keys`, {
      hint: `revoke it (ferry operator revoke ${name}) and add the person again under another name (names are never reused)`,
    });
  }
}

const list: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'list',
  describe: 'List operators and their roles (revoked ones too)',
  handler: async (a) => {
    const ops = await withClient(connectionFlags(a), (c) => c.request('operator.list', {}));
    if (a.json) return printJson(ops);
    printTable(
      ['NAME', 'ROLE', 'STATE', 'CREATED', 'BY'],
      ops.map((o) => [o.name, o.role, o.revokedAt ? `revoked ${o.revokedAt} by ${o.revokedBy}` : 'active', o.createdAt, o.createdBy]),
    );
  },
};

const revoke: CommandModule<GlobalArgs, GlobalArgs & { name: string }> = {
  command: 'revoke <name>',
  describe: "Revoke an operator: their connections are closed and their requests refused, at once",
  builder: (y) => y.positional('name', { type: 'string', demandOption: true }),
  handler: async (a) => {
    const op = await withClient(connectionFlags(a), (c) => c.request('operator.revoke', { name: a.name }));
    if (a.json) return printJson(op);
    printLines([`operator ${op.name} revoked`]);
  },
};

const renew: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'renew',
  describe: "Renew your own credentials file (--creds): a new NATS user with your role's current permissions, same keys",
  handler: async (a) => {
    const { result, file } = await withClient(connectionFlags(a), async (c) => {
      // The renewal refuses the file's NATS user at once: a file that could not be rewritten
      // afterwards would lock its owner out. Checked before asking.
      checkOutFile(c.credsFile, { flag: '--creds', overwrite: true, renamesOver: true, hint: 'renew writes a new file beside it and renames it over it: this user must be able to write to its directory' });
      return { result: await c.renew(), file: c.credsFile };
    });
    await writeRenewedCreds(file, result.jwt);
    const { jwt: _jwt, ...doc } = result;
    if (a.json) return printJson({ ...doc, file });
    printLines([`credentials of operator ${doc.name} (${doc.role}) renewed in ${file}: a new NATS user with the role's current permissions, the same keys`]);
  },
};

/** The new JWT into the file, its seed and operator key kept: a new file beside it, renamed over it (mode 0600). */
async function writeRenewedCreds(file: string, jwt: string): Promise<void> {
  const { nativePublicKey } = await import('../../../shared/nats/nkey-auth.js');
  const text = readFileSync(file, 'utf8');
  const creds = parseCreds(text);
  const key = parseOperatorKey(text);
  if (!creds || !key) throw new FerryError('FERRY_CREDS_INVALID', `${file} changed while renewing; it is left as it was`, { hint: 'run ferry operator renew again' });
  const sub = jwtClaims(jwt).sub;
  if (sub !== nativePublicKey(creds.seed)) throw new FerryError('FERRY_CREDS_INVALID', `the server renewed another NATS key than the one in ${file}; the file is left as it was`, { hint: 'is this the file ferry operator add wrote for you?' });
  const tmp = `${file}.${process.pid}.renew`;
  try {
    writeFileSync(tmp, formatOperatorCreds({ jwt, seed: creds.seed }, key), { mode: 0o600, flag: 'wx' });
    renameSync(tmp, file);
  } catch (err) {
    // Checked before renewing, failed even so (the disk filled up): the old user in the file is
    // refused from now on, and this JWT is the one that works with its seed.
    throw new FerryError('FERRY_INVALID_INPUT', `the server renewed the credentials of operator ${key.operator}, but ${file} could not be rewritten: ${fileErrorReason(err)}; it is left as it was, and its NATS user is refused from now on`, {
      hint: `make room, then put this JWT between the NATS USER JWT lines of ${file}: ${jwt} (or ask an admin to revoke ${key.operator} and add the person again under another name)`,
      details: { jwt },
    });
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** The verb table as JSON (`operator roles --json`): each verb, in the table's order, with the roles that may call it. */
function verbRoles(): Record<string, string[]> {
  return Object.fromEntries((Object.keys(VERB_ROLES) as ApiVerb[]).sort().map((v) => [v, ROLES.filter((r) => mayCall(r, v))]));
}

const roles: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'roles',
  describe: 'Print the roles and the verbs each may call',
  handler: (a) => {
    if (a.json) return printJson({ roles: ROLE_DESCRIPTIONS, verbs: verbRoles() });
    printLines([...ROLES.map((r) => `${r}: ${ROLE_DESCRIPTIONS[r]}`), '', ...roleTableMarkdown().split('\n')]);
  },
};

export const operatorCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'operator <command>',
  aliases: ['operators'],
  describe: 'People: credentials, roles, revocation, renewal',
  builder: (y) => y.command(add).command(list).command(revoke).command(renew).command(roles).demandCommand(1),
  handler: () => undefined,
};
