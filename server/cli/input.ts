// The CLI's edge for what a user types: before a request leaves, every string in it is checked
// against the shared text rules (shared/text.ts), so a control character, bidi override or line
// separator in a flag is refused here with FERRY_INVALID_INPUT (exit 2) and the flag's name,
// instead of travelling to the server (which refuses it too, for other callers).
import { FerryError } from '../../shared/errors.js';
import { apiRequestSchemas, type ApiVerb } from '../../shared/protocol/api.js';
import { unsafeCharProblem, visible } from '../../shared/text.js';

/** Request fields that are legitimately multi-line: they may hold newlines and tabs. */
const MULTILINE_FIELDS: ReadonlySet<string> = new Set(['notes', 'rollbackPlan']);

const FLAG_NAMES: Readonly<Record<string, string>> = { timeZone: '--timezone', packages: '--package', actor: 'the actor name (FERRY_ACTOR or $USER)' };

function flagFor(path: string[]): string {
  const [top, key] = path;
  if (top === 'tags') return `--tag ${visible(key ?? '')}`.trim();
  if (top && FLAG_NAMES[top]) return FLAG_NAMES[top]!;
  return `--${(top ?? 'value').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** Throws FERRY_INVALID_INPUT for the first string (value or key) that breaks the text rules. */
export function checkRequestText(body: unknown, path: string[] = []): void {
  const multi = path[0] !== undefined && MULTILINE_FIELDS.has(path[0]);
  const fail = (where: string[], problem: string): never => {
    throw new FerryError('FERRY_INVALID_INPUT', `${flagFor(where)} ${problem}`, {
      hint: multi ? 'notes and rollback plans may hold newlines and tabs, no other control characters' : 'remove control characters and bidirectional overrides; only --notes and --rollback-plan may span lines',
    });
  };
  if (typeof body === 'string') {
    const problem = unsafeCharProblem(body, { multiline: multi });
    if (problem) fail(path, problem);
    return;
  }
  if (Array.isArray(body)) {
    body.forEach((v) => checkRequestText(v, path));
    return;
  }
  if (body && typeof body === 'object') {
    for (const [k, v] of Object.entries(body)) {
      const problem = unsafeCharProblem(k);
      if (problem) fail([...path, k], `name ${problem}`);
      checkRequestText(v, [...path, k]);
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
 * a bad value is FERRY_INVALID_INPUT (exit 2) naming the flag it came from, in the CLI's words,
 * never the server's `FERRY_INVALID_MESSAGE: release.create request: packages.0: …`.
 */
export function checkRequestShape(verb: ApiVerb, body: unknown): void {
  const r = apiRequestSchemas[verb].safeParse(body);
  if (r.success) return;
  const issue = r.error.issues[0]!;
  const path = issue.path.map(String);
  const value = valueAt(body, issue.path);
  const shown = typeof value === 'string' || typeof value === 'number' ? ` ${JSON.stringify(visible(String(value)))}` : '';
  throw new FerryError('FERRY_INVALID_INPUT', `${flagFor(path)}${shown}: ${issue.message}`, { hint: 'see --help for what the flag takes' });
}

/** A server that refused the request's shape (e.g. an older CLI's request): the same words. */
export function inputErrorFromServer(verb: string, err: FerryError): FerryError {
  const prefix = `${verb} request: `;
  if (err.code !== 'FERRY_INVALID_MESSAGE' || !err.message.startsWith(prefix)) return err;
  const [where, ...rest] = err.message.slice(prefix.length).split(': ');
  const path = where === '(root)' ? [] : (where ?? '').split('.');
  return new FerryError('FERRY_INVALID_INPUT', `${flagFor(path)}: ${rest.join(': ')}`, { hint: err.hint ?? 'see --help for what the flag takes' });
}
