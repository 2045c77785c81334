// Every message that crosses NATS between agents and the server: one type and one runtime
// schema each. Receivers parse with these schemas, so bad input is refused at the edge.
import * as z from 'zod';
import semver from 'semver';
import { AGENT_ID_PATTERN } from './subjects.js';
import { signedTrustSchema } from '../crypto/trust.js';
import { isSafeText, visible } from '../text.js';
import { HOST_STATES } from './host-states.js';

export const PACKAGE_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const NKEY_USER_PATTERN = /^U[A-Z2-7]{55}$/;

export const agentIdSchema = z.string().regex(AGENT_ID_PATTERN, 'not a valid agent id');
export const packageNameSchema = z.string().regex(PACKAGE_NAME_PATTERN, 'not a valid package name');
export const versionSchema = z
  .string()
  .max(128)
  .refine((v) => semver.valid(v) === v, 'not a semver version');
export const sha256HexSchema = z.string().regex(/^[0-9a-f]{64}$/, 'not a sha256 hex digest');
/**
 * Text shown to operators: refused if it holds a control character, a bidirectional override or
 * a line separator (shared/text.ts), so no terminal escape sequence is ever stored.
 */
export const plainTextSchema = (max: number) => z.string().max(max).refine((s) => isSafeText(s), 'must not contain control characters');
/** The same for text that may span lines (notes, rollback plans): newlines and tabs are kept. */
export const multilineTextSchema = (max: number) => z.string().max(max).refine((s) => isSafeText(s, { multiline: true }), 'must not contain control characters other than newlines and tabs');
/**
 * Free text a host reports (errors, hook output, paths it found): never a reason to drop the
 * whole report, so unsafe characters are neutralised at the edge instead, made visible as
 * `\x1b` (the form every printer uses). Only hook output keeps its newlines and tabs.
 */
export const hostTextSchema = (max: number, rules: { multiline?: boolean } = {}) => z.string().max(max).transform((s) => visible(s, rules));
const shortText = hostTextSchema(4096);
export const tagsSchema = z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/), plainTextSchema(256));
/** package name → installed version */
export const installedSchema = z.record(packageNameSchema, versionSchema);

export { HOST_STATES, TERMINAL_HOST_STATES, type HostState } from './host-states.js';
export const hostStateSchema = z.enum(HOST_STATES);

export const signedEnvelopeSchema = z
  .object({ payload: z.string().max(1024 * 1024), sig: z.string().max(128), key: z.string().max(128) })
  .strict();

// ---- enrolment (shared/protocol/enroll.ts has the transcripts both sides compute) ----
export const wireErrorSchema = z.object({ code: z.string(), message: z.string(), hint: z.string().optional() });
export type WireError = z.infer<typeof wireErrorSchema>;

const b64 = (bytes: number) => z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/).refine((s) => Buffer.from(s, 'base64').length === bytes, `must be ${bytes} bytes of base64`);
const tokenIdSchema = z.string().regex(/^[0-9a-f]{12}$/, 'not a token id');
export const nkeyUserSchema = z.string().regex(NKEY_USER_PATTERN, 'not an nkey user public key');

/** 1. The agent asks the server to prove itself, before anything of the token's secret is used. */
export const challengeRequestSchema = z.object({ v: z.literal(2), token: tokenIdSchema, nonce: b64(32) }).strict();
export type ChallengeRequest = z.infer<typeof challengeRequestSchema>;
export const challengeReplySchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), serverNonce: b64(32), trust: signedTrustSchema, key: z.string().max(128), sig: z.string().max(128) }).strict(),
  z.object({ ok: z.literal(false), error: wireErrorSchema }),
]);
export type ChallengeReply = z.infer<typeof challengeReplySchema>;

/** 2. The join: a proof of the token's secret bound to this challenge, key, hostname and tags. */
export const joinRequestSchema = z
  .object({
    v: z.literal(2),
    token: tokenIdSchema,
    serverNonce: b64(32),
    nkey: nkeyUserSchema,
    hostname: plainTextSchema(253).min(1),
    tags: tagsSchema.default({}),
    /** X25519 key the reply is sealed to */
    replyKey: b64(32),
    proof: b64(32),
  })
  .strict();
export type JoinRequest = z.infer<typeof joinRequestSchema>;
export const joinReplySchema = z.discriminatedUnion('ok', [z.object({ ok: z.literal(true), sealed: z.string().max(16 * 1024) }).strict(), z.object({ ok: z.literal(false), error: wireErrorSchema })]);
export type JoinReply = z.infer<typeof joinReplySchema>;
/** What the sealed join reply holds. */
export const joinResultSchema = z.object({ agentId: agentIdSchema, jwt: z.string().max(4096), tags: tagsSchema }).strict();
export type JoinResult = z.infer<typeof joinResultSchema>;

/** An agent from before decentralised auth asks for its user JWT, proving its nkey. */
export const migrateRequestSchema = z.object({ v: z.literal(2), agent: agentIdSchema, nkey: nkeyUserSchema, ts: z.number().int().positive(), replyKey: b64(32), sig: z.string().max(128) }).strict();
export type MigrateRequest = z.infer<typeof migrateRequestSchema>;
export const migrateReplySchema = joinReplySchema;
export const migrateResultSchema = z.object({ jwt: z.string().max(4096) }).strict();

// ---- agent reports ----
export const heartbeatSchema = z
  .object({ agent: agentIdSchema, ts: z.number().int().nonnegative(), installed: installedSchema, busy: z.boolean().default(false) })
  .strict();
export type Heartbeat = z.infer<typeof heartbeatSchema>;

export const inventorySchema = z
  .object({
    hostname: plainTextSchema(253),
    os: plainTextSchema(64),
    distro: plainTextSchema(128),
    release: plainTextSchema(128),
    kernel: plainTextSchema(128),
    arch: plainTextSchema(32),
    cpu: z.object({ model: plainTextSchema(256), cores: z.number().int().nonnegative() }),
    memoryMB: z.number().nonnegative(),
    disks: z.array(z.object({ mount: hostTextSchema(1024), sizeMB: z.number(), usedMB: z.number(), fs: hostTextSchema(64) })).max(256),
    interfaces: z.array(z.object({ name: hostTextSchema(64), ip4: hostTextSchema(64).optional(), ip6: hostTextSchema(128).optional(), mac: hostTextSchema(64).optional() })).max(256),
    virtual: z.boolean(),
  })
  .strict();
export type InventoryDoc = z.infer<typeof inventorySchema>;

/** Installed files that no longer match their manifest, per package (empty: none). */
export const driftSchema = z.array(
  z.object({ package: packageNameSchema, version: versionSchema, modified: z.array(hostTextSchema(4096)).max(1000), missing: z.array(hostTextSchema(4096)).max(1000) }).strict(),
).max(256);
export type DriftDoc = z.infer<typeof driftSchema>;

export const inventoryReportSchema = z
  .object({ agent: agentIdSchema, ts: z.number().int().nonnegative(), inventory: inventorySchema, installed: installedSchema, drift: driftSchema.optional() })
  .strict();
export type InventoryReport = z.infer<typeof inventoryReportSchema>;

/**
 * The operation id of an operator's `ferry-agent rollback` on the host (then a timestamp): the
 * server records it as a rollback, not as an install the agent undid. Agents of every version
 * name it so; no rollout id starts with it.
 */
export const LOCAL_ROLLBACK_OPERATION_PREFIX = 'local-rollback-';

/** The operation id of a fleet rollback: the rollout's id with this suffix (server/rollouts/engine.ts). */
export const FLEET_ROLLBACK_OPERATION_SUFFIX = ':rollback';

/** One package a desired state changed, besides the package its final report names (`changed`). */
export const packageChangeSchema = z
  .object({
    package: packageNameSchema,
    version: versionSchema,
    /** the version it replaced (none: a first install) */
    previousVersion: versionSchema.optional(),
    /** as a report's step: 'done' (installed), 'rollback' (switched back to a kept version), 'remove' */
    step: hostTextSchema(64),
  })
  .strict();
export type PackageChange = z.infer<typeof packageChangeSchema>;

export const statusReportSchema = z
  .object({
    agent: agentIdSchema,
    ts: z.number().int().nonnegative(),
    /** the rollout (or local operation) this report belongs to; stored in the host's history, so made visible */
    operation: z.string().min(1).pipe(hostTextSchema(128)),
    state: hostStateSchema,
    package: packageNameSchema.optional(),
    version: versionSchema.optional(),
    /** the version this package was on before (none: it was not installed) */
    previousVersion: versionSchema.optional(),
    step: hostTextSchema(64).optional(),
    /** one line: made visible, newlines included */
    error: shortText.optional(),
    /** hook output: multi-line, so only its newlines and tabs are kept */
    output: hostTextSchema(16 * 1024, { multiline: true }).optional(),
    installed: installedSchema,
    /**
     * the final report of a desired state that changed several packages: the others, in the order
     * they changed, each done; the report's own package is the last change (sent only when there
     * are others; an agent from before this field named the last package only)
     */
    changed: z.array(packageChangeSchema).max(512).optional(),
    /** with state 'sent': the agent holds the desired state (its maintenance window is closed) */
    waiting: z.object({ reason: shortText, until: z.number().int().nonnegative().optional() }).strict().optional(),
  })
  .strict();
export type StatusReport = z.infer<typeof statusReportSchema>;

// ---- what the server signs ----
/** The DML's signed statement that these exact bytes are name@version. */
export const dmlRecordSchema = z
  .object({
    name: packageNameSchema,
    version: versionSchema,
    sha256: sha256HexSchema,
    size: z.number().int().nonnegative(),
    object: z.string().min(1).max(256),
    signedAt: z.string(),
  })
  .strict();
export type DmlRecord = z.infer<typeof dmlRecordSchema>;

export const desiredPackageSchema = z
  .object({
    name: packageNameSchema,
    version: versionSchema,
    record: signedEnvelopeSchema,
    rollback: z.boolean().default(false),
    /** keep health-checking this long after install (the rollout's soak); a failure rolls back */
    watchMs: z.number().int().nonnegative().max(30 * 86_400_000).default(0),
    /** the rollout's `--max-rate`: pace the download to this many bytes per second (sent only when set) */
    maxBytesPerSecond: z.number().int().min(1024).optional(),
  })
  .strict();
export type DesiredPackage = z.infer<typeof desiredPackageSchema>;

/** What one agent should have installed; durable in KV so offline agents converge. */
export const desiredStateSchema = z
  .object({
    agent: agentIdSchema,
    generation: z.number().int().nonnegative(),
    operation: z.string().min(1).max(128),
    issuedAt: z.string(),
    packages: z.array(desiredPackageSchema).max(256),
    /** packages to uninstall (a removal rollout, or the rollback of a first install) */
    remove: z.array(packageNameSchema).max(256).default([]),
    /** apply at once, even outside the agent's maintenance window: back-outs and decommission purges (sent only when true) */
    immediate: z.boolean().optional(),
    /**
     * the agent's site has a --max-rate: read package bytes only from the site's mirror (which is
     * paced at that rate), waiting for it to catch up, never from the hub (sent only when true)
     */
    siteMirrorOnly: z.boolean().optional(),
  })
  .strict();
export type DesiredState = z.infer<typeof desiredStateSchema>;

export const commandSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('apply'),
      audience: agentIdSchema,
      subject: z.string().max(256),
      issuedAt: z.number().int(),
      expiresAt: z.number().int(),
      nonce: z.string().min(8).max(64),
      desired: signedEnvelopeSchema,
    })
    .strict(),
  z
    .object({ type: z.literal('report'), audience: agentIdSchema, subject: z.string().max(256), issuedAt: z.number().int(), expiresAt: z.number().int(), nonce: z.string().min(8).max(64) })
    .strict(),
  /** retire this agent: it acknowledges, deletes its credentials and stops */
  z
    .object({ type: z.literal('decommission'), audience: agentIdSchema, subject: z.string().max(256), issuedAt: z.number().int(), expiresAt: z.number().int(), nonce: z.string().min(8).max(64) })
    .strict(),
]);
export type Command = z.infer<typeof commandSchema>;
