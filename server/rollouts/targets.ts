// Why a selector reached no host, said so that a typo is obvious: for each term, the values the
// fleet really has for that key, nearest first (`env=prdo` → "nearest env values: prod, …").
import { FerryError } from '../../shared/errors.js';
import type { Selector } from '../../shared/selectors.js';
import type { PlanHost } from './plan.js';

const SHOWN = 3;

/** The refusal of a rollout whose selector matches no host (see --allow-empty). */
export function noTargetsError(selector: Selector, fleet: PlanHost[], what: string): FerryError {
  const hint = 'check --target (see: ferry agents list), or give --allow-empty to start it anyway';
  if (fleet.length === 0) return new FerryError('FERRY_NO_TARGETS', `${what}: selector "${selector.text}" matches no host: no agent has joined yet`, { hint });
  const notes: string[] = [];
  for (const term of selector.terms) {
    if (term.op !== '=') continue;
    const counts = new Map<string, number>();
    for (const h of fleet) {
      const value = valueOf(h, term.key);
      if (value !== undefined) counts.set(value, (counts.get(value) ?? 0) + 1);
    }
    if (counts.size === 0) {
      notes.push(`no host has "${term.key}"`);
      continue;
    }
    const nearest = [...counts.entries()]
      .map(([value, n]) => ({ value, n, d: distance(term.pattern.toLowerCase(), value.toLowerCase()) }))
      .sort((a, b) => a.d - b.d || b.n - a.n || (a.value < b.value ? -1 : 1))
      .slice(0, SHOWN);
    notes.push(`nearest ${term.key} values: ${nearest.map((v) => `${v.value} (${v.n} host${v.n === 1 ? '' : 's'})`).join(', ')}${counts.size > SHOWN ? ', …' : ''}`);
  }
  const why = notes.length ? `; ${notes.join('; ')}` : '';
  return new FerryError('FERRY_NO_TARGETS', `${what}: selector "${selector.text}" matches none of the ${fleet.length} host(s)${why}`, { hint, details: { selector: selector.text, fleet: fleet.length } });
}

/** The refusal of a removal of a package that none of the targeted hosts has installed. */
export function notInstalledError(name: string, selector: Selector, targeted: PlanHost[], what: string): FerryError {
  const counts = new Map<string, number>();
  for (const h of targeted) for (const p of Object.keys(h.installed)) counts.set(p, (counts.get(p) ?? 0) + 1);
  const nearest = [...counts.entries()]
    .map(([value, n]) => ({ value, n, d: distance(name, value) }))
    .sort((a, b) => a.d - b.d || b.n - a.n || (a.value < b.value ? -1 : 1))
    .slice(0, SHOWN);
  const why = nearest.length ? `; nearest installed packages: ${nearest.map((v) => `${v.value} (${v.n} host${v.n === 1 ? '' : 's'})`).join(', ')}` : '; they have no packages installed';
  return new FerryError('FERRY_NO_TARGETS', `${what}: none of the ${targeted.length} host(s) matching "${selector.text}" has ${name} installed${why}`, {
    hint: 'check the package name (see: ferry cmdb versions PACKAGE), or give --allow-empty to start it anyway',
    details: { selector: selector.text, package: name },
  });
}

/** Why a skipped host receives nothing, as a category to count ("incompatible: …" → incompatible). */
export function skipCategory(reason: string): string {
  if (reason.startsWith('incompatible')) return 'incompatible';
  return reason;
}

/**
 * Hosts matched but none of them gets a wave: what to do with that plan. Every matched host
 * already at this version is a success (nothing to do, said in a note); anything else (offline,
 * incompatible, and for a removal every holder offline) is refused with the reasons counted,
 * unless --allow-empty. Undefined when some host receives the rollout.
 */
export function allSkipped(
  planned: { wave: number | null; reason: string }[],
  selector: Selector,
  what: string,
): { note: string } | { error: FerryError } | undefined {
  if (planned.length === 0 || planned.some((h) => h.wave !== null)) return undefined;
  const counts = new Map<string, number>();
  for (const h of planned) counts.set(skipCategory(h.reason), (counts.get(skipCategory(h.reason)) ?? 0) + 1);
  const n = planned.length;
  const there = counts.get('already at this version') ?? 0;
  if (there === n) return { note: `nothing to do: ${n === 1 ? 'the matched host is' : `all ${n} matched hosts are`} already at this version` };
  const why = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([reason, c]) => `${c} ${reason}`).join(', ');
  const hints: string[] = [];
  if (counts.has('offline')) hints.push('--include-offline sends it to offline hosts when they return');
  if (counts.has('incompatible')) hints.push('incompatible hosts are listed by --dry-run');
  hints.push('give --allow-empty to start it anyway');
  return {
    error: new FerryError('FERRY_NO_TARGETS', `${what}: selector "${selector.text}" matches ${n} host(s) but none would receive it: ${why}`, {
      hint: hints.join('; '),
      details: { selector: selector.text, matched: n, skipped: Object.fromEntries(counts) },
    }),
  };
}

/** The value a selector key would be matched against (facts, id, hostname, installed.*, tags). */
function valueOf(h: PlanHost, key: string): string | undefined {
  if (key === 'id') return h.id;
  if (key === 'hostname') return h.hostname;
  if (key.startsWith('installed.')) return own(h.installed, key.slice('installed.'.length));
  if (key.startsWith('tag.')) return own(h.tags, key.slice(4)) ?? own(h.facts, key);
  return own(h.facts, key) ?? own(h.tags, key);
}

function own(rec: Record<string, string>, key: string): string | undefined {
  return Object.hasOwn(rec, key) && typeof rec[key] === 'string' ? rec[key] : undefined;
}

/** Levenshtein distance; glob characters in the pattern count as ordinary ones (good enough to rank). */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    prev = row;
  }
  return prev[b.length]!;
}
