// Tables that fit: every row stays one line. Columns are measured in terminal cells
// (string-width, so wide characters and colour codes count right); when the table is wider
// than the limit, the widest columns give way first and their cells end in "…"; when even that
// is too wide (a narrow terminal), the trailing columns are left out. Plain text
// (two spaces between columns, no box drawing) so `grep`, `awk` and `cut` can read it.
import stringWidth from 'string-width';

export interface TableOptions {
  /** the most cells a row may take; undefined: no limit (-o wide, or a pipe without COLUMNS) */
  width?: number | undefined;
  /** print the header row (--no-headers turns it off) */
  headers?: boolean;
  /** colour for a cell, applied after it was cut to width (widths ignore colour codes) */
  paint?: (cell: string, column: number, header: boolean) => string;
}

const GAP = '  ';
/** A column never shrinks below this many cells (or its header's width, if smaller). */
const MIN_COLUMN = 5;

/** Cut `text` to at most `width` cells, ending in "…" when anything was cut. */
export function truncateCells(text: string, width: number): string {
  if (stringWidth(text) <= width) return text;
  if (width <= 1) return '…'.slice(0, width);
  let out = '';
  for (const ch of text) {
    if (stringWidth(out + ch) > width - 1) break;
    out += ch;
  }
  return out + '…';
}

function padCells(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - stringWidth(text)));
}

/**
 * The widths each column gets so the row fits in `limit`: the widest columns shrink first, down to
 * their floors; if the row is still too wide, the trailing columns are left out (-o wide shows
 * them) and the rest fitted again, and a single column left is cut to the limit. So the result may
 * be shorter than `natural`, and no row is ever wider than `limit`.
 */
export function fitWidths(natural: number[], limit: number | undefined, floors: number[]): number[] {
  const widths = [...natural];
  if (limit === undefined) return widths;
  const total = () => widths.reduce((s, w) => s + w, 0) + GAP.length * (widths.length - 1);
  const lowest = widths.length === 1 ? [Math.max(1, Math.min(floors[0]!, limit))] : floors;
  while (total() > limit) {
    let widest = -1;
    for (let i = 0; i < widths.length; i++) if (widths[i]! > lowest[i]! && (widest < 0 || widths[i]! > widths[widest]!)) widest = i;
    if (widest < 0) break; // every column is at its floor
    widths[widest]!--;
  }
  if (total() <= limit || widths.length === 1) return widths;
  return fitWidths(natural.slice(0, -1), limit, floors.slice(0, -1));
}

/** The table as lines (no trailing newline), or ["(none)"] when there are no rows. */
export function renderTable(head: string[], rows: string[][], opts: TableOptions = {}): string[] {
  if (rows.length === 0) return ['(none)'];
  const headers = opts.headers !== false;
  const all = headers ? [head, ...rows] : rows;
  const natural = head.map((_, i) => Math.max(...all.map((r) => stringWidth(r[i] ?? ''))));
  const floors = natural.map((w, i) => Math.min(w, Math.max(MIN_COLUMN, headers ? stringWidth(head[i]!) : 0)));
  const widths = fitWidths(natural, opts.width, floors);
  const paint = opts.paint ?? ((c: string) => c);
  // a narrow terminal may leave out trailing columns: every row keeps to `widths.length` cells
  return all.map((r, rowIndex) =>
    widths
      .map((w, i) => {
        const cell = paint(truncateCells(r[i] ?? '', w), i, headers && rowIndex === 0);
        return i === widths.length - 1 ? cell : padCells(cell, w);
      })
      .join(GAP)
      .trimEnd(),
  );
}
