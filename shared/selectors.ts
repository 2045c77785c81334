// Target selectors: which hosts a command or rollout applies to.
//
//   all | (empty)                    every host
//   os=linux,arch=x64                all terms must hold
//   env!=prod                        negation (a missing key always satisfies !=)
//   hostname=web-*,tag.role=db?      case-insensitive globs (* and ?) over the whole value
//
// Keys are looked up literally in a flat facts record (so `installed.hello-web` is just a key);
// `tag.<k>` addresses tags; a plain `<k>` checks facts first, then tags.

import { FerryError } from './errors.js';

export interface SelectorTerm {
  key: string;
  op: '=' | '!=';
  pattern: string;
}

export interface Selector {
  terms: SelectorTerm[];
  /** Canonical text: `all`, or the terms joined with commas (whitespace removed). */
  text: string;
}

const KEY = /^[A-Za-z0-9_.-]+$/;
const HINT = 'use e.g. all, os=linux, hostname=web-*,tag.env!=prod';

function bad(message: string): FerryError {
  return new FerryError('FERRY_INVALID_INPUT', message, { hint: HINT });
}

function quote(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 61)}...` : s);
}

export function parseSelector(text: string | undefined): Selector {
  const input = (text ?? '').trim();
  if (input === '' || input.toLowerCase() === 'all') return { terms: [], text: 'all' };

  const terms: SelectorTerm[] = [];
  for (const raw of input.split(',')) {
    const term = raw.trim();
    if (term === '') throw bad(`invalid selector ${quote(input)}: empty term`);
    const eq = term.indexOf('=');
    if (eq < 0) throw bad(`invalid selector term ${quote(term)}: expected key=value or key!=value`);
    const negated = eq > 0 && term[eq - 1] === '!';
    const key = term.slice(0, negated ? eq - 1 : eq).trim();
    const pattern = term.slice(eq + 1).trim();
    if (key === '') throw bad(`invalid selector term ${quote(term)}: empty key`);
    if (!KEY.test(key)) throw bad(`invalid selector key ${quote(key)}: keys may contain only A-Z a-z 0-9 _ . -`);
    terms.push({ key, op: negated ? '!=' : '=', pattern });
  }
  return { terms, text: terms.map((t) => `${t.key}${t.op}${t.pattern}`).join(',') };
}

export function selectorMatchesAll(sel: Selector): boolean {
  return sel.terms.length === 0;
}

function own(rec: Record<string, string | undefined> | undefined, key: string): string | undefined {
  if (!rec || !Object.hasOwn(rec, key)) return undefined; // never see prototype members like `constructor`
  const v: unknown = rec[key];
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean' || typeof v === 'number') return String(v); // tolerate untyped callers
  return undefined;
}

function lookup(key: string, facts: Record<string, string | undefined>, tags: Record<string, string> | undefined): string | undefined {
  if (key.startsWith('tag.') && key.length > 4) {
    return own(tags, key.slice(4)) ?? own(facts, key);
  }
  return own(facts, key) ?? own(tags, key);
}

/**
 * Case-insensitive glob match of the whole value: `*` = any run (incl. empty), `?` = one character.
 * Iterative with single-star backtracking: O(|value| * |pattern|) worst case, no regex, no ReDoS.
 */
export function globMatch(pattern: string, value: string): boolean {
  const p = Array.from(pattern.toLowerCase());
  const v = Array.from(value.toLowerCase());
  let pi = 0;
  let vi = 0;
  let starP = -1;
  let starV = 0;
  while (vi < v.length) {
    if (pi < p.length && p[pi] === '*') {
      starP = pi++;
      starV = vi;
    } else if (pi < p.length && (p[pi] === '?' || p[pi] === v[vi])) {
      pi++;
      vi++;
    } else if (starP >= 0) {
      pi = starP + 1;
      vi = ++starV;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === '*') pi++;
  return pi === p.length;
}

export function matchSelector(sel: Selector, facts: Record<string, string | undefined>, tags?: Record<string, string>): boolean {
  for (const term of sel.terms) {
    const value = lookup(term.key, facts, tags);
    const hit = value !== undefined && globMatch(term.pattern, value);
    if (term.op === '=' ? !hit : hit) return false;
  }
  return true;
}
