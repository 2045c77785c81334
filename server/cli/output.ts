// Everything the CLI prints: exactly one JSON document with --json, human tables otherwise,
// and one-line errors with stable codes mapped to exit codes (here, and only here). Everything a
// human reads goes through shared/text.ts's `visible`: text from hosts and users can never
// drive the terminal, and each printed line stays one line (multi-line values such as notes
// are split into lines by the caller, see `textLines`).
import { exitCodeFor, isFerryError, toFerryError } from '../../shared/errors.js';
import { jsonText, visible, visibleLine } from '../../shared/text.js';
import { bold, colorEnabled, paintState } from './render/color.js';
import { renderTable } from './render/table.js';
import { toYaml } from '../../shared/yaml.js';
import type { OutputFormat } from '../../shared/output-format.js';

export { visible };

/** How data is printed: `-o json|yaml|wide` and `--no-headers`, set once by main.ts. */
export interface OutputSettings {
  /** `-o yaml` prints the --json document as YAML; `wide` never cuts table cells */
  format: OutputFormat;
  headers: boolean;
  /** a stream of JSON documents (`logs --follow --json`): a failure's document is one line too */
  streaming?: boolean;
}

const settings: OutputSettings = { format: 'table', headers: true };

export function configureOutput(s: Partial<OutputSettings>): void {
  Object.assign(settings, s);
}

/** The one document a data command prints with --json (or -o yaml: the same document as YAML). */
export function printJson(value: unknown): void {
  process.stdout.write(settings.format === 'yaml' ? toYaml(value) : jsonText(value, 2) + '\n');
}

/** One JSON document on one line, for streams (`logs --follow --json`: one line per entry). */
export function printJsonLine(value: unknown): void {
  process.stdout.write(settings.format === 'yaml' ? `---\n${toYaml(value)}` : jsonText(value) + '\n');
}

/** Colour on a terminal unless NO_COLOR says otherwise. */
export function useColor(): boolean {
  return colorEnabled(process.stdout.isTTY);
}

/** How many cells a table row may take: the terminal's width, else $COLUMNS, else no limit (a pipe). */
export function tableWidth(): number | undefined {
  if (settings.format === 'wide') return undefined;
  if (process.stdout.isTTY && process.stdout.columns) return process.stdout.columns;
  const env = Number(process.env.COLUMNS);
  return Number.isInteger(env) && env > 0 ? env : undefined;
}

/** A multi-line value (notes, a rollback plan) as lines, each with `indent` before it (tabs as spaces). */
export function textLines(text: string, indent: string): string[] {
  return text.split(/\r?\n/).map((l) => indent + l.replace(/\t/g, '    '));
}

/** A table as lines for stdout: cells escaped, cut to the width, coloured on a terminal. */
export function tableLines(head: string[], rows: (string | number | null | undefined)[][]): string[] {
  const color = useColor();
  const stateColumns = new Set(head.map((h, i) => (/STATE|ONLINE|RESULT|STATUS/.test(h) ? i : -1)));
  return renderTable(
    head,
    rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : visible(String(c))))),
    { width: tableWidth(), headers: settings.headers, paint: (cell, i, header) => (header ? bold(cell, color) : stateColumns.has(i) ? paintState(cell, color) : cell) },
  );
}

export function printTable(head: string[], rows: (string | number | null | undefined)[][]): void {
  process.stdout.write(tableLines(head, rows).join('\n') + '\n');
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
  if (json) (settings.streaming ? printJsonLine : printJson)({ ...e.details, error: e.toJSON() });
  process.stderr.write(visibleLine(e.toLine()) + '\n');
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

/** A time relative to now, both ways: "in 4m10s", "12s ago" (countdowns in status and --watch). */
export function relativeTime(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '';
  const ms = Date.parse(iso) - now;
  const s = Math.round(Math.abs(ms) / 1000);
  const text = s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : s < 86400 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}
