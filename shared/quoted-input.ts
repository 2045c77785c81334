// What a user typed, quoted for an error line: JSON-quoted and made visible (shared/text.ts), so
// it stays on one line whatever it holds, and, when long, cut to its first characters with its
// length, so a 5000-character --tag value is not echoed whole on stderr and in the --json error.
import { visible } from './text.js';

/** Longer inputs are cut to this many characters (and `…`). */
const SHOWN_CHARS = 60;

/** `"30x"`; `"aaaa…" (5000 characters)` when longer than SHOWN_CHARS. */
export function quotedInput(text: string): string {
  if (text.length <= SHOWN_CHARS) return visible(JSON.stringify(text));
  let head = text.slice(0, SHOWN_CHARS);
  if (/[\ud800-\udbff]$/.test(head)) head = head.slice(0, -1); // never half a surrogate pair
  return `${visible(JSON.stringify(`${head}…`))} (${text.length} characters)`;
}
