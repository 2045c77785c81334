// Deployment windows: when a rollout may make progress, and when a scheduled one starts.
//
// A window spec is one or more clauses separated by `;` (case-insensitive):
//
//   Mon-Fri 22:00-05:00     days, then a local time range
//   Fri-Mon                 a wrapping day range (Fri, Sat, Sun, Mon), whole days
//   Sat,Sun                 a list of days, whole days
//   * 01:00-03:00           every day (`daily` works too)
//   22:00-05:00             a time range alone means every day
//
// Day items may be combined: `Mon,Wed-Fri`. A time range whose end is at or before its start crosses
// midnight, and the part after midnight belongs to the START day: `Fri 22:00-02:00` includes Saturday
// 01:00 but not Friday 01:00. `24:00` is accepted as an end time. Times are wall-clock times in the
// window's IANA time zone (default UTC), with minute precision.
//
// Start times for scheduled rollouts (`parseStartAt`): ISO 8601 (`2026-11-23T22:00:00Z`; without a
// zone it means UTC) or relative (`+30m`, `in 2h`).

import { parseDuration } from './durations.js';
import { FerryError } from './errors.js';

export interface WindowClause {
  /** days of the week the clause starts on, 0=Sun..6=Sat, sorted and unique */
  days: number[];
  /** start, in minutes after local midnight (0..1439) */
  start: number;
  /** end, in minutes after local midnight (1..1440); `end <= start` means the range crosses midnight */
  end: number;
}

export interface WindowSpec {
  /** the spec as given (trimmed) */
  text: string;
  /** canonical IANA time zone name */
  timeZone: string;
  clauses: WindowClause[];
}

const MINUTE = 60_000;
const DAY = 86_400_000;
const WINDOW_HINT = 'use e.g. "Mon-Fri 22:00-05:00; Sat,Sun" or "22:00-05:00"';
const TZ_HINT = 'use an IANA time zone name, e.g. UTC, Europe/London, America/New_York';
const START_HINT = 'use an ISO 8601 time (e.g. 2026-11-23T22:00:00Z) or a relative time (e.g. +30m, in 2h)';

const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const DAY_FULL = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'] as const;
const SHORT_WEEKDAY: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };
const ALL_DAYS = [0, 1, 2, 3, 4, 5, 6];

const TIME_RANGE = /^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$/;

function quote(s: string): string {
  // JSON.stringify keeps the message on one line even if the input contains newlines.
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 61)}...` : s);
}

function invalidWindow(text: string, why: string): FerryError {
  return new FerryError('FERRY_INVALID_INPUT', `invalid window ${quote(text)}: ${why}`, { hint: WINDOW_HINT });
}

// ---------------------------------------------------------------------------------------------
// Time zones

interface LocalParts {
  /** 0=Sun..6=Sat */
  dow: number;
  /** minutes after local midnight */
  minutes: number;
  /** the local wall-clock time (to the minute) expressed as if it were UTC, in ms */
  wall: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      weekday: 'short',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Canonical name of an IANA time zone; throws FERRY_INVALID_INPUT for an unknown one. */
export function validateTimeZone(timeZone: string): string {
  if (typeof timeZone !== 'string' || timeZone.trim() === '') {
    throw new FerryError('FERRY_INVALID_INPUT', `unknown time zone ${quote(String(timeZone))}`, { hint: TZ_HINT });
  }
  try {
    const canonical = new Intl.DateTimeFormat('en-US', { timeZone: timeZone.trim() }).resolvedOptions().timeZone;
    formatter(canonical);
    return canonical;
  } catch {
    throw new FerryError('FERRY_INVALID_INPUT', `unknown time zone ${quote(timeZone)}`, { hint: TZ_HINT });
  }
}

/** Local day of week, minutes and wall-clock time of an instant (seconds are ignored). */
function localParts(timeZone: string, at: number): LocalParts {
  const parts: Record<string, string> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(at))) parts[p.type] = p.value;
  const hour = Number(parts.hour) % 24; // some ICU versions print midnight as 24
  const minute = Number(parts.minute);
  const dow = SHORT_WEEKDAY[parts.weekday ?? ''];
  if (dow === undefined || !Number.isInteger(hour) || !Number.isInteger(minute)) {
    throw new FerryError('FERRY_INTERNAL', `cannot read the local time in ${timeZone}`);
  }
  const wall = Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), hour, minute);
  return { dow, minutes: hour * 60 + minute, wall };
}

/** UTC offset (local minus UTC, ms) in effect at an instant. */
function offsetAt(timeZone: string, at: number): number {
  const minute = Math.floor(at / MINUTE) * MINUTE;
  return localParts(timeZone, minute).wall - minute;
}

/**
 * The instants at which the local wall-clock time `wall` occurs: usually one, two in a fall-back
 * overlap. In a spring-forward gap (the wall time never occurs) this returns the transition instant,
 * i.e. the first instant whose wall time is later than `wall`.
 */
function instantsForWall(timeZone: string, wall: number): number[] {
  // The true instant is within ±14h of `wall`; offsets a day away on either side bracket it
  // (time zones do not change offset twice within two days).
  const before = offsetAt(timeZone, wall - DAY);
  const after = offsetAt(timeZone, wall + DAY);
  const out: number[] = [];
  for (const o of before === after ? [before] : [before, after]) {
    const t = wall - o;
    if (localParts(timeZone, t).wall === wall) out.push(t);
  }
  if (out.length > 0 || before === after) return out.sort((a, b) => a - b);
  // Gap: find the transition between the two candidate instants by bisection (minute precision).
  let lo = Math.min(wall - before, wall - after); // wall time before the gap
  let hi = Math.max(wall - before, wall - after); // wall time after the gap
  if (localParts(timeZone, lo).wall > wall || localParts(timeZone, hi).wall < wall) return [];
  while (hi - lo > MINUTE) {
    const mid = lo + Math.floor((hi - lo) / 2 / MINUTE) * MINUTE;
    if (localParts(timeZone, mid).wall > wall) hi = mid;
    else lo = mid;
  }
  return [hi];
}

// ---------------------------------------------------------------------------------------------
// Parsing

function parseDay(name: string): number | undefined {
  const i = DAY_NAMES.indexOf(name as (typeof DAY_NAMES)[number]);
  if (i >= 0) return i;
  const j = DAY_FULL.indexOf(name as (typeof DAY_FULL)[number]);
  return j >= 0 ? j : undefined;
}

function parseDays(text: string, token: string): number[] {
  if (token === '*' || token === 'daily') return [...ALL_DAYS];
  const days = new Set<number>();
  for (const item of token.split(',')) {
    if (item === '') throw invalidWindow(text, `empty day in ${quote(token)}`);
    const dash = item.indexOf('-');
    if (dash < 0) {
      const d = parseDay(item);
      if (d === undefined) throw invalidWindow(text, `unknown day ${quote(item)}`);
      days.add(d);
      continue;
    }
    const from = parseDay(item.slice(0, dash));
    const to = parseDay(item.slice(dash + 1));
    if (from === undefined || to === undefined) throw invalidWindow(text, `invalid day range ${quote(item)}`);
    // Ranges wrap around the week: Fri-Mon is Fri, Sat, Sun, Mon.
    for (let d = from; ; d = (d + 1) % 7) {
      days.add(d);
      if (d === to) break;
    }
  }
  return [...days].sort((a, b) => a - b);
}

function parseTime(text: string, hh: string, mm: string, isEnd: boolean): number {
  const h = Number(hh);
  const m = Number(mm);
  if (m > 59 || h > 24 || (h === 24 && (m !== 0 || !isEnd))) {
    throw invalidWindow(text, `invalid time ${hh}:${mm} (use 00:00-23:59${isEnd ? ', or 24:00 as an end' : ''})`);
  }
  return h * 60 + m;
}

function parseTimeRange(text: string, token: string): { start: number; end: number } {
  const m = TIME_RANGE.exec(token);
  if (!m) throw invalidWindow(text, `invalid time range ${quote(token)}: expected HH:MM-HH:MM`);
  const start = parseTime(text, m[1]!, m[2]!, false);
  const end = parseTime(text, m[3]!, m[4]!, true);
  return { start, end };
}

function looksLikeTime(token: string): boolean {
  return /^[\d:]/.test(token);
}

/** Parse a window spec (see the top of this file); throws FERRY_INVALID_INPUT on anything else. */
export function parseWindow(text: string, timeZone = 'UTC'): WindowSpec {
  const tz = validateTimeZone(timeZone);
  if (typeof text !== 'string') throw invalidWindow(String(text), 'expected text');
  const input = text.trim();
  if (input === '') throw invalidWindow(text, 'empty');

  const clauses: WindowClause[] = [];
  for (const raw of input.split(';')) {
    // Tolerate spaces around `-` and `,` (`Mon - Fri`, `Sat, Sun`, `22:00 - 05:00`).
    const clause = raw.trim().toLowerCase().replace(/\s*([-,])\s*/g, '$1');
    if (clause === '') throw invalidWindow(input, 'empty clause');
    const tokens = clause.split(/\s+/);
    if (tokens.length > 2) throw invalidWindow(input, `unexpected ${quote(tokens.slice(2).join(' '))} in clause ${quote(raw.trim())}`);
    let days: number[];
    let range: { start: number; end: number };
    if (tokens.length === 2) {
      days = parseDays(input, tokens[0]!);
      range = parseTimeRange(input, tokens[1]!);
    } else if (looksLikeTime(tokens[0]!)) {
      days = [...ALL_DAYS];
      range = parseTimeRange(input, tokens[0]!);
    } else {
      days = parseDays(input, tokens[0]!);
      range = { start: 0, end: 24 * 60 };
    }
    clauses.push({ days, ...range });
  }
  return { text: input, timeZone: tz, clauses };
}

// ---------------------------------------------------------------------------------------------
// Evaluation

function clauseContains(c: WindowClause, dow: number, minutes: number): boolean {
  if (c.end > c.start) return c.days.includes(dow) && minutes >= c.start && minutes < c.end;
  // Crosses midnight: [start, 24:00) on a listed day, then [00:00, end) on the following day.
  return (c.days.includes(dow) && minutes >= c.start) || (c.days.includes((dow + 6) % 7) && minutes < c.end);
}

/** Whether `at` falls inside the window (minute precision, local time of the window's zone). */
export function isInWindow(w: WindowSpec, at: Date): boolean {
  const t = at.getTime();
  if (!Number.isFinite(t)) return false;
  const { dow, minutes } = localParts(w.timeZone, t);
  return w.clauses.some((c) => clauseContains(c, dow, minutes));
}

/**
 * The first instant at or after `from` when the window is open: `from` itself if it is already
 * open, otherwise the start of the next opening (a whole minute). Null if the window never opens.
 *
 * The window can only open at a clause's start minute (local time) or at a DST transition that
 * jumps into it, so those candidates over the next 8 local days are checked instead of every minute.
 */
export function nextWindowStart(w: WindowSpec, from: Date): Date | null {
  const t0 = from.getTime();
  if (!Number.isFinite(t0)) return null;
  if (isInWindow(w, from)) return new Date(t0);
  const baseWall = Math.floor(localParts(w.timeZone, t0).wall / DAY) * DAY; // local midnight of `from`'s day
  let best: number | null = null;
  for (let day = 0; day <= 8; day++) {
    for (const c of w.clauses) {
      const wall = baseWall + day * DAY + c.start * MINUTE;
      for (const t of instantsForWall(w.timeZone, wall)) {
        if (t < t0 || (best !== null && t >= best)) continue;
        if (isInWindow(w, new Date(t))) best = t;
      }
    }
    // Later days' candidates are at least (their local midnight - 14h), the largest UTC offset.
    if (best !== null && best < baseWall + (day + 1) * DAY - 14 * 3_600_000) break;
  }
  return best === null ? null : new Date(best);
}

/**
 * When a window given as text (a rollout's --window and --timezone) next opens at or after
 * `from`, as ISO 8601: null if it never opens or cannot be read.
 */
export function windowOpens(window: string, timeZone: string | undefined, from: number): string | null {
  try {
    return nextWindowStart(parseWindow(window, timeZone ?? 'UTC'), new Date(from))?.toISOString() ?? null;
  } catch {
    return null;
  }
}

/**
 * When an open window closes: the first whole minute after `from` that is outside it (`from`
 * itself if the window is closed then). Null if it stays open for the next 8 days.
 */
export function nextWindowEnd(w: WindowSpec, from: Date): Date | null {
  if (!Number.isFinite(from.getTime())) return null;
  if (!isInWindow(w, from)) return new Date(from.getTime());
  const t0 = Math.ceil(from.getTime() / MINUTE) * MINUTE;
  for (let t = t0; t <= t0 + 8 * DAY; t += MINUTE) if (!isInWindow(w, new Date(t))) return new Date(t);
  return null;
}

// ---------------------------------------------------------------------------------------------
// Start times

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[t ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(z|[+-]\d{2}(?::?\d{2})?)?$/;
const RELATIVE = /^(?:\+|in\s+)\s*(.+)$/;

function invalidStart(text: string, why?: string): FerryError {
  return new FerryError('FERRY_INVALID_INPUT', `invalid start time ${quote(text)}${why ? `: ${why}` : ''}`, { hint: START_HINT });
}

/**
 * Parse a scheduled start: ISO 8601 (a missing zone means UTC) or `+DURATION` / `in DURATION`
 * relative to `now`. A time more than a minute in the past is refused.
 */
export function parseStartAt(text: string, now: Date = new Date()): Date {
  if (typeof text !== 'string') throw invalidStart(String(text));
  const input = text.trim().toLowerCase();
  if (input === '') throw invalidStart(text, 'empty');

  let at: number;
  const rel = RELATIVE.exec(input);
  if (rel) {
    let ms: number;
    try {
      ms = parseDuration(rel[1]!);
    } catch {
      throw invalidStart(text, `${quote(rel[1]!)} is not a duration`);
    }
    at = now.getTime() + ms;
  } else {
    const m = ISO.exec(input);
    if (!m) throw invalidStart(text);
    const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((v) => Number(v ?? 0)) as [number, number, number, number, number, number];
    const ms = m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0;
    const local = Date.UTC(year, month - 1, day, hour, minute, second, ms);
    const check = new Date(local);
    if (
      check.getUTCFullYear() !== year ||
      check.getUTCMonth() !== month - 1 ||
      check.getUTCDate() !== day ||
      hour > 23 ||
      minute > 59 ||
      second > 59
    ) {
      throw invalidStart(text, 'no such date or time');
    }
    let offset = 0;
    const zone = m[8];
    if (zone && zone !== 'z') {
      const zm = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone)!;
      const oh = Number(zm[2]);
      const om = Number(zm[3] ?? 0);
      if (oh > 23 || om > 59) throw invalidStart(text, `invalid UTC offset ${zone}`);
      offset = (zm[1] === '-' ? -1 : 1) * (oh * 60 + om) * MINUTE;
    }
    at = local - offset;
  }
  if (!Number.isFinite(at)) throw invalidStart(text);
  if (at < now.getTime() - MINUTE) throw invalidStart(text, 'it is in the past');
  return new Date(at);
}
