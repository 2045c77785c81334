// Reply documents of the rollout verbs: rollout.start/status/list/review/action, cmdb.clone, schedule.
import * as z from 'zod';

const str = z.string();
const int = z.number().int();
const hostRef = z.object({ agent: str, hostname: str });

/** A clone-config rollout's changes: the test host installs and removes these to match the production host. */
export const clonePackageSchema = z.object({ name: str, version: str, downgrade: z.literal(true).optional() });

/** The options a rollout runs with (as stored; see server/rollouts/options.ts). */
export const rolloutOptionsSchema = z.object({
  waves: z.array(str),
  soakMs: z.number(),
  maxFailures: str,
  onFailure: z.enum(['halt', 'rollback']),
  hostTimeoutMs: z.number(),
  includeOffline: z.boolean(),
  /** waves start only inside this window (see shared/windows.ts) */
  window: str.optional(),
  timeZone: str.optional(),
  /** epoch ms before which nothing starts */
  startAt: z.number().optional(),
  /** set for a removal: the package this rollout uninstalls (then `release` is only a label) */
  remove: str.optional(),
  /** `--max-rate`: each agent's download is paced to this many bytes per second */
  maxRateBps: z.number().optional(),
  /** `--follow`: after the waves, hosts that join or start matching the target receive it too */
  follow: z.boolean().optional(),
  /** set for `ferry cmdb clone-config`: the production host copied and the changes that copy it */
  clone: z.object({ from: str, fromHostname: str, install: z.array(clonePackageSchema), remove: z.array(str) }).optional(),
});
export type RolloutOptionsDoc = z.infer<typeof rolloutOptionsSchema>;

export const riskAssessmentSchema = z.object({
  level: z.enum(['low', 'medium', 'high']),
  /** the computed level, also when an override replaced it */
  computed: z.enum(['low', 'medium', 'high']),
  override: z.enum(['low', 'medium', 'high']).nullable(),
  factors: z.array(str),
});

/** The policy check a rollout start made (stored with the rollout). */
export const rolloutPolicyRecordSchema = z.object({
  environments: z.array(str),
  violations: z.array(str),
  evidence: z.array(z.object({ environment: str, rollout: str })),
  /** approvals that did not count (four eyes) */
  uncountedApprovals: z.array(z.object({ by: str, reason: str })).optional(),
  override: z.object({ actor: str, reason: str, at: str }).nullable(),
  risk: z.object({ level: str, computed: str, override: str.nullable(), factors: z.array(str) }),
  targets: int,
  fleet: int,
});
export type RolloutPolicyRecordDoc = z.infer<typeof rolloutPolicyRecordSchema>;

export const rolloutOperationSchema = z.enum(['install', 'remove', 'clone']);

/** `rollout.status` (and what `rollout.action` answers): one rollout, its waves and hosts. */
export const rolloutStatusSchema = z.object({
  id: str,
  /** the release name, or "remove PACKAGE" for a removal */
  release: str,
  operation: rolloutOperationSchema,
  /** a removal's package */
  package: str.optional(),
  /** a clone-config rollout: the production host whose versions the test host gets */
  copyOf: hostRef.optional(),
  strategy: str,
  state: str,
  target: str,
  reason: str.optional(),
  createdAt: str,
  startedAt: str.optional(),
  endedAt: str.optional(),
  options: rolloutOptionsSchema,
  /** a `--follow` rollout: whether it still follows its target, and if not why */
  follow: z.object({ state: z.enum(['following', 'stopped']), reason: str.optional(), endedAt: str.optional() }).optional(),
  counts: z.record(str, z.number()),
  waves: z.array(
    z.object({ index: int, state: str, hosts: int, succeeded: int, failed: int, pending: int, startedAt: str.optional(), endedAt: str.optional(), soakUntil: str.optional() }),
  ),
  /** late: brought in after the waves by a `--follow` rollout (wave is then null) */
  hosts: z.array(
    z.object({
      agent: str,
      hostname: str,
      wave: int.nullable(),
      state: str,
      late: z.literal(true).optional(),
      error: str.optional(),
      reason: str.optional(),
      /** why the outcome is not the package's doing: sent back by a fleet rollback (rolled-back), or taken over by a newer rollout (skipped) */
      cause: z.enum(['fleet-rollback', 'superseded']).optional(),
      waiting: z.literal(true).optional(),
      waitingUntil: str.optional(),
      finishedAt: str.optional(),
    }),
  ),
});
export type RolloutStatusDoc = z.infer<typeof rolloutStatusSchema>;

/** An unfinished rollout that holds some of the same hosts (refused start, or superseded). */
export const rolloutConflictSchema = z.object({ rollout: str, release: str, state: str, hosts: z.array(str) });

/** A host as a plan places it (dry runs). */
export const plannedHostSchema = z.object({
  agent: str,
  hostname: str,
  /** wave index, or null when skipped */
  wave: int.nullable(),
  reason: str,
  /** the versions of the release's packages before the rollout (for rollback) */
  fromVersions: z.record(str, str),
  /** packages this rollout would take to an older version on the host */
  downgrades: z.array(z.object({ name: str, from: str, to: str })).optional(),
});

/** `rollout.start`: the plan (--dry-run), or the started rollout's status with its policy check. */
export const rolloutStartReplySchema = z.union([
  z.object({
    dryRun: z.literal(true),
    release: str,
    operation: z.enum(['install', 'remove']),
    strategy: str,
    target: str,
    options: rolloutOptionsSchema,
    policy: rolloutPolicyRecordSchema,
    waves: z.array(z.object({ index: int, hosts: int })),
    hosts: z.array(plannedHostSchema),
    downgrades: int,
    conflicts: z.array(rolloutConflictSchema),
    notes: z.array(str),
  }),
  rolloutStatusSchema.extend({ policy: rolloutPolicyRecordSchema, notes: z.array(str), superseded: z.array(rolloutConflictSchema) }),
]);
export type RolloutStartReply = z.infer<typeof rolloutStartReplySchema>;

const cloneSummaryShape = { from: hostRef, to: hostRef, install: z.array(clonePackageSchema), remove: z.array(str), unchanged: int };

/** `cmdb.clone`: the test host already matched, the plan (--dry-run), or the rollout started. */
export const cmdbCloneReplySchema = z.union([
  z.object({ identical: z.literal(true), ...cloneSummaryShape }),
  z.object({ dryRun: z.literal(true), ...cloneSummaryShape, conflicts: z.array(rolloutConflictSchema), violations: z.array(str), notes: z.array(str) }),
  rolloutStatusSchema.extend({ ...cloneSummaryShape, notes: z.array(str), superseded: z.array(rolloutConflictSchema) }),
]);
export type CmdbCloneReply = z.infer<typeof cmdbCloneReplySchema>;

export const rolloutListReplySchema = z.array(
  z.object({ id: str, release: str, operation: rolloutOperationSchema, package: str.optional(), copyOf: hostRef.optional(), strategy: str, state: str, target: str, createdAt: str, hosts: int }),
);
export type RolloutListReply = z.infer<typeof rolloutListReplySchema>;

/** `rollout.review`: the post-implementation review of a rollout. */
export const rolloutReviewSchema = z.object({
  id: str,
  release: str,
  rfc: str.nullable(),
  owner: str.nullable(),
  notes: str.nullable(),
  approvals: z.array(z.object({ actor: str, at: str, comment: str.optional() })),
  rollbackPlan: str.nullable(),
  /** the policy check at start: environments, violations, evidence, override, risk */
  policy: rolloutPolicyRecordSchema.nullable(),
  /** early life support: health during the soak after each wave */
  earlyLife: z.object({
    soakMs: z.number(),
    watched: int,
    stayedHealthy: int,
    failedDuringSoak: z.array(z.object({ agent: str, hostname: str, wave: int, error: str.nullable() })),
  }),
  packages: z.array(str),
  /** a clone-config rollout: the production host whose versions it copied onto the test host */
  copyOf: hostRef.nullable(),
  /** hosts of this rollout that were copies of a production host (the latest clone-config before it) */
  testedOnCopies: z.array(z.object({ agent: str, hostname: str, copyOf: hostRef, cloneRollout: str, copiedAt: str })),
  strategy: str,
  state: str,
  reason: str.nullable(),
  target: str,
  actor: str,
  options: rolloutOptionsSchema,
  createdAt: str,
  startedAt: str.nullable(),
  endedAt: str.nullable(),
  durationMs: z.number().nullable(),
  timeline: z.array(z.object({ at: str, actor: str, action: str, detail: str.nullable() })),
  waves: z.array(z.object({ index: int, state: str, hosts: int, succeeded: int, failed: int, startedAt: str.nullable(), endedAt: str.nullable() })),
  totals: z.record(str, z.number()),
  installTimeMs: z.object({ count: int, p50: z.number().nullable(), p95: z.number().nullable(), max: z.number().nullable() }),
  failures: z.array(z.object({ agent: str, hostname: str, wave: int, state: str, error: str.nullable() })),
  rollbacks: z.array(z.object({ agent: str, hostname: str, state: str, error: str.nullable() })),
  notConverged: z.array(z.object({ agent: str, hostname: str, state: str, reason: str.nullable() })),
});
export type RolloutReview = z.infer<typeof rolloutReviewSchema>;

/** `schedule`: active rollouts (with --all, also recent ones), soonest first. */
export const scheduleEntrySchema = z.object({
  rollout: str,
  release: str,
  state: str,
  strategy: str,
  target: str,
  /** hosts the rollout installs on (skipped ones excluded) */
  hosts: int,
  owner: str.nullable(),
  rfc: str.nullable(),
  risk: str.nullable(),
  rollbackPlan: str.nullable(),
  window: str.nullable(),
  timeZone: str.nullable(),
  /** when it started, or when it will (next) make progress; null if its window never opens */
  start: str.nullable(),
  /** when its current or next window closes (null: no window, or still open in 8 days) */
  end: str.nullable(),
  actor: str,
});
export type ScheduleEntry = z.infer<typeof scheduleEntrySchema>;
export const scheduleReplySchema = z.array(scheduleEntrySchema);
