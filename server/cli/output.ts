// Everything the CLI prints: exactly one JSON document with --json, human tables otherwise,
// and one-line errors with stable codes mapped to exit codes (here, and only here). Everything a
// human reads goes through shared/text.ts's `visible`: text from hosts and users can never
// drive the terminal, and each printed line stays one line (multi-line values such as notes
// are split into lines by the caller, see `textLines`).
import Table from 'cli-table3';
import { exitCodeFor, isFerryError, toFerryError } from '../../shared/errors.js';
import { visible } from '../../shared/text.js';

export { visible };

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** A multi-line value (notes, a rollback plan) as lines, each with `indent` before it (tabs as spaces). */
export function textLines(text: string, indent: string): string[] {
  return text.split(/\r?\n/).map((l) => indent + l.replace(/\t/g, '    '));
}

export function printTable(head: string[], rows: (string | number | null | undefined)[][]): void {
  if (rows.length === 0) {
    process.stdout.write('(none)\n');
    return;
  }
  const table = new Table({ head, style: { head: [], border: [] }, chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' } });
  for (const r of rows) table.push(r.map((c) => (c === null || c === undefined ? '-' : visible(String(c)))));
  process.stdout.write(table.toString() + '\n');
}

export function printLines(lines: string[]): void {
  process.stdout.write(lines.map((l) => visible(l)).join('\n') + '\n');
}

/** One line on stderr, escaped like stdout. */
export function printNote(line: string): void {
  process.stderr.write(visible(line) + '\n');
}


/** Print a failure as one line on stderr (or one JSON document with --json) and exit. */
export function failAndExit(err: unknown, json: boolean): never {
  const e = toFerryError(err);
  // Still exactly one JSON document: the failure's details (if any) with the error in them.
  if (json) process.stdout.write(JSON.stringify({ ...e.details, error: e.toJSON() }, null, 2) + '\n');
  process.stderr.write(visible(e.toLine().replace(/\r?\n/g, ' ')) + '\n');
  if (!isFerryError(err) && process.env.FERRY_DEBUG) process.stderr.write(String((err as Error)?.stack) + '\n');
  process.exit(exitCodeFor(e.code));
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

export function ago(iso: string | null | undefined): string {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}
