// Ferry's domain events: what the server publishes on `ferry.events.<type>` (JetStream stream
// FERRY_EVENTS) and POSTs to webhooks. One envelope, one data schema per family of types.
// The wire contract is documented in docs/events.md; change it only by adding fields or types.
import * as z from 'zod';
import { HOST_STATES } from './messages.js';
import { ROLLOUT_STATES, WAVE_STATES } from './api.js';

export const EVENTS_STREAM = 'FERRY_EVENTS';
export const EVENT_SUBJECT_PREFIX = 'ferry.events';
export const EVENTS_SUBJECT_ALL = `${EVENT_SUBJECT_PREFIX}.>`;
/** Version of the envelope below; bumped only for an incompatible change. */
export const EVENT_SCHEMA_VERSION = 1;

/**
 * A rollout state change is `rollout.<state>`, except that entering `running` is
 * `rollout.started` the first time (from `planned`) and `rollout.resumed` afterwards (from
 * `paused` or `waiting`). A new rollout is `rollout.created`.
 */
export const ROLLOUT_EVENT_TYPES = ['rollout.created', 'rollout.started', 'rollout.resumed', ...ROLLOUT_STATES.filter((s) => s !== 'running' && s !== 'planned').map((s) => `rollout.${s}` as const)] as const;
/** A wave entering `running` is `wave.started`; every other wave state is `wave.<state>`. */
export const WAVE_EVENT_TYPES = ['wave.started', ...WAVE_STATES.filter((s) => s !== 'running' && s !== 'pending').map((s) => `wave.${s}` as const)] as const;
/** A host of a rollout changing state: `host.<state>` for every host state. */
export const HOST_EVENT_TYPES = HOST_STATES.map((s) => `host.${s}` as const);
export const DML_EVENT_TYPES = ['dml.added', 'dml.authorized', 'dml.retired'] as const;
export const RELEASE_EVENT_TYPES = ['release.created', 'release.approved'] as const;
/** Sent only by `ferry notify test`, never published on the stream. */
export const TEST_EVENT_TYPE = 'notify.test';

export const EVENT_TYPES: readonly string[] = [...ROLLOUT_EVENT_TYPES, ...WAVE_EVENT_TYPES, ...HOST_EVENT_TYPES, ...DML_EVENT_TYPES, ...RELEASE_EVENT_TYPES, TEST_EVENT_TYPE];
export type EventType = (typeof EVENT_TYPES)[number];

const nullable = <T extends z.ZodType>(t: T) => t.nullable().optional();

export const rolloutEventDataSchema = z.object({
  rollout: z.string(),
  release: z.string(),
  strategy: z.enum(['big-bang', 'phased']),
  state: z.enum(ROLLOUT_STATES),
  previous: z.enum(ROLLOUT_STATES).nullable(),
  reason: nullable(z.string()),
  actor: nullable(z.string()),
  target: z.string().optional(),
  hosts: z.number().int().optional(),
  waves: z.number().int().optional(),
});

export const waveEventDataSchema = z.object({
  rollout: z.string(),
  release: z.string(),
  /** 0-based, as `index` in `ferry rollout status --json` */
  wave: z.number().int().nonnegative(),
  state: z.enum(WAVE_STATES),
  previous: z.enum(WAVE_STATES).nullable(),
  size: z.number().int().nonnegative(),
});

export const hostEventDataSchema = z.object({
  rollout: z.string(),
  release: z.string(),
  agent: z.string(),
  hostname: z.string(),
  /** 0-based wave index, null for hosts outside every wave */
  wave: z.number().int().nonnegative().nullable(),
  state: z.enum(HOST_STATES),
  previous: z.enum(HOST_STATES).nullable(),
  error: nullable(z.string()),
});

export const dmlEventDataSchema = z.object({
  package: z.string(),
  version: z.string(),
  digest: z.string().optional(),
  size: z.number().int().optional(),
  actor: nullable(z.string()),
  evidence: nullable(z.string()),
  /** dml.retired: why */
  reason: nullable(z.string()),
});

export const releaseEventDataSchema = z.object({
  release: z.string(),
  packages: z.array(z.object({ name: z.string(), version: z.string() })).optional(),
  rfc: nullable(z.string()),
  owner: nullable(z.string()),
  actor: nullable(z.string()),
  /** release.approved: the approver's comment and the number of approvals now */
  comment: nullable(z.string()),
  approvals: z.number().int().nonnegative().optional(),
});

export const testEventDataSchema = z.object({ webhook: z.string(), message: z.string() });

const envelope = <T extends string, D extends z.ZodType>(types: readonly T[], data: D) =>
  z.object({
    version: z.literal(EVENT_SCHEMA_VERSION),
    /** unique per event; the JetStream Nats-Msg-Id and the X-Ferry-Delivery header */
    id: z.string().min(1).max(64),
    /** the server's event sequence: strictly increasing in publication order (0 for notify.test) */
    seq: z.number().int().nonnegative(),
    type: z.enum(types as [T, ...T[]]),
    /** when the change happened, ISO 8601 UTC */
    ts: z.string(),
    /** the NATS subject the event is published on */
    subject: z.string(),
    data,
  });

export const ferryEventSchema = z.union([
  envelope(ROLLOUT_EVENT_TYPES, rolloutEventDataSchema),
  envelope(WAVE_EVENT_TYPES, waveEventDataSchema),
  envelope(HOST_EVENT_TYPES, hostEventDataSchema),
  envelope(DML_EVENT_TYPES, dmlEventDataSchema),
  envelope(RELEASE_EVENT_TYPES, releaseEventDataSchema),
  envelope([TEST_EVENT_TYPE], testEventDataSchema),
]);
export type FerryEvent = z.infer<typeof ferryEventSchema>;

/** `ferry.events.rollout.completed` for `rollout.completed`. */
export function eventSubject(type: string): string {
  return `${EVENT_SUBJECT_PREFIX}.${type}`;
}

/**
 * An event-type pattern for webhooks: an exact type (`rollout.completed`) or a glob where `*`
 * stands for any characters, dots included (`rollout.*`, `*.failed`, `*`).
 */
export const EVENT_PATTERN = /^(\*|[a-z*][a-z0-9*-]*(\.[a-z0-9*-]+)*)$/;

export function matchesEventPattern(pattern: string, type: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map(escapeRegExp).join('.*')}$`);
  return re.test(type);
}

/** Does any of these patterns name at least one known event type? (Catches typos.) */
export function patternMatchesSomeType(pattern: string): boolean {
  return EVENT_TYPES.some((t) => matchesEventPattern(pattern, t));
}

function escapeRegExp(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}

// ---- webhook signatures ----
export const WEBHOOK_HEADERS = {
  event: 'X-Ferry-Event',
  delivery: 'X-Ferry-Delivery',
  timestamp: 'X-Ferry-Timestamp',
  signature: 'X-Ferry-Signature',
} as const;

/** The bytes a webhook signature covers: `<timestamp>.<raw body>` (timestamp in Unix seconds). */
export function signedPayload(timestamp: string, body: string): string {
  return `${timestamp}.${body}`;
}
