// A rollout's options as types: parsed and checked once, when the rollout starts (and once per
// rollout when the engine first sees it after a restart), never re-parsed from strings on every
// tick. The stored form (RolloutOptions in store.ts) stays the strings the operator gave, so the
// status document shows what was asked for.
import { FerryError } from '../../shared/errors.js';
import { parseWindow, type WindowSpec } from '../../shared/windows.js';
import { planWaves } from './plan.js';
import type { CloneOptions, RolloutOptions } from './store.js';

/** The waves `--strategy phased` uses when `--waves` is not given. */
export const DEFAULT_PHASED_WAVES: readonly string[] = ['1', '10%', '50%', '100%'];

/** `--max-failures`: a number of hosts, or a share of each wave. */
export type FailureThreshold = { kind: 'count'; count: number } | { kind: 'percent'; percent: number };

export interface RolloutSettings {
  waves: readonly string[];
  maxFailures: FailureThreshold;
  soakMs: number;
  onFailure: 'halt' | 'rollback';
  hostTimeoutMs: number;
  window: { text: string; spec: WindowSpec } | undefined;
  startAt: number | undefined;
  remove: string | undefined;
  maxRateBps: number | undefined;
  clone: CloneOptions | undefined;
}

const MAX_FAILURES_HINT = 'e.g. --max-failures 2 (hosts per wave) or --max-failures 5% (of each wave, 0%–100%)';

export function parseFailureThreshold(spec: string): FailureThreshold {
  if (/^\d+$/.test(spec)) {
    const count = Number(spec);
    if (!Number.isSafeInteger(count)) throw new FerryError('FERRY_INVALID_INPUT', `--max-failures ${spec} is not a usable count`, { hint: MAX_FAILURES_HINT });
    return { kind: 'count', count };
  }
  const m = /^(\d+(?:\.\d+)?)%$/.exec(spec);
  if (!m) throw new FerryError('FERRY_INVALID_INPUT', `--max-failures "${spec}" is not a count or percentage`, { hint: MAX_FAILURES_HINT });
  const percent = Number(m[1]);
  if (percent > 100) throw new FerryError('FERRY_INVALID_INPUT', `--max-failures ${spec} is more than 100% of a wave`, { hint: MAX_FAILURES_HINT });
  return { kind: 'percent', percent };
}

/** How many failed hosts a wave of `waveSize` hosts tolerates. */
export function failuresAllowed(t: FailureThreshold, waveSize: number): number {
  if (t.kind === 'count') return t.count;
  // Multiply first, then allow for floating point: 12.5% of 16 is exactly 2.
  return Math.floor((t.percent * waveSize) / 100 + 1e-9);
}

/** `--max-failures` as given (a string) → the count for a wave of `waveSize` hosts. */
export function allowedFailures(spec: string, waveSize: number): number {
  return failuresAllowed(parseFailureThreshold(spec), waveSize);
}

export function describeThreshold(t: FailureThreshold): string {
  return t.kind === 'count' ? `${t.count}` : `${t.percent}%`;
}

/** Parse and check stored options; throws FERRY_INVALID_INPUT naming the bad one. */
export function parseRolloutOptions(o: RolloutOptions): RolloutSettings {
  planWaves(1, o.waves); // every wave token valid, growing, ending at 100%
  if (!Number.isInteger(o.soakMs) || o.soakMs < 0) throw new FerryError('FERRY_INVALID_INPUT', `--soak must not be negative`);
  if (!Number.isInteger(o.hostTimeoutMs) || o.hostTimeoutMs <= 0) throw new FerryError('FERRY_INVALID_INPUT', `--host-timeout must be longer than 0s`);
  return {
    waves: o.waves,
    maxFailures: parseFailureThreshold(o.maxFailures),
    soakMs: o.soakMs,
    onFailure: o.onFailure,
    hostTimeoutMs: o.hostTimeoutMs,
    window: o.window ? { text: o.window, spec: parseWindow(o.window, o.timeZone) } : undefined,
    startAt: o.startAt,
    remove: o.remove,
    maxRateBps: o.maxRateBps,
    clone: o.clone,
  };
}
