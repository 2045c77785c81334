// The CLI's fast path: `run`, `supervise` and `--version` parsed with node:util's parseArgs, not
// yargs (which the idle daemon would otherwise keep loaded; docs/performance.md). The same options
// as the yargs commands in ./main.ts, strictly checked; anything else is left to yargs.
import { parseArgs } from 'node:util';
import { FerryError } from '../../shared/errors.js';
import { OUTPUT_FORMATS } from '../../shared/output-format.js';
import type { MaintenanceFlags } from '../maintenance.js';

/** `ferry-agent run`'s options (the same from yargs and from the fast path). */
export interface RunArgs extends MaintenanceFlags {
  'state-dir'?: string | undefined;
  'keep-versions'?: number | undefined;
  'log-level'?: string | undefined;
}

/**
 * `run`, `supervise` and `--version` without yargs: the same options, strictly checked.
 * Returns undefined for anything else, and for --help (yargs answers those).
 */
export function parseWithoutYargs(args: string[]): { command: 'run' | 'supervise'; args: RunArgs & { config?: string | undefined } } | { command: 'version' } | undefined {
  if (args[0] === '--version' && onlyFormatOptions(args.slice(1))) return { command: 'version' };
  if ((args[0] !== 'run' && args[0] !== 'supervise') || args.some((x) => x === '--help' || x === '-h')) return undefined;
  const str = { type: 'string' } as const;
  if (args[0] === 'supervise') {
    const { values } = strictParse(args.slice(1), { 'state-dir': str, config: str, ...FORMAT_OPTIONS }, 'supervise');
    return { command: 'supervise', args: { 'state-dir': values['state-dir'] as string | undefined, config: values.config as string | undefined } };
  }
  const { values } = strictParse(args.slice(1), { 'state-dir': str, config: str, ...FORMAT_OPTIONS, window: str, timezone: str, deadline: str, 'keep-versions': str, 'log-level': str }, 'run');
  const keep = values['keep-versions'] === undefined ? undefined : Number(values['keep-versions']);
  if (keep !== undefined && Number.isNaN(keep)) throw new FerryError('FERRY_USAGE', `--keep-versions "${String(values['keep-versions'])}" is not a number`, { hint: 'see ferry-agent run --help' });
  const s = (k: string) => values[k] as string | undefined;
  return { command: 'run', args: { 'state-dir': s('state-dir'), config: s('config'), window: s('window'), timezone: s('timezone'), deadline: s('deadline'), 'keep-versions': keep, 'log-level': s('log-level') } };
}

/** `--version` with nothing but the global options (which change nothing but the format). */
function onlyFormatOptions(args: string[]): boolean {
  try {
    strictParse(args, { ...FORMAT_OPTIONS, 'state-dir': { type: 'string' }, config: { type: 'string' } }, '--version');
    return true;
  } catch {
    return false;
  }
}

/** The global output options, as the yargs commands have them. */
const FORMAT_OPTIONS = { json: { type: 'boolean' }, output: { type: 'string', short: 'o' } } as const;

function strictParse(args: string[], options: Record<string, { type: 'string' | 'boolean'; short?: string }>, command: string): { values: Record<string, string | boolean | undefined> } {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args, strict: true, allowPositionals: false, options }));
  } catch (err) {
    throw new FerryError('FERRY_USAGE', err instanceof Error ? err.message : String(err), { hint: `see ferry-agent ${command} --help` });
  }
  const o = values.output;
  if (o !== undefined && !(OUTPUT_FORMATS as readonly unknown[]).includes(o)) {
    throw new FerryError('FERRY_USAGE', `-o ${String(o)}: choose one of ${OUTPUT_FORMATS.join(', ')}`, { hint: `see ferry-agent ${command} --help` });
  }
  return { values };
}
