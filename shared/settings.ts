// Settings for both processes from a JSON config file and FERRY_* environment variables, checked
// with a zod schema at start. Precedence (highest first): command-line flags (applied by the
// caller), environment variables, the config file, built-in defaults.
// A bad value stops the process with one line: `FERRY_CONFIG_INVALID: <source>: <key> <problem>`.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as z from 'zod';
import { FerryError } from './errors.js';

/** Reads as "<key> must be a positive integer" in an error line. */
export const positiveInt = (): z.ZodNumber => z.number({ error: 'must be a positive integer' }).int({ error: 'must be a positive integer' }).positive({ error: 'must be a positive integer' });
export const absolutePath = (): z.ZodString => z.string({ error: 'must be an absolute path' }).startsWith('/', { error: 'must be an absolute path' });
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const logLevel = () => z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` });

/** FERRY_CONFIG=none: read no config file at all (tests, and hosts that configure by environment only). */
export const NO_CONFIG = 'none';

export interface SettingsSource<T> {
  /** the config file that was read, if any */
  file?: string;
  values: Partial<T>;
}

function invalid(source: string, issue: z.core.$ZodIssue): FerryError {
  if (issue.code === 'unrecognized_keys') return new FerryError('FERRY_CONFIG_INVALID', `${source}: unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`, { hint: 'see docs/configuration.md' });
  const key = issue.path.join('.');
  return new FerryError('FERRY_CONFIG_INVALID', `${source}: ${key ? `${key} ` : ''}${issue.message}`, { hint: 'see docs/configuration.md' });
}

/** The config file's path: --config, else FERRY_CONFIG, else the default when it exists. */
export function configFilePath(flag: string | undefined, defaultPath: string, env: NodeJS.ProcessEnv = process.env): { path: string; required: boolean } | undefined {
  const chosen = flag ?? env.FERRY_CONFIG;
  if (chosen === NO_CONFIG || chosen === '') return undefined;
  if (chosen) return { path: resolve(chosen), required: true };
  return existsSync(defaultPath) ? { path: defaultPath, required: false } : undefined;
}

/**
 * Load and validate settings: the config file's keys, overridden by the environment variables in
 * `envNames` (key → FERRY_* name; numbers are parsed). Flags are the caller's to apply on top.
 */
export function loadSettings<S extends z.ZodObject>(schema: S, envNames: Partial<Record<keyof z.infer<S> & string, string>>, file: { path: string; required: boolean } | undefined, env: NodeJS.ProcessEnv = process.env): SettingsSource<z.infer<S>> {
  const strict = schema.partial().strict();
  let fromFile: Record<string, unknown> = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file.path, 'utf8');
    } catch (err) {
      throw new FerryError('FERRY_CONFIG_INVALID', `${file.path}: cannot read the config file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new FerryError('FERRY_CONFIG_INVALID', `${file.path}: not valid JSON (${(err as Error).message})`);
    }
    const r = strict.safeParse(parsed);
    if (!r.success) throw invalid(file.path, r.error.issues[0]!);
    fromFile = r.data as Record<string, unknown>;
  }
  const fromEnv: Record<string, unknown> = {};
  for (const [key, name] of Object.entries(envNames) as [string, string][]) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const field = (schema.shape as Record<string, z.ZodType>)[key]!;
    const value = isNumeric(field) ? (/^-?\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw) : raw) : raw;
    const r = field.safeParse(value);
    if (!r.success) throw new FerryError('FERRY_CONFIG_INVALID', `${name}: ${r.error.issues[0]!.message} (got ${JSON.stringify(raw)})`, { hint: 'see docs/configuration.md' });
    fromEnv[key] = r.data;
  }
  return { ...(file ? { file: file.path } : {}), values: { ...fromFile, ...fromEnv } as Partial<z.infer<S>> };
}

function isNumeric(field: z.ZodType): boolean {
  return field instanceof z.ZodNumber;
}
