// The admin API: requests the `ferry` CLI sends on ferry.api.<verb> and the reply envelope.
// Each verb has a request schema; the server validates before it acts. Every string a user
// types is plain text (no control characters, bidi overrides or line separators: shared/text.ts);
// only notes and rollback plans may span lines (newlines and tabs).
import * as z from 'zod';
import { multilineTextSchema, packageNameSchema, plainTextSchema, versionSchema, wireErrorSchema } from './messages.js';

export { ROLLOUT_STATES, TERMINAL_ROLLOUT_STATES, WAVE_STATES, type RolloutState, type WaveState } from './rollout-states.js';

const packageRef = z.string().regex(/^[a-z0-9][a-z0-9._-]*@[^@\s]+$/, 'expected NAME@VERSION');
/** who asks: replaced by the server with the operator whose key signed the request (server/api/router.ts) */
const actor = plainTextSchema(128).min(1).default('admin');
const tags = z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'tag keys are letters, digits, _ . -'), plainTextSchema(256));

export const apiRequestSchemas = {
  'token.create': z.object({ tags: tags.default({}), ttlMs: z.number().int().positive().max(365 * 86_400_000), uses: z.number().int().positive().max(1_000_000), site: z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, 'a site name is a-z, 0-9 and "-"').optional() }).strict(),
  'token.list': z.object({}).strict(),
  'token.revoke': z.object({ id: z.string().regex(/^[0-9a-f]{12}$/, 'not a token id'), actor }).strict(),
  'dml.add': z.object({ upload: z.string().min(1).max(256) }).strict(),
  'dml.list': z.object({}).strict(),
  'dml.show': z.object({ name: packageNameSchema, version: versionSchema }).strict(),
  'dml.authorize': z.object({ name: packageNameSchema, version: versionSchema, evidence: plainTextSchema(1024).optional(), actor }).strict(),
  /** what `ferry dml export` writes into an offline bundle, except the bytes (read from the DML by the CLI) */
  'dml.export': z.object({ packages: z.array(z.object({ name: packageNameSchema, version: versionSchema }).strict()).min(1).max(100) }).strict(),
  'dml.retire': z.object({ name: packageNameSchema, version: versionSchema, reason: plainTextSchema(1024).optional(), actor }).strict(),
  'release.create': z
    .object({
      name: packageNameSchema,
      packages: z.array(packageRef).min(1).max(64),
      rfc: plainTextSchema(128).optional(),
      owner: plainTextSchema(128).optional(),
      notes: multilineTextSchema(8192).optional(),
      risk: z.enum(['low', 'medium', 'high']).optional(),
      rollbackPlan: multilineTextSchema(8192).optional(),
    })
    .strict(),
  'release.approve': z.object({ name: packageNameSchema, comment: plainTextSchema(1024).optional(), actor }).strict(),
  'release.list': z.object({}).strict(),
  'release.show': z.object({ name: packageNameSchema }).strict(),
  'rollout.start': z
    .object({
      /** exactly one of release (install it) or remove (uninstall this package) */
      release: packageNameSchema.optional(),
      remove: packageNameSchema.optional(),
      target: plainTextSchema(1024).default('all'),
      strategy: z.enum(['big-bang', 'phased']).default('big-bang'),
      waves: z.array(z.string().regex(/^(\d+|\d+(\.\d+)?%)$/, 'a wave is a host count or a percentage')).max(32).optional(),
      soakMs: z.number().int().nonnegative().default(0),
      maxFailures: z.string().regex(/^(\d+|\d+(\.\d+)?%)$/, 'a count or a percentage').default('0'),
      onFailure: z.enum(['halt', 'rollback']).default('halt'),
      hostTimeoutMs: z.number().int().positive().default(15 * 60_000),
      /** per agent: downloads are paced to this many bytes per second (`--max-rate`) */
      maxRateBps: z.number().int().min(1024).optional(),
      includeOffline: z.boolean().default(false),
      window: plainTextSchema(256).min(1).optional(),
      /** the time zone of `window` (default UTC, said in the start's notes) */
      timeZone: plainTextSchema(64).optional(),
      startAt: z.number().int().positive().optional(),
      dryRun: z.boolean().default(false),
      force: z.boolean().default(false),
      reason: plainTextSchema(1024).optional(),
      /** start even though the selector matches no host (otherwise FERRY_NO_TARGETS) */
      allowEmpty: z.boolean().default(false),
      /** end unfinished rollouts of the same packages for the hosts this one takes (otherwise FERRY_CONFLICT) */
      supersede: z.boolean().default(false),
      /** after the waves, bring hosts that join or start matching the target to the release too */
      follow: z.boolean().default(false),
      actor,
    })
    .strict(),
  'rollout.status': z.object({ id: z.string().max(64).optional() }).strict(),
  'rollout.list': z.object({}).strict(),
  'rollout.review': z.object({ id: z.string().min(1).max(64) }).strict(),
  'rollout.action': z.object({ id: z.string().min(1).max(64), action: z.enum(['pause', 'resume', 'abort', 'rollback', 'retry', 'start-now', 'stop-follow']), actor }).strict(),
  'agents.list': z.object({ target: plainTextSchema(1024).default('all'), all: z.boolean().default(false) }).strict(),
  'agents.revoke': z.object({ id: z.string().min(1).max(253), actor }).strict(),
  'agents.decommission': z
    .object({ id: z.string().min(1).max(253), purge: z.boolean().default(false), purgeTimeoutMs: z.number().int().positive().max(3_600_000).default(60_000), actor })
    .strict(),
  /** `ferry agent tag HOST k=v... [--remove k...]`: change a host's tags in the CMDB (the join's tag rules) */
  'agents.tag': z
    .object({
      host: z.string().min(1).max(253),
      set: tags.default({}),
      remove: z.array(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'tag keys are letters, digits, _ . -')).max(256).default([]),
      actor,
    })
    .strict(),
  'keys.reload': z.object({}).strict(),
  'cmdb.show': z.object({ host: z.string().min(1).max(253) }).strict(),
  /** the fleet and the open rollouts at a glance (`ferry status`) */
  'fleet.status': z.object({}).strict(),
  'site.list': z.object({}).strict(),
  /** `ferry site set NAME --max-rate RATE|none`: bytes per second across the site's link (null: not paced) */
  'site.set': z.object({ name: z.string().min(1).max(64), maxRateBps: z.number().int().min(1024).nullable(), actor }).strict(),
  /** `ferry site remove NAME [--force]`: revoke the site's link credentials, drop its row; --force: although agents are tagged to it */
  'site.remove': z.object({ name: z.string().min(1).max(64), force: z.boolean().default(false), actor }).strict(),
  /** the hooks' output of a host's operations (`ferry logs HOST [--rollout ID]`); afterId: only newer entries (--follow) */
  'agents.logs': z
    .object({ host: z.string().min(1).max(253), rollout: z.string().min(1).max(64).optional(), afterId: z.number().int().nonnegative().optional(), limit: z.number().int().positive().max(1000).default(100) })
    .strict(),
  /** `ferry cmdb clone-config PROD --to TEST`: one rollout gives the test host exactly the production host's versions */
  'cmdb.clone': z
    .object({
      from: z.string().min(1).max(253),
      to: z.string().min(1).max(253),
      hostTimeoutMs: z.number().int().positive().default(15 * 60_000),
      dryRun: z.boolean().default(false),
      /** end unfinished rollouts of the same packages on the test host (otherwise FERRY_CONFLICT) */
      supersede: z.boolean().default(false),
      actor,
    })
    .strict(),
  'cmdb.versions': z.object({ package: packageNameSchema, target: plainTextSchema(1024).default('all') }).strict(),
  'audit.list': z
    .object({ since: z.number().int().nonnegative().optional(), actor: z.string().max(128).optional(), action: z.string().max(128).optional(), limit: z.number().int().positive().max(100_000).default(1000) })
    .strict(),
  schedule: z.object({ all: z.boolean().default(false) }).strict(),
  'notify.add': z
    .object({
      url: plainTextSchema(2048).min(1),
      events: z.array(plainTextSchema(128)).min(1).max(64),
      secret: z.string().max(256).optional(),
      release: packageNameSchema.optional(),
    })
    .strict(),
  'notify.list': z.object({}).strict(),
  'notify.remove': z.object({ id: z.string().min(1).max(64) }).strict(),
  'notify.test': z.object({ id: z.string().min(1).max(64) }).strict(),
  /** a person's credentials: the CLI makes both keys and sends only their public halves */
  'operator.add': z
    .object({
      name: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'an operator name is 1-32 lower-case letters, digits and -, starting with a letter'),
      role: z.enum(['viewer', 'deployer', 'release-manager', 'approver', 'admin']),
      natsKey: z.string().regex(/^U[A-Z2-7]{55}$/, 'not a NATS user public key'),
      signingKey: z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'not a base64 Ed25519 public key'),
      actor,
    })
    .strict(),
  'operator.list': z.object({}).strict(),
  'operator.revoke': z.object({ name: z.string().min(1).max(64), actor }).strict(),
  /** the caller's own NATS user, issued anew (same key) with their role's current permissions; nobody renews another */
  'operator.renew': z.object({}).strict(),
  'audit.verify': z.object({}).strict(),
  /** the CLI reports a request nats-server refused (NATS permissions): audited as refused */
  'audit.refused': z.object({ verb: z.string().min(1).max(64).regex(/^[a-z.]+$/) }).strict(),
  /**
   * `ferry backup` reads everything over NATS directly; this records that it did, after it ran:
   * how it ended, and what it wrote. `dryRun` only checks that the caller may (a refusal is
   * recorded, nothing else is).
   */
  'backup.record': z
    .object({
      out: plainTextSchema(1024).optional(),
      actor,
      dryRun: z.boolean().optional(),
      result: z.enum(['ok', 'failed']).optional(),
      /** result ok: the archive written, its size, and the SHA-256 of its manifest.json */
      file: plainTextSchema(4096).optional(),
      bytes: z.number().int().nonnegative().optional(),
      manifestSha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
      /** result failed: why, as the CLI reported it */
      error: z.object({ code: z.string().regex(/^FERRY_[A-Z_]{1,40}$/), message: plainTextSchema(1024) }).strict().optional(),
    })
    .strict(),
  /** `ferry ui login`: a one-time sign-in URL of the web console for the signing operator */
  'ui.login': z.object({}).strict(),
} as const;

export type ApiVerb = keyof typeof apiRequestSchemas;
export type ApiRequest<V extends ApiVerb> = z.input<(typeof apiRequestSchemas)[V]>;
export type ApiRequestParsed<V extends ApiVerb> = z.output<(typeof apiRequestSchemas)[V]>;

/**
 * Verbs that only read. Every other verb is an administrative action: the server audits it, and
 * the CLI never sends it twice (a read that got no answer is asked again, server/cli/resend.ts).
 */
export const READ_ONLY_VERBS: ReadonlySet<string> = new Set<ApiVerb>(['dml.list', 'dml.show', 'release.list', 'release.show', 'rollout.status', 'rollout.list', 'rollout.review', 'agents.list', 'cmdb.show', 'cmdb.versions', 'fleet.status', 'agents.logs', 'audit.list', 'schedule', 'notify.list', 'token.list', 'operator.list', 'audit.verify', 'site.list']);

export const apiReplySchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), result: z.unknown() }),
  z.object({ ok: z.literal(false), error: wireErrorSchema }),
]);
export type ApiReply = z.infer<typeof apiReplySchema>;
