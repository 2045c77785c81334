// The CLI's edge for what a user types: before a request leaves, every string in it is checked
// against the shared text rules (shared/text.ts), so a control character, bidi override or line
// separator in a flag is refused here with FERRY_INVALID_INPUT (exit 2) and the flag's name,
// instead of travelling to the server (which refuses it too, for other callers). An empty value
// is refused too, naming its flag, rather than taken for the default (`--target ''` is not `all`),
// and what a schema says is put in the user's words, with a long value cut (shared/quoted-input.ts).
import { formatDuration } from '../../shared/durations.js';
import { FerryError } from '../../shared/errors.js';
import { apiRequestSchemas, type ApiVerb } from '../../shared/protocol/api.js';
import { quotedInput } from '../../shared/quoted-input.js';
import { formatRate } from '../../shared/rates.js';
import { unsafeCharProblem, visible } from '../../shared/text.js';
import { emptyInput } from './commands/common.js';

/** Request fields that are legitimately multi-line: they may hold newlines and tabs. */
const MULTILINE_FIELDS: ReadonlySet<string> = new Set(['notes', 'rollbackPlan']);

/**
 * Request fields of descriptive text, which may be empty. Every other string names, selects or
 * configures something, and an empty one must not quietly mean "the default" (an unset `$SEL` in
 * `--target "$SEL"` would otherwise roll out to the whole fleet): it is refused.
 */
const MAY_BE_EMPTY: ReadonlySet<string> = new Set(['notes', 'rollbackPlan', 'owner', 'rfc', 'comment', 'evidence']);

/** Per verb, the request field that holds a release name (the schema checks it as a package name). */
const RELEASE_FIELDS: Readonly<Partial<Record<ApiVerb, string>>> = {
  'release.create': 'name',
  'release.approve': 'name',
  'release.show': 'name',
  'rollout.start': 'release',
  'notify.add': 'release',
};
const RELEASE_NAME_HINT = 'a release name is 1-64 of a-z 0-9 . _ -, starting with a letter or a digit (e.g. web-2024.06)';

/** How a request field's number was typed: a duration (`--ttl 1h`) or a rate (`--max-rate 5MiB/s`). */
type Unit = 'duration' | 'rate';

interface Source {
  /** what the user typed it as: a flag (`--ttl`) or a positional's name (`RELEASE`) */
  name: string;
  unit?: Unit;
}

/** Request fields whose flag is not simply the field in kebab case, whatever the verb. */
const FLAG_NAMES: Readonly<Record<string, Source>> = {
  timeZone: { name: '--timezone' },
  packages: { name: '--package' },
  ttlMs: { name: '--ttl', unit: 'duration' },
  soakMs: { name: '--soak', unit: 'duration' },
  hostTimeoutMs: { name: '--host-timeout', unit: 'duration' },
  purgeTimeoutMs: { name: '--purge-timeout', unit: 'duration' },
  maxRateBps: { name: '--max-rate', unit: 'rate' },
};

/** Per verb, the fields that come from a positional argument (named as `--help` shows them) or another flag. */
const VERB_NAMES: Readonly<Partial<Record<ApiVerb, Readonly<Record<string, string>>>>> = {
  'token.revoke': { id: 'ID' },
  'dml.show': { name: 'NAME@VERSION', version: 'NAME@VERSION' },
  'dml.authorize': { name: 'NAME@VERSION', version: 'NAME@VERSION' },
  'dml.retire': { name: 'NAME@VERSION', version: 'NAME@VERSION' },
  'release.create': { name: 'NAME' },
  'release.approve': { name: 'NAME' },
  'release.show': { name: 'NAME' },
  'rollout.start': { release: 'RELEASE' },
  'rollout.status': { id: 'ID' },
  'rollout.review': { id: 'ID' },
  'rollout.action': { id: 'ID' },
  'agents.revoke': { id: 'ID' },
  'agents.decommission': { id: 'ID' },
  'agents.tag': { host: 'HOST', set: 'TAGS' },
  'cmdb.show': { host: 'HOST' },
  'cmdb.versions': { package: 'PACKAGE' },
  'site.set': { name: 'NAME' },
  'site.remove': { name: 'NAME' },
  'agents.logs': { host: 'HOST' },
  'cmdb.clone': { from: 'PROD' },
  'notify.add': { url: 'URL' },
  'notify.remove': { id: 'ID' },
  'notify.test': { id: 'ID' },
  'operator.add': { name: 'NAME' },
  'operator.revoke': { name: 'NAME' },
  'backup.record': { out: 'FILE' },
};

function sourceOf(path: readonly string[], verb?: string): Source {
  const [top, key] = path;
  if (top === 'tags') return { name: `--tag ${visible(key ?? '')}`.trim() };
  const positional = top !== undefined ? VERB_NAMES[verb as ApiVerb]?.[top] : undefined;
  if (positional) return { name: positional };
  if (top && FLAG_NAMES[top]) return FLAG_NAMES[top]!;
  return { name: `--${(top ?? 'value').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` };
}

/** The flag (or positional) a request field came from, as the user typed it: `ttlMs` of token.create is `--ttl`. */
export function flagFor(path: readonly string[], verb?: string): string {
  return sourceOf(path, verb).name;
}

function inUnit(n: number, unit: Unit): string {
  if (unit === 'rate') return formatRate(n);
  return n === 0 ? '0s' : formatDuration(n);
}

const BOUND_WORDS: Readonly<Record<string, string>> = { '>': 'more than', '>=': 'at least', '<': 'less than', '<=': 'at most' };

/**
 * A schema's message in the user's words: a bound on a number in the flag's unit ("Too small:
 * expected number to be >0" → "must be more than 0s"), on a string's length or an array's items
 * ("Too big: expected string to have <=1024 characters" → "must be at most 1024 characters"),
 * and a release named as one (its schema is the package name's).
 */
function inUsersWords(message: string, unit: Unit | undefined, isRelease = false): string {
  if (isRelease && message === 'not a valid package name') return 'not a valid release name';
  const s = /^Too (?:small|big): expected (?:string|array) to have (>=|<=|>|<)(\d+) (characters?|items?)$/.exec(message);
  if (s) return s[1] === '>=' && s[2] === '1' ? 'must not be empty' : `must be ${BOUND_WORDS[s[1]!]} ${s[2]} ${s[3]}`;
  if (!unit) return message;
  const m = /^Too (?:small|big): expected number to be (>=|<=|>|<)(\d+(?:\.\d+)?)$/.exec(message);
  if (m) return `must be ${BOUND_WORDS[m[1]!]} ${inUnit(Number(m[2]), unit)}`;
  return message.replace(/\bnumber\b/g, unit === 'rate' ? 'rate' : 'duration');
}

function isReleaseField(verb: string, path: readonly string[]): boolean {
  return path.length === 1 && RELEASE_FIELDS[verb as ApiVerb] === path[0];
}

/** The first top-level string of the request that is empty or blank (and not descriptive text): refused, naming its flag. */
function checkNotBlank(verb: ApiVerb, body: unknown): void {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return;
  for (const [k, v] of Object.entries(body)) {
    if (typeof v === 'string' && v.trim() === '' && !MAY_BE_EMPTY.has(k)) throw emptyInput(flagFor([k], verb));
  }
}

/** Throws FERRY_INVALID_INPUT for the first string (value or key) that breaks the text rules. */
export function checkRequestText(body: unknown, verb?: ApiVerb): void {
  walkText(body, [], verb);
}

function walkText(body: unknown, path: string[], verb: ApiVerb | undefined): void {
  const multi = path[0] !== undefined && MULTILINE_FIELDS.has(path[0]);
  const fail = (where: string[], problem: string): never => {
    throw new FerryError('FERRY_INVALID_INPUT', `${flagFor(where, verb)} ${problem}`, {
      hint: multi ? 'notes and rollback plans may hold newlines and tabs, no other control characters' : 'remove control characters and bidirectional overrides; only --notes and --rollback-plan may span lines',
    });
  };
  if (typeof body === 'string') {
    const problem = unsafeCharProblem(body, { multiline: multi });
    if (problem) fail(path, problem);
    return;
  }
  if (Array.isArray(body)) {
    body.forEach((v) => walkText(v, path, verb));
    return;
  }
  if (body && typeof body === 'object') {
    for (const [k, v] of Object.entries(body)) {
      const problem = unsafeCharProblem(k);
      if (problem) fail([...path, k], `name ${problem}`);
      walkText(v, [...path, k], verb);
    }
  }
}

function valueAt(body: unknown, path: PropertyKey[]): unknown {
  let v: unknown = body;
  for (const k of path) v = v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

/**
 * The request checked against the verb's schema (the one the server applies) before it leaves:
 * a bad value is FERRY_INVALID_INPUT (exit 2) naming the flag it came from, with its bounds in the
 * flag's unit (`--ttl "0s": must be more than 0s`), never the server's
 * `FERRY_INVALID_MESSAGE: release.create request: packages.0: …`.
 */
export function checkRequestShape(verb: ApiVerb, body: unknown): void {
  checkNotBlank(verb, body);
  const r = apiRequestSchemas[verb].safeParse(body);
  if (r.success) return;
  const issue = r.error.issues[0]!;
  const path = issue.path.map(String);
  const source = sourceOf(path, verb);
  if (issue.code === 'invalid_key') {
    // A record's key (a --tag key) is what is wrong: name it, and say what a key may be.
    const [top, key = ''] = path;
    const flag = top === 'tags' ? '--tag' : sourceOf([top ?? ''], verb).name;
    throw new FerryError('FERRY_INVALID_INPUT', `${flag} key ${quotedInput(key)}: ${issue.issues[0]?.message ?? issue.message}`, { hint: 'see --help for what it takes' });
  }
  const value = valueAt(body, issue.path);
  const text = typeof value === 'number' && source.unit ? inUnit(value, source.unit) : typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
  const shown = text !== undefined ? ` ${quotedInput(text)}` : '';
  const release = isReleaseField(verb, path);
  throw new FerryError('FERRY_INVALID_INPUT', `${source.name}${shown}: ${inUsersWords(issue.message, source.unit, release)}`, { hint: release ? RELEASE_NAME_HINT : 'see --help for what it takes' });
}

/** A server that refused the request's shape (e.g. an older CLI's request): the same words. */
export function inputErrorFromServer(verb: string, err: FerryError): FerryError {
  const prefix = `${verb} request: `;
  if (err.code !== 'FERRY_INVALID_MESSAGE' || !err.message.startsWith(prefix)) return err;
  const [where, ...rest] = err.message.slice(prefix.length).split(': ');
  const path = where === '(root)' ? [] : (where ?? '').split('.');
  const source = sourceOf(path, verb);
  const release = isReleaseField(verb, path);
  return new FerryError('FERRY_INVALID_INPUT', `${source.name}: ${inUsersWords(rest.join(': '), source.unit, release)}`, { hint: err.hint ?? (release ? RELEASE_NAME_HINT : 'see --help for what it takes') });
}
