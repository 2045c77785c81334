// Reply documents of the remaining verbs: the CMDB, sites, tokens, audit, webhooks, operators, keys.
import * as z from 'zod';
import { driftSchema, inventorySchema } from '../messages.js';
import { ROLES } from '../../operators/roles.js';
import { agentDocSchema } from './agents.js';

const str = z.string();
const int = z.number().int();

/** `cmdb.show`: a host as agents.list describes it, with its facts, inventory, drift and history (newest first). */
export const cmdbShowReplySchema = agentDocSchema.extend({
  joinedAt: str,
  facts: z.record(str, str),
  inventory: z.object(inventorySchema.shape).nullable(),
  drift: z.array(z.object(driftSchema.element.shape)),
  history: z.array(
    z.object({ ts: z.number(), kind: str, package: str.nullable(), version: str.nullable(), fromVersion: str.nullable(), operation: str.nullable(), result: str.nullable(), detail: str.nullable() }),
  ),
});
export type CmdbShowReply = z.infer<typeof cmdbShowReplySchema>;

/** `cmdb.versions`: which versions of a package the targeted hosts run, newest first. */
export const cmdbVersionsReplySchema = z.object({
  package: str,
  target: str,
  hosts: int,
  notInstalled: int,
  versions: z.array(z.object({ version: str, hosts: int, share: z.number(), hostnames: z.array(str) })),
});
export type CmdbVersionsReply = z.infer<typeof cmdbVersionsReplySchema>;

export const agentsRevokeReplySchema = z.object({ id: str, hostname: str, revokedAt: str });

/** `agents.tag`: the host's tags before and after (changed: false when the request changed nothing). */
export const agentsTagReplySchema = z.object({ id: str, hostname: str, tags: z.record(z.string(), z.string()), previous: z.record(z.string(), z.string()), changed: z.boolean() });

export const agentsDecommissionReplySchema = z.object({
  id: str,
  hostname: str,
  decommissionedAt: str,
  /** the agent acknowledged the stop command (false: it was offline or did not answer) */
  stopped: z.boolean(),
  revoked: z.literal(true),
  purge: z.array(z.object({ package: str, version: str, result: z.enum(['removed', 'failed', 'timeout', 'offline']), error: str.optional() })).optional(),
});
export type DecommissionResult = z.infer<typeof agentsDecommissionReplySchema>;

/** `keys.reload`: the trust document now published and what was signed again. */
export const keysReloadReplySchema = z.object({
  trustVersion: z.number(),
  expiresAt: str,
  signingKey: str,
  rootKey: str,
  resigned: z.object({ records: z.number(), states: z.number() }),
});

/** One site: its agents and how far its mirror is behind (site.list). */
export const siteDocSchema = z.object({
  name: str,
  domain: str,
  agentUrl: str,
  hubUrl: str,
  /** `--max-rate`: bytes per second across the site's link; null: not paced */
  maxRateBps: z.number().nullable(),
  createdAt: str,
  /** the site's leafnode is linked to the hub (its JetStream domain answered) */
  linked: z.boolean(),
  agents: z.array(z.object({ id: str, hostname: str, online: z.boolean() })),
  /** the mirror's last sequence, messages and bytes; null before it exists (or while unlinked) */
  mirror: z.object({ lastSeq: z.number(), messages: z.number(), bytes: z.number() }).nullable(),
  /** what the hub's DML holds that the mirror has not got yet; null when unknown */
  behind: z.object({ objects: z.number(), bytes: z.number() }).nullable(),
  error: str.optional(),
});
export type SiteDoc = z.infer<typeof siteDocSchema>;
export const siteListReplySchema = z.array(siteDocSchema);

export const siteSetReplySchema = z.object({
  name: str,
  maxRateBps: z.number().nullable(),
  previousMaxRateBps: z.number().nullable(),
  /** the site's mirror consumers at the hub (each one the server made for it and still there): updated in place, deleted (at least one: the mirror makes one with the new rate), or none to change */
  consumer: z.enum(['updated', 'deleted', 'none']),
});
export type SiteSetResult = z.infer<typeof siteSetReplySchema>;

export const siteRemoveReplySchema = z.object({
  name: str,
  removedAt: str,
  /** the link user's JWT is revoked in the AGENTS account: the hub closed the leafnode link and refuses it from now on */
  link: z.literal('revoked'),
  /** the system-account link: revoked too, or not-recorded (a site added before its key was kept: it stays until the site stops) */
  systemLink: z.enum(['revoked', 'not-recorded']),
  /** agents still tagged site=NAME (removed with --force): they keep the tag and reach the hub once the site's nats-server stops */
  agents: z.array(z.object({ id: str, hostname: str, online: z.boolean() })),
  /** the site's join tokens that could still be used, revoked */
  tokensRevoked: z.array(str),
  /** the consumers the hub's server made for the site (its mirror's, and any other its link asked for): deleted (each one still there), none (none made, or all gone already), or failed (at least one; logged; JetStream drops it once nothing receives its deliveries) */
  mirrorConsumer: z.enum(['deleted', 'none', 'failed']),
});
export type SiteRemoveResult = z.infer<typeof siteRemoveReplySchema>;

/** `token.create`: the one time the token's secret is shown. */
export const tokenCreateReplySchema = z.object({ token: str, id: str, expiresAt: str, uses: int, tags: z.record(str, str), site: str.optional() });
export type CreatedToken = z.infer<typeof tokenCreateReplySchema>;

export const auditEntrySchema = z.object({
  id: int,
  at: str,
  actor: str,
  action: str,
  target: str.nullable(),
  args: z.record(str, z.unknown()),
  result: z.enum(['ok', 'error']),
  error: str.nullable(),
});
export type AuditEntry = z.infer<typeof auditEntrySchema>;
export const auditListReplySchema = z.array(auditEntrySchema);

export const auditVerifyReplySchema = z.object({
  ok: z.boolean(),
  records: int,
  head: str,
  firstBreak: z.object({ id: int, kind: z.enum(['changed', 'inserted', 'deleted']), detail: str }).nullable(),
});
export type ChainReport = z.infer<typeof auditVerifyReplySchema>;

export const webhookDocSchema = z.object({
  id: str,
  url: str,
  events: z.array(str),
  release: str.nullable(),
  createdAt: str,
  delivered: int,
  failures: int,
  pending: int,
  lastStatus: z.number().nullable(),
  lastError: str.nullable(),
  lastAttemptAt: str.nullable(),
  lastDeliveredAt: str.nullable(),
});
export type WebhookDoc = z.infer<typeof webhookDocSchema>;
/** `notify.add`: the hook, with its signing secret (shown this once) */
export const notifyAddReplySchema = webhookDocSchema.extend({ secret: str });
export const notifyListReplySchema = z.array(webhookDocSchema);
export const notifyRemoveReplySchema = z.object({ id: str, removed: z.literal(true) });
export const notifyTestReplySchema = z.object({ id: str, event: str, ok: z.boolean(), status: z.number().nullable(), error: str.nullable(), durationMs: z.number() });

export const operatorDocSchema = z.object({ name: str, role: z.enum(ROLES), createdAt: str, createdBy: str, revokedAt: str.nullable(), revokedBy: str.nullable() });
export type OperatorDoc = z.infer<typeof operatorDocSchema>;
/** `operator.add`: the operator with their NATS user JWT (the CLI writes their credentials file) */
export const operatorAddReplySchema = operatorDocSchema.extend({ jwt: str });
export const operatorListReplySchema = z.array(operatorDocSchema);
/** `operator.renew`: the caller, with their new NATS user JWT (the CLI writes it into their credentials file) */
export const operatorRenewReplySchema = operatorDocSchema.extend({ jwt: str });

/** `recorded: false` answers a dry run (the caller may back up; nothing was recorded) */
export const backupRecordReplySchema = z.object({ recorded: z.boolean(), by: str });
export const uiLoginReplySchema = z.object({ url: str, expiresAt: str });
/**
 * `audit.refused` never succeeds — it answers with the refusal (or says there was none) — but for
 * `operator.renew`: nats-server refusing the renewal of a role that may renew means the caller's
 * NATS user is older than the verb, and the answer is the renewal itself (how credentials from
 * before `operator.renew` reach it).
 */
export const auditRefusedReplySchema = operatorRenewReplySchema;
