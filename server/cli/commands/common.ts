// Options every server-side command shares, and the parsing helpers for flag values.
import type { Argv } from 'yargs';
import { parseDuration } from '../../../shared/durations.js';
import { FerryError } from '../../../shared/errors.js';
import { quotedInput } from '../../../shared/quoted-input.js';
import type { ConnectionFlags } from '../client.js';

export interface GlobalArgs {
  'data-dir'?: string;
  nats?: string;
  creds?: string;
  'tls-ca'?: string;
  json: boolean;
  /** of the flags the config file can fill, those the command line set itself (main.ts records them before filling) */
  [COMMAND_LINE_FLAGS]?: ReadonlySet<string>;
}

/** The key under which main.ts records which config-file flags were on the command line. */
export const COMMAND_LINE_FLAGS = 'ferry:command-line-flags';

/** Where the server is, from the global flags; an empty one (`--nats ''`) is refused, not taken for "the default". */
export function connectionFlags(a: GlobalArgs): ConnectionFlags {
  for (const flag of ['data-dir', 'nats', 'creds', 'tls-ca'] as const) nonBlank(a[flag], `--${flag}`);
  return { dataDir: a['data-dir'], nats: a.nats, creds: a.creds, tlsCa: a['tls-ca'] };
}

/** What to say instead of an empty value, where leaving the flag out means something. */
const EMPTY_HINTS: Readonly<Record<string, string>> = { '--target': 'to select every host, say --target all' };

/** FERRY_INVALID_INPUT for an empty (or blank) value of `name`: a flag (`--target`) or a positional (`ID`). */
export function emptyInput(name: string): FerryError {
  return new FerryError('FERRY_INVALID_INPUT', `${name} must not be empty`, { hint: EMPTY_HINTS[name] ?? 'see --help for what it takes' });
}

/** The value of an optional flag, refused if given empty or blank (`--window ''`): FERRY_INVALID_INPUT naming it. */
export function nonBlank(value: string | undefined, flag: string): string | undefined {
  if (value !== undefined && String(value).trim() === '') throw emptyInput(flag);
  return value;
}

const TAG_KEY = /^[A-Za-z0-9_.-]{1,64}$/;
const TAG_HINT = 'e.g. --tag env=prod --tag dc=lon';

/** `--tag k=v` (repeatable) into a record. */
export function parseTags(values: unknown): Record<string, string> {
  const list = values === undefined ? [] : Array.isArray(values) ? values : [values];
  const tags: Record<string, string> = {};
  for (const v of list.map(String)) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new FerryError('FERRY_INVALID_INPUT', `--tag ${quotedInput(v)} is not key=value`, { hint: TAG_HINT });
    // Tags reach agents and operators' terminals: no control characters (terminal escapes).
    if (/[\u0000-\u001f\u007f-\u009f]/.test(v)) throw new FerryError('FERRY_INVALID_INPUT', `--tag ${quotedInput(v)} contains control characters`);
    const key = v.slice(0, eq);
    if (!TAG_KEY.test(key)) throw new FerryError('FERRY_INVALID_INPUT', `--tag key ${quotedInput(key)} is not valid: a key is 1-64 of A-Z a-z 0-9 _ . -`, { hint: TAG_HINT });
    tags[key] = v.slice(eq + 1);
  }
  return tags;
}

export function parsePositiveInt(value: unknown, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new FerryError('FERRY_INVALID_INPUT', `${flag} must be a positive whole number, got ${quotedInput(String(value))}`);
  return n;
}

/**
 * How a duration flag is declared: one value, taken even when it starts with a dash, so
 * `--soak -5m` is refused as a negative duration rather than read as the flags -5 and -m.
 */
export const DURATION_OPTION = { type: 'string', nargs: 1 } as const;

/**
 * A duration flag's milliseconds; its errors name the flag (`--soak: invalid duration "10x"`).
 * `positive`: 0 is refused too, as for a polling interval (0 would ask the server without pause).
 */
export function durationFlag(value: string, flag: string, opts: { positive?: boolean } = {}): number {
  const ms = parseDuration(value, flag);
  // worded as the schema's bounds are (server/cli/input.ts): `--host-timeout "0s": must be more than 0s`
  if (opts.positive && ms === 0) throw new FerryError('FERRY_INVALID_INPUT', `${flag} "0s": must be more than 0s`, { hint: 'see --help for what it takes' });
  return ms;
}

/**
 * `--timeout` of a command that can `--wait`: how long to wait (undefined: for ever). Without
 * `--wait` nothing waits, so a `--timeout` would silently do nothing: FERRY_USAGE.
 */
export function waitTimeoutMs(a: { wait: boolean; timeout?: string | undefined }): number | undefined {
  if (a.timeout === undefined) return undefined;
  if (!a.wait) throw new FerryError('FERRY_USAGE', '--timeout is how long --wait waits; add --wait (or drop --timeout)');
  return durationFlag(a.timeout, '--timeout');
}

export type Builder = (y: Argv<GlobalArgs>) => Argv<GlobalArgs>;
