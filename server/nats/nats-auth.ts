// The server's side of NATS decentralised auth: issues user JWTs (agents at join, enrolment users
// with tokens, its own and the admin's credentials) and keeps the resolver's account JWTs current.
// Revocations are read from the database (revoked agents; used-up, revoked tokens; removed sites'
// links) and pushed to nats-server as an account update from the system account, which closes
// revoked connections at once. Nothing here rewrites nats-server's configuration or reloads it.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { FerryError } from '../../shared/errors.js';
import { formatCreds, jwtClaims, parseCreds, type NatsCreds } from '../../shared/nats/creds.js';
import { nativeKeyPair } from '../../shared/nats/nkey-auth.js';
import type { Statement } from 'better-sqlite3';
import type { Db } from '../db/open.js';
import { buildAccountJwts, issueAccountUser, issueAgentJwt, issueEnrollJwt, issueOperatorJwt, issueSiteLinkJwt, issueSiteSystemJwt, type AccountJwts, type Revocations } from './accounts.js';
import { SERVER_PERMISSIONS, siteLinkPermissions, type Permissions } from './auth-config.js';
import { ensureNatsKeys, loadNatsKeys, type NatsKeys } from './nats-keys.js';
import { activeUploaders } from '../operators/uploaders.js';
import { BOOTSTRAP_ADMIN } from '../operators/bootstrap.js';
import type { OperatorAuth } from './server-config.js';

export interface NatsAuthPaths {
  natsKeys: string;
  serverSeed: string;
  adminSeed: string;
  adminCreds: string;
}

const CLAIMS_UPDATE = '$SYS.REQ.CLAIMS.UPDATE';

export class NatsAuth {
  private sys?: NatsConnection;
  private pushing: Promise<void> = Promise.resolve();
  private current!: AccountJwts;
  /** per account id: the claims (without iat and jti) nats-server last accepted over this.sys */
  private readonly pushed = new Map<string, string>();
  /** whether agents from before decentralised auth may still connect to MIGRATE */
  private migrateOpen = false;

  private readonly markIssued: Statement<[number, string]>;

  private constructor(
    private readonly keys: NatsKeys,
    private readonly db: Db,
    private readonly rootFingerprint: () => string,
    private readonly log: Logger,
  ) {
    this.markIssued = db.prepare('UPDATE agents SET jwt_issued_at = ? WHERE id = ? AND jwt_issued_at IS NULL');
  }

  /** Load (making them if missing: a data directory from before decentralised auth) the keys. */
  static async open(paths: NatsAuthPaths, db: Db, rootFingerprint: () => string, log: Logger): Promise<NatsAuth> {
    if (ensureNatsKeys(paths.natsKeys)) log.warn({ file: paths.natsKeys }, 'created the NATS operator and account keys (decentralised auth)');
    const auth = new NatsAuth(loadNatsKeys(paths.natsKeys), db, rootFingerprint, log);
    await auth.rebuild();
    await writeAdminCreds(auth.keys, paths);
    return auth;
  }

  /** What nats-server's configuration names: the operator and the accounts to start with. */
  get operatorAuth(): OperatorAuth {
    return { operatorJwt: this.current.operator, systemAccount: this.current.systemAccount, accounts: this.current.accounts };
  }

  get accountIds(): AccountJwts['ids'] {
    return this.current.ids;
  }

  serverCreds(seedFile: string): Promise<NatsCreds> {
    const seed = readFileSync(seedFile, 'utf8').trim();
    return issueAccountUser(this.keys, 'FERRY', 'ferry-server', { publicKey: nativeKeyPair(seed).publicKey, seed }, SERVER_PERMISSIONS);
  }

  sysCreds(): Promise<NatsCreds> {
    const seed = new TextDecoder().decode(this.keys.sysUser.getSeed());
    return issueAccountUser(this.keys, 'SYS', 'ferry-server-sys', { publicKey: this.keys.sysUser.publicKey, seed });
  }

  /**
   * An agent's user JWT; recorded, so the MIGRATE account closes once every agent has one.
   * Synchronous, so that a join can issue it inside the transaction that records the agent.
   */
  issueAgent(agentId: string, nkey: string): string {
    const jwt = issueAgentJwt(this.keys, agentId, nkey);
    this.markIssued.run(Date.now(), agentId);
    if (this.migrateOpen && agentsToMigrate(this.db) === 0) {
      this.migrateOpen = false;
      void this.push().catch((err: unknown) => this.log.error({ err }, 'cannot close the MIGRATE account'));
    }
    return jwt;
  }

  /** A person's NATS user (server/operators/), in OPERATORS whatever their role. */
  issueOperator(name: string, nkey: string, perms: Permissions): Promise<string> {
    return issueOperatorJwt(this.keys, name, nkey, perms);
  }

  /** A site's leafnode link user (server/sites/): least privilege, see siteLinkPermissions. */
  issueSiteLink(site: string, nkey: string): Promise<string> {
    return issueSiteLinkJwt(this.keys, site, nkey, siteLinkPermissions(site));
  }

  /** A site's system-account link: account updates (revocations) only, see issueSiteSystemJwt. */
  issueSiteSystem(site: string, nkey: string): Promise<string> {
    return issueSiteSystemJwt(this.keys, site, nkey);
  }

  issueEnroll(tokenId: string, nkey: string, expiresAtMs: number): Promise<string> {
    return Promise.resolve(issueEnrollJwt(this.keys, tokenId, nkey, expiresAtMs));
  }

  /** Push account updates over this system-account connection from now on. */
  async attach(sys: NatsConnection): Promise<void> {
    this.sys = sys;
    this.pushed.clear(); // a new connection (or a restarted nats-server): push every account once
    await this.push();
  }

  /**
   * Rebuild the account JWTs from the database and push them; resolves once nats-server has
   * applied them (revoked users' connections are closed by then). Calls are serialised.
   */
  push(): Promise<void> {
    const run = async () => {
      await this.rebuild();
      const sys = this.sys;
      if (!sys || sys.isClosed()) return; // the next start preloads what rebuild() made
      for (const [id, jwt] of Object.entries(this.current.accounts)) {
        // Only accounts whose claims changed: an update re-registers the account's exports and
        // imports, and nats-server then drops the replies of requests in flight through them
        // (an operator's `ferry` request timed out while a used-up join token was revoked).
        const claims = claimsKey(jwt);
        if (this.pushed.get(id) === claims) continue;
        const reply = await sys.request(CLAIMS_UPDATE, jwt, { timeout: 10_000 });
        const body = JSON.parse(reply.string()) as { data?: { code?: number; message?: string }; error?: { code?: number; description?: string } };
        if (body.error || (body.data?.code !== undefined && body.data.code !== 200)) {
          throw new FerryError('FERRY_NATS_FAILED', `nats-server refused the account update for ${id}: ${body.error?.description ?? body.data?.message ?? reply.string()}`);
        }
        this.pushed.set(id, claims);
      }
      this.log.debug({ accounts: Object.keys(this.current.accounts).length }, 'account JWTs pushed');
    };
    const result = this.pushing.then(run, run);
    this.pushing = result.catch(() => undefined);
    return result;
  }

  private async rebuild(): Promise<void> {
    const toMigrate = agentsToMigrate(this.db);
    this.migrateOpen = toMigrate > 0;
    this.current = await buildAccountJwts(this.keys, {
      agentRevocations: { ...agentRevocations(this.db), ...siteRevocations(this.db, 'AGENTS') },
      enrollRevocations: enrollRevocations(this.db),
      rootFingerprint: this.rootFingerprint(),
      agentsToMigrate: toMigrate,
      operatorRevocations: operatorRevocations(this.db),
      ferryRevocations: renewedOperators(this.db),
      systemRevocations: siteRevocations(this.db, 'SYS'),
      uploaders: operatorUploaders(this.db),
    });
  }
}

/** Revoked agents: every JWT issued for their nkey up to the revocation is refused. */
function agentRevocations(db: Db): Revocations {
  const rows = db.prepare('SELECT nkey, revoked_at FROM agents WHERE revoked_at IS NOT NULL').all() as { nkey: string; revoked_at: number }[];
  return Object.fromEntries(rows.map((r) => [r.nkey, Math.ceil(r.revoked_at / 1000)]));
}

/** Removed sites' link users (`ferry site remove`): the link in AGENTS, the system-account link in SYS. */
function siteRevocations(db: Db, account: 'AGENTS' | 'SYS'): Revocations {
  const rows = db.prepare('SELECT nkey, revoked_at FROM site_revocations WHERE account = ?').all(account) as { nkey: string; revoked_at: number }[];
  return Object.fromEntries(rows.map((r) => [r.nkey, Math.ceil(r.revoked_at / 1000)]));
}

/**
 * Operators' NATS users refused in OPERATORS (the table exists once server/operators/schema.ts has
 * run): a revoked operator's every user; a renewed one's users issued in any second before the
 * renewed user (nats-server refuses a user whose iat is at or before its key's time, so the
 * renewed one, issued in the next second or later, stays valid).
 */
function operatorRevocations(db: Db): Revocations {
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'operators'").get();
  if (!exists) return {};
  const revoked = db.prepare('SELECT nats_key, revoked_at FROM operators WHERE revoked_at IS NOT NULL').all() as { nats_key: string; revoked_at: number }[];
  const renewed = hasColumn(db, 'renewed_jwt_iat')
    ? (db.prepare('SELECT nats_key, renewed_jwt_iat FROM operators WHERE renewed_jwt_iat IS NOT NULL AND revoked_at IS NULL').all() as { nats_key: string; renewed_jwt_iat: number }[])
    : [];
  return Object.fromEntries([...renewed.map((r) => [r.nats_key, Math.floor(r.renewed_jwt_iat / 1000) - 1]), ...revoked.map((r) => [r.nats_key, Math.ceil(r.revoked_at / 1000)])]);
}

const hasColumn = (db: Db, column: string): boolean => db.prepare("SELECT 1 FROM pragma_table_info('operators') WHERE name = ?").get(column) !== undefined;

/**
 * Operators whose user was renewed (`ferry operator renew`, always into OPERATORS): FERRY refuses
 * every user of their key issued up to then — an admin's from before least privilege, which was a
 * user of FERRY. (The column exists once server/operators/schema.ts has run.)
 */
function renewedOperators(db: Db): Revocations {
  if (!hasColumn(db, 'renewed_at')) return {};
  const rows = db.prepare('SELECT nats_key, renewed_at FROM operators WHERE renewed_at IS NOT NULL').all() as { nats_key: string; renewed_at: number }[];
  return Object.fromEntries(rows.map((r) => [r.nats_key, Math.ceil(r.renewed_at / 1000)]));
}

/** Operators who may upload and are users of OPERATORS (all but the bootstrap admin, a user of FERRY): FERRY exports each one's own bucket. */
function operatorUploaders(db: Db): string[] {
  return activeUploaders(db)
    .filter((o) => o.name !== BOOTSTRAP_ADMIN)
    .map((o) => o.name);
}

/** Active agents that joined before decentralised auth and have not fetched their JWT yet. */
function agentsToMigrate(db: Db): number {
  return (db.prepare('SELECT count(*) AS n FROM agents WHERE revoked_at IS NULL AND jwt_issued_at IS NULL').get() as { n: number }).n;
}

/** Enrolment users of tokens that are used up or revoked and not yet expired (expired ones cannot log in). */
function enrollRevocations(db: Db, now = Date.now()): Revocations {
  const rows = db.prepare('SELECT enroll_nkey, expires_at FROM tokens WHERE enroll_nkey IS NOT NULL AND expires_at > ? AND (uses_left <= 0 OR revoked_at IS NOT NULL)').all(now) as { enroll_nkey: string; expires_at: number }[];
  return Object.fromEntries(rows.map((r) => [r.enroll_nkey, Math.ceil(r.expires_at / 1000)]));
}

/** The bootstrap admin: keys/admin.creds for the admin nkey (rewritten when its account key changed). */
async function writeAdminCreds(keys: NatsKeys, paths: NatsAuthPaths): Promise<void> {
  const seed = readFileSync(paths.adminSeed, 'utf8').trim();
  if (existsSync(paths.adminCreds)) {
    const existing = parseCreds(readFileSync(paths.adminCreds, 'utf8'));
    const issuer = existing ? jwtClaims(existing.jwt).iss : undefined;
    if (existing?.seed === seed && issuer === keys.accounts.FERRY.publicKey) return;
  }
  const creds = await issueAccountUser(keys, 'FERRY', 'admin', { publicKey: nativeKeyPair(seed).publicKey, seed });
  const tmp = `${paths.adminCreds}.${process.pid}.tmp`;
  writeFileSync(tmp, formatCreds(creds), { mode: 0o600 });
  renameSync(tmp, paths.adminCreds);
}

/** An account JWT's claims without the fields that differ on every signing (iat, jti). */
export function claimsKey(jwt: string): string {
  const payload = jwtClaims(jwt);
  delete payload.iat;
  delete payload.jti;
  return JSON.stringify(payload);
}
