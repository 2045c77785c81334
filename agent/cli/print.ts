// What `ferry-agent` prints for a human: every line goes through shared/text.ts's `visible`, so
// text that came from elsewhere (a server's error, a hook's output kept in the journal, a path
// from a package's manifest) can never drive the terminal, and each line stays one line.
// --json and -o yaml documents are not touched: their encoders escape control characters.
import type { FerryError } from '../../shared/errors.js';
import { visible, visibleLine } from '../../shared/text.js';

/** Lines for stdout, each made visible (a line break inside one is shown as `\x0a`), newline-ended. */
export function humanText(lines: readonly string[]): string {
  return lines.map((l) => visible(l)).join('\n') + '\n';
}

/** A failure's one line for stderr: `CODE: message — hint: …`, made visible, newline-ended. */
export function errorText(e: Pick<FerryError, 'toLine'>): string {
  return visibleLine(e.toLine()) + '\n';
}
