// Options every server-side command shares, and the parsing helpers for flag values.
import type { Argv } from 'yargs';
import { parseDuration } from '../../../shared/durations.js';
import { FerryError } from '../../../shared/errors.js';
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

export function connectionFlags(a: GlobalArgs): ConnectionFlags {
  return { dataDir: a['data-dir'], nats: a.nats, creds: a.creds, tlsCa: a['tls-ca'] };
}

/** `--tag k=v` (repeatable) into a record. */
export function parseTags(values: unknown): Record<string, string> {
  const list = values === undefined ? [] : Array.isArray(values) ? values : [values];
  const tags: Record<string, string> = {};
  for (const v of list.map(String)) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new FerryError('FERRY_INVALID_INPUT', `--tag ${JSON.stringify(v)} is not key=value`, { hint: 'e.g. --tag env=prod --tag dc=lon' });
    // Tags reach agents and operators' terminals: no control characters (terminal escapes).
    if (/[\u0000-\u001f\u007f-\u009f]/.test(v)) throw new FerryError('FERRY_INVALID_INPUT', `--tag ${JSON.stringify(v)} contains control characters`);
    tags[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return tags;
}

export function parsePositiveInt(value: unknown, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new FerryError('FERRY_INVALID_INPUT', `${flag} must be a positive whole number, got "${String(value)}"`);
  return n;
}

/**
 * `--timeout` of a command that can `--wait`: how long to wait (undefined: for ever). Without
 * `--wait` nothing waits, so a `--timeout` would silently do nothing: FERRY_USAGE.
 */
export function waitTimeoutMs(a: { wait: boolean; timeout?: string | undefined }): number | undefined {
  if (a.timeout === undefined) return undefined;
  if (!a.wait) throw new FerryError('FERRY_USAGE', '--timeout is how long --wait waits; add --wait (or drop --timeout)');
  return parseDuration(a.timeout);
}

export type Builder = (y: Argv<GlobalArgs>) => Argv<GlobalArgs>;
