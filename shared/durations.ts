// Human-friendly durations: `500ms`, `30s`, `10m`, `2h`, `1d`, combinations like `1h30m` (or `1h 30m`),
// and a bare number meaning seconds. Everything is returned in milliseconds.

import { FerryError } from './errors.js';
import { quotedInput } from './quoted-input.js';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
type Unit = keyof typeof UNIT_MS;

/** Longest duration we accept (365 days); anything above is almost certainly a typo. */
export const MAX_DURATION_MS = 365 * UNIT_MS.d;

const BARE_NUMBER = /^\d+(?:\.\d+)?$/;
// One component: a non-negative decimal followed by a unit. `ms` must be tried before `m`.
// No nested quantifiers, so this is linear-time even on hostile input.
const COMPONENT = /(\d+(?:\.\d+)?)(ms|s|m|h|d)\s*/y;

const HINT = 'use e.g. 30s, 10m, 2h';

/** `--soak: …` when the caller says which flag the text came from (the CLI), else the bare problem. */
function refusal(problem: string, flag: string | undefined): FerryError {
  return new FerryError('FERRY_INVALID_INPUT', flag ? `${flag}: ${problem}` : problem, { hint: HINT });
}

/** The input's milliseconds, or undefined if it is not a duration. */
function parseMs(input: string): number | undefined {
  if (input === '') return undefined;
  if (BARE_NUMBER.test(input)) return Number(input) * UNIT_MS.s;
  let ms = 0;
  let pos = 0;
  while (pos < input.length) {
    COMPONENT.lastIndex = pos;
    const m = COMPONENT.exec(input);
    if (!m) return undefined;
    ms += Number(m[1]) * UNIT_MS[m[2] as Unit];
    pos = COMPONENT.lastIndex;
  }
  return ms;
}

/**
 * Parse a duration into milliseconds; throws FerryError(FERRY_INVALID_INPUT) on anything else.
 * `flag` (e.g. `--soak`) names where the text came from in the message:
 * `--soak: invalid duration "10x"`, `--ttl: "1000d" is too large (at most 365d)`,
 * `--soak: a duration cannot be negative`, `--soak must not be empty`.
 */
export function parseDuration(text: string, flag?: string): number {
  if (typeof text !== 'string') throw refusal(`invalid duration ${quotedInput(String(text))}`, flag);
  const input = text.trim();
  if (input === '' && flag) throw new FerryError('FERRY_INVALID_INPUT', `${flag} must not be empty`, { hint: HINT });
  // JSON-quoted (and cut when long): the message stays on one line whatever the input holds.
  const shown = quotedInput(text);
  const ms = parseMs(input);
  if (ms === undefined) {
    if (input.startsWith('-') && parseMs(input.slice(1).trim()) !== undefined) {
      throw refusal(flag ? 'a duration cannot be negative' : `duration ${shown} cannot be negative`, flag);
    }
    throw refusal(`invalid duration ${shown}`, flag);
  }
  if (!Number.isFinite(ms) || ms > MAX_DURATION_MS) throw refusal(`${flag ? shown : `duration ${shown}`} is too large (at most ${formatDuration(MAX_DURATION_MS)})`, flag);
  return Math.round(ms);
}

/**
 * Format milliseconds for humans: `350ms`, `45s`, `1.5s`, `1m 30s`, `1h 2m`, `3d 4h`.
 * At most the two most significant units are shown (the rest is truncated). Never throws.
 */
export function formatDuration(ms: number): string {
  if (Number.isNaN(ms)) return 'NaN';
  if (!Number.isFinite(ms)) return ms > 0 ? '∞' : '-∞';
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < UNIT_MS.s) return `${Math.floor(ms)}ms`;
  if (ms < UNIT_MS.m) {
    const tenths = Math.floor(ms / 100) / 10; // 1.55s -> 1.5s; never rounds up to "60s"
    return `${tenths}s`;
  }
  const parts: string[] = [];
  let rest = Math.floor(ms);
  let started = 0; // units consumed since the most significant non-zero one
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const n = Math.floor(rest / UNIT_MS[unit]);
    rest -= n * UNIT_MS[unit];
    if (n > 0 || started > 0) started++;
    if (n > 0) parts.push(`${n}${unit}`);
    if (started === 2) break;
  }
  return parts.join(' ');
}
