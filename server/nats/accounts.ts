// The JWTs of Ferry's NATS decentralised auth, built from the permission table (auth-config.ts):
// the operator, the four accounts (exports, imports, limits, scoped signing keys, revocations) and
// the users the server issues. Signed natively (nkey-auth.ts): an agent's JWT costs well under a
// millisecond, so a join needs no config write and no reload.
import { createHash } from 'node:crypto';
import { encodeAccount, encodeOperator, encodeUser, type Account, type Export, type Import, type SigningKey, type UserPermissionsLimits } from '@nats-io/jwt';
import { fromPublic } from '@nats-io/nkeys';
import { migrationAccountSeed } from '../../shared/nats/migration-key.js';
import { nativeKeyPair, type NativeKeyPair } from '../../shared/nats/nkey-auth.js';
import type { NatsCreds } from '../../shared/nats/creds.js';
import { AGENT_STREAM_IMPORTS, AGENT_TEMPLATE, SITE_SERVICES, SITE_STREAMS, ENROLL_TEMPLATE, MIGRATE_TEMPLATE, OPERATOR_SERVICES, serviceExports, uploadServices, type Permissions } from './auth-config.js';
import type { AccountName, NatsKeys } from './nats-keys.js';
import { BUCKETS } from '../../shared/protocol/subjects.js';

export const OPERATOR_NAME = 'ferry';
/** nats-server's max_payload for agents and enrolment; reports and objects' chunks fit. */
const AGENT_PAYLOAD = 1024 * 1024;

/** Revoked user public keys → the time (unix seconds) before which their JWTs are refused. */
export type Revocations = Record<string, number>;

export interface AccountJwts {
  operator: string;
  systemAccount: string;
  /** account public key → account JWT (what the resolver serves) */
  accounts: Record<string, string>;
  /** account name → public key */
  ids: Record<AccountName | 'MIGRATE', string>;
}

const unlimited = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
const jetstreamUnlimited = { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 };

function scope(key: string, role: string, template: Permissions, limits: Partial<UserPermissionsLimits>): SigningKey {
  return {
    kind: 'user_scope',
    key,
    role,
    template: {
      pub: { allow: template.publish, deny: [] },
      sub: { allow: template.subscribe, deny: [] },
      subs: -1,
      data: -1,
      payload: AGENT_PAYLOAD,
      ...limits,
    } as Partial<UserPermissionsLimits>,
  };
}

const serviceExport = (subject: string): Export => ({ name: subject, subject, type: 'service', response_type: 'Singleton' });
const serviceImport = (subject: string, account: string): Import => ({ name: subject, subject, account, type: 'service' });

/** The MIGRATE account's key for this root (see shared/nats/migration-key.ts). */
export function migrationAccount(rootFingerprint: string) {
  return nativeKeyPair(migrationAccountSeed(rootFingerprint));
}

export async function buildAccountJwts(
  keys: NatsKeys,
  opts: {
    agentRevocations: Revocations;
    enrollRevocations: Revocations;
    rootFingerprint: string;
    agentsToMigrate: number;
    /** revoked operators' NATS keys (both accounts: OPERATORS, and FERRY where admins made before least privilege live) */
    operatorRevocations?: Revocations;
    /** FERRY only: the keys of operators whose user moved to OPERATORS (`ferry operator renew`), so their old FERRY users are refused */
    ferryRevocations?: Revocations;
    /** active operators who may upload, the bootstrap admin aside: each one's own upload bucket is exported to OPERATORS */
    uploaders?: readonly string[];
    /** site system-link users removed with their site (server/sites/remove.ts) */
    systemRevocations?: Revocations;
  },
): Promise<AccountJwts> {
  const ids = Object.fromEntries(Object.entries(keys.accounts).map(([n, kp]) => [n, kp.publicKey])) as Record<AccountName, string>;
  const agentServices = serviceExports(AGENT_TEMPLATE);
  const enrollServices = serviceExports(ENROLL_TEMPLATE);
  const migrateServices = serviceExports(MIGRATE_TEMPLATE);
  const migrate = migrationAccount(opts.rootFingerprint);
  const sign = (name: AccountName, account: Partial<Account>) => encodeAccount(name, keys.accounts[name], account, { signer: keys.operator });
  // Per uploader, never a wildcard over buckets (see uploadServices); sorted, so the claims stay the same while the set does.
  const uploadExports = [...new Set(opts.uploaders ?? [])].sort().flatMap(uploadServices);
  const operatorExports = [...OPERATOR_SERVICES, ...uploadExports];
  const operatorServices = [...operatorExports, ...agentServices.filter((s) => s.startsWith(`$JS.API.DIRECT.GET.OBJ_${BUCKETS.dml}`))];
  const revocationsOf = (r: Revocations) => (Object.keys(r).length ? { revocations: r } : {});
  const operatorRevoked = revocationsOf(opts.operatorRevocations ?? {});
  // A key revoked in both lists keeps the later time.
  const ferryRevoked = revocationsOf(mergeRevocations(opts.operatorRevocations ?? {}, opts.ferryRevocations ?? {}));
  const [operator, sys, ferry, agents, enroll, operators, migration] = await Promise.all([
    encodeOperator(OPERATOR_NAME, keys.operator, { system_account: ids.SYS }),
    // removed sites' system-account links (`ferry site remove`); none: the claims as before
    sign('SYS', { limits: unlimited, ...(opts.systemRevocations && Object.keys(opts.systemRevocations).length ? { revocations: opts.systemRevocations } : {}) }),
    sign('FERRY', {
      limits: { ...unlimited, ...jetstreamUnlimited },
      exports: [
        ...agentServices.map(serviceExport),
        ...enrollServices.map(serviceExport),
        ...migrateServices.map(serviceExport),
        ...operatorExports.map(serviceExport),
        ...AGENT_STREAM_IMPORTS.map((subject) => ({ name: subject, subject, type: 'stream' as const })),
        ...SITE_SERVICES.map(serviceExport),
        ...SITE_STREAMS.map((subject) => ({ name: subject, subject, type: 'stream' as const })),
      ],
      // revoked operators (people), and admins' users from before least privilege once renewed into
      // OPERATORS: cut off with the account update
      ...ferryRevoked,
    }),
    sign('AGENTS', {
      limits: { ...unlimited, payload: AGENT_PAYLOAD },
      imports: [
        ...agentServices.map((s) => serviceImport(s, ids.FERRY)),
        ...AGENT_STREAM_IMPORTS.map((subject) => ({ name: subject, subject, account: ids.FERRY, type: 'stream' as const })),
        // for sites' links (users of this account too, with permissions of their own)
        ...SITE_SERVICES.map((s) => serviceImport(s, ids.FERRY)),
        ...SITE_STREAMS.map((subject) => ({ name: subject, subject, account: ids.FERRY, type: 'stream' as const })),
      ],
      signing_keys: [scope(keys.signers.AGENTS.publicKey, 'agent', AGENT_TEMPLATE, {})],
      revocations: opts.agentRevocations,
    }),
    sign('ENROLL', {
      // A join is a few small messages; a token holder cannot flood the server from here.
      limits: { ...unlimited, conn: 10_000, payload: 64 * 1024 },
      imports: enrollServices.map((s) => serviceImport(s, ids.FERRY)),
      signing_keys: [scope(keys.signers.ENROLL.publicKey, 'enroll', ENROLL_TEMPLATE, { subs: 10, payload: 64 * 1024 })],
      revocations: opts.enrollRevocations,
    }),
    sign('OPERATORS', {
      limits: { ...unlimited, payload: AGENT_PAYLOAD },
      imports: operatorServices.map((s) => serviceImport(s, ids.FERRY)),
      ...operatorRevoked,
    }),
    // Anyone who knows the root fingerprint can sign users here: it reaches only the migrate
    // service, and takes no connection at all once no agent is left to migrate.
    encodeAccount('MIGRATE', migrate, {
      limits: { ...unlimited, conn: opts.agentsToMigrate > 0 ? 1000 : 0, subs: 2000, payload: 16 * 1024, imports: migrateServices.length, exports: 0 },
      imports: migrateServices.map((s) => serviceImport(s, ids.FERRY)),
    }, { signer: keys.operator }),
  ]);
  return { operator, systemAccount: ids.SYS, ids: { ...ids, MIGRATE: migrate.publicKey }, accounts: { [ids.SYS]: sys, [ids.FERRY]: ferry, [ids.AGENTS]: agents, [ids.ENROLL]: enroll, [ids.OPERATORS]: operators, [migrate.publicKey]: migration } };
}

function mergeRevocations(a: Revocations, b: Revocations): Revocations {
  const out: Revocations = { ...a };
  for (const [key, at] of Object.entries(b)) out[key] = Math.max(out[key] ?? 0, at);
  return out;
}

/** An agent's user JWT: its permissions come from the AGENTS scope, keyed by its name (the agent id). */
export function issueAgentJwt(keys: NatsKeys, agentId: string, nkey: string): string {
  return encodeScopedUser(agentId, nkey, keys.accounts.AGENTS.publicKey, keys.signers.AGENTS);
}

/** The enrolment user of one join token; it expires with the token. */
export function issueEnrollJwt(keys: NatsKeys, tokenId: string, nkey: string, expiresAtMs: number): string {
  return encodeScopedUser(enrollUserName(tokenId), nkey, keys.accounts.ENROLL.publicKey, keys.signers.ENROLL, Math.floor(expiresAtMs / 1000));
}

const JWT_HEADER = Buffer.from(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' })).toString('base64url');

/**
 * A user JWT whose permissions come from a scoped signing key: the same claims, in the same
 * order, as `encodeUser(name, nkey, account, {}, { signer, scopedUser: true, exp })` of
 * @nats-io/jwt (see accounts.test.ts), but synchronous — that one awaits WebCrypto for the
 * `jti` hash on every JWT, which put an async hop (and a second SQLite commit) into every join.
 */
export function encodeScopedUser(name: string, nkey: string, account: string, signer: NativeKeyPair, exp?: number): string {
  if (fromPublic(nkey).getPublicKey().charAt(0) !== 'U') throw new Error(`not a user nkey: ${nkey.slice(0, 60)}`); // checks its CRC too
  const claim: Record<string, unknown> = {
    ...(exp !== undefined ? { exp } : {}),
    aud: 'NATS',
    name,
    sub: nkey,
    nats: { issuer_account: account, type: 'user', version: 2 },
    iss: signer.publicKey,
    iat: Math.floor(Date.now() / 1000),
  };
  claim.jti = createHash('sha512').update(JSON.stringify(claim)).digest('base64');
  const payload = `${JWT_HEADER}.${Buffer.from(JSON.stringify(claim)).toString('base64url')}`;
  return `${payload}.${Buffer.from(signer.sign(Buffer.from(payload))).toString('base64url')}`;
}

export const enrollUserName = (tokenId: string) => `enroll-${tokenId}`;

/** An operator's (a person's) user: in OPERATORS with the role's permissions, whatever the role. Only the public key is known here. */
export function issueOperatorJwt(keys: NatsKeys, name: string, nkey: string, perms: Permissions): Promise<string> {
  return encodeUser(`operator-${name}`, nkey, keys.accounts.OPERATORS, { pub: { allow: perms.publish }, sub: { allow: perms.subscribe } });
}

/** A site's leafnode link (ferry site add): a user of AGENTS with the link's permissions, named site-<name>. */
export function issueSiteLinkJwt(keys: NatsKeys, site: string, nkey: string, perms: Permissions): Promise<string> {
  // A leafnode link only: the credential cannot log in as a client.
  return encodeUser(`site-${site}`, nkey, keys.accounts.AGENTS, { pub: { allow: perms.publish }, sub: { allow: perms.subscribe }, allowed_connection_types: ['LEAFNODE'] });
}

/**
 * A site's system-account link: it only receives account updates (`$SYS.REQ…CLAIMS.UPDATE`), so a
 * revocation pushed at the hub reaches the site's resolver too; it may send nothing to the hub.
 */
export function issueSiteSystemJwt(keys: NatsKeys, site: string, nkey: string): Promise<string> {
  return encodeUser(`site-${site}-system`, nkey, keys.accounts.SYS, {
    pub: { deny: ['>'] },
    sub: { allow: ['$SYS.REQ.CLAIMS.UPDATE', '$SYS.REQ.ACCOUNT.*.CLAIMS.UPDATE'] },
    allowed_connection_types: ['LEAFNODE'],
  });
}

/** A user of FERRY or SYS with explicit permissions (the server, the bootstrap admin, the system user). */
export async function issueAccountUser(keys: NatsKeys, account: 'FERRY' | 'SYS', name: string, user: { publicKey: string; seed: string }, perms?: Permissions): Promise<NatsCreds> {
  const jwt = await encodeUser(name, user.publicKey, keys.accounts[account], perms ? { pub: { allow: perms.publish }, sub: { allow: perms.subscribe } } : {});
  return { jwt, seed: user.seed };
}
