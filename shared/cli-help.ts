// --help conventions both programs share (ferry: server/cli/help.ts, ferry-agent: agent/cli/help.ts).
import type { Argv } from 'yargs';

/**
 * --help lists groups in the order they were made and the global options' group was made
 * first: naming the command's own options' group now puts them before it.
 */
export function ownOptionsFirst(y: Argv<any>): Argv<any> {
  const yy = y as any;
  const grouped = new Set(Object.values(yy.getGroups() as Record<string, string[]>).flat());
  const opts = yy.getOptions() as { key: Record<string, unknown>; alias: Record<string, string[]> };
  const aliases = new Set(Object.values(opts.alias ?? {}).flat());
  const own = Object.keys(opts.key).filter((k) => !grouped.has(k) && !aliases.has(k) && k !== '$0' && k !== '_');
  return own.length ? y.group(own, 'Options:') : y;
}
