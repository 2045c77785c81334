// Workstation maintenance window: an agent with a window holds installs while it is closed, and
// with a deadline installs anyway once an install has waited that long since it arrived.
//
// - The window has the syntax of rollout windows (shared/windows.ts) and a time zone (default
//   UTC): `--window "Mon-Fri 12:00-13:00" --timezone Europe/Berlin`.
// - The deadline is a duration (`--deadline 8h`), counted from when the desired state first
//   reached this agent (saved in the journal, so a restart does not reset it).
// - Only installs wait. A back-out (a rollback to the version kept from before, or the removal
//   of a package a failed rollout installed) is never held: it is how a fleet recovers.
// - While it holds, the agent reports the host as still 'sent' with `waiting: {reason, until}`
//   so the rollout shows it as waiting (and does not time it out) instead of failing it.
import * as z from 'zod';
import { formatDuration, parseDuration } from '../shared/durations.js';
import { FerryError } from '../shared/errors.js';
import { isInWindow, nextWindowStart, parseWindow, type WindowSpec } from '../shared/windows.js';

export const maintenanceSchema = z
  .object({
    window: z.string().min(1).max(256),
    timeZone: z.string().max(64).default('UTC'),
    deadlineMs: z.number().int().positive().optional(),
  })
  .strict();
export type MaintenanceConfig = z.infer<typeof maintenanceSchema>;

export interface MaintenanceFlags {
  window?: string | undefined;
  timezone?: string | undefined;
  deadline?: string | undefined;
}

/**
 * The maintenance settings from flags, else the environment (FERRY_WINDOW, FERRY_TIMEZONE,
 * FERRY_DEADLINE), else `stored` (the identity's). Validated here: bad input fails at the CLI.
 * `--window none` (or an empty FERRY_WINDOW) turns a stored window off.
 */
export function resolveMaintenance(flags: MaintenanceFlags, stored?: MaintenanceConfig, env: NodeJS.ProcessEnv = process.env): MaintenanceConfig | undefined {
  const window = flags.window ?? env.FERRY_WINDOW ?? stored?.window;
  const timeZone = flags.timezone ?? env.FERRY_TIMEZONE ?? stored?.timeZone ?? 'UTC';
  const deadline = flags.deadline ?? env.FERRY_DEADLINE;
  if (!window || window.trim().toLowerCase() === 'none') {
    if (deadline) throw new FerryError('FERRY_USAGE', '--deadline needs a --window', { hint: 'e.g. --window "Mon-Fri 12:00-13:00" --deadline 8h' });
    return undefined;
  }
  parseWindow(window, timeZone); // throws FERRY_INVALID_INPUT with the reason
  const deadlineMs = deadline !== undefined ? parseDuration(deadline) : stored?.deadlineMs;
  return { window: window.trim(), timeZone, ...(deadlineMs ? { deadlineMs } : {}) };
}

export type HoldDecision =
  | { hold: false; why: 'open' | 'deadline' }
  | { hold: true; reason: string; /** when the agent looks again: the window opens or the deadline passes */ until: number | undefined };

/** Whether an install that arrived at `arrivedAt` may run at `now` (epoch ms). Pure. */
export function holdDecision(m: MaintenanceConfig, now: number, arrivedAt: number, spec: WindowSpec = parseWindow(m.window, m.timeZone)): HoldDecision {
  if (isInWindow(spec, new Date(now))) return { hold: false, why: 'open' };
  const deadlineAt = m.deadlineMs !== undefined ? arrivedAt + m.deadlineMs : undefined;
  if (deadlineAt !== undefined && now >= deadlineAt) return { hold: false, why: 'deadline' };
  const opens = nextWindowStart(spec, new Date(now))?.getTime();
  const until = opens === undefined ? deadlineAt : deadlineAt === undefined ? opens : Math.min(opens, deadlineAt);
  const parts = [`maintenance window "${m.window}" (${spec.timeZone}) is closed`];
  if (opens !== undefined) parts.push(`it opens at ${new Date(opens).toISOString()}`);
  if (deadlineAt !== undefined) parts.push(`deadline ${new Date(deadlineAt).toISOString()} (${formatDuration(m.deadlineMs!)} after the install arrived)`);
  return { hold: true, reason: parts.join('; '), until };
}
