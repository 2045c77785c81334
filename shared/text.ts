// Text that came from a host or a user, made safe for a terminal or a Markdown file. One rule
// for every printer and every edge check: C0 controls, DEL, C1 controls (ESC, CSI, OSC…), the
// bidirectional embeddings, overrides, isolates and marks (Trojan-Source reordering) and the
// Unicode line separators are never passed through raw. Printers make them visible as `\x1b`
// or `\u202e`; edges refuse them (user input) or neutralise them the same way (host reports).
// Newlines and tabs are kept only where a field is legitimately multi-line.
//
// Backslashes are left alone: a literal `\x1b` typed by someone reads the same as an escaped
// ESC, which is confusing but cannot drive the terminal.

const UNSAFE_SOURCE = '\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069';
/** Unsafe anywhere: everything above except tab and newline. */
const UNSAFE_MULTILINE = new RegExp(`[${UNSAFE_SOURCE}]`, 'g');
/** Unsafe in a one-line field: tab and newline too. */
const UNSAFE_INLINE = new RegExp(`[${UNSAFE_SOURCE}\\u0009\\u000a]`, 'g');

export interface TextRules {
  /** keep newlines and tabs (notes, plans, hook output); default false */
  multiline?: boolean;
}

const pattern = (rules: TextRules): RegExp => (rules.multiline ? UNSAFE_MULTILINE : UNSAFE_INLINE);

/** `\x1b` for one byte's worth, `\u202e` beyond. */
export function escapeChar(c: string): string {
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** The text with every unsafe character made visible (`\x1b`); idempotent. */
export function visible(text: string, rules: TextRules = {}): string {
  return text.replace(pattern(rules), escapeChar);
}

/** The first unsafe character and where it is, for a one-line refusal; undefined if none. */
export function unsafeCharProblem(text: string, rules: TextRules = {}): string | undefined {
  const re = pattern(rules);
  re.lastIndex = 0;
  const m = re.exec(text);
  re.lastIndex = 0;
  if (!m) return undefined;
  const what = /[\u0000-\u001f\u007f-\u009f]/.test(m[0]) ? 'a control character' : 'a bidirectional or line-separator character';
  return `contains ${what} (${escapeChar(m[0])} at character ${m.index + 1})`;
}

export function isSafeText(text: string, rules: TextRules = {}): boolean {
  return unsafeCharProblem(text, rules) === undefined;
}

/**
 * What JSON.stringify leaves raw of that rule: it escapes C0 controls only, so DEL, C1 controls,
 * the bidirectional characters and the line separators in host text would reach `--json` output
 * as they are.
 */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * JSON.stringify, with every character of the rule above written `\uXXXX`: still valid JSON that
 * parses to the same value (these characters occur only inside strings, never escaped already).
 * Both CLIs print their `--json` documents with it.
 */
export function jsonText(value: unknown, space?: number): string {
  const text = JSON.stringify(value, null, space) as string | undefined;
  return text === undefined ? 'null' : text.replace(UNSAFE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** One line for a terminal (an error line): line breaks become spaces, the rest made visible. */
export function visibleLine(text: string): string {
  return visible(text.replace(/\r?\n/g, ' '));
}

/**
 * Text in a Markdown document, on one line: visible, and unable to become markup that does more
 * than emphasis. `<` and `>` are written as entities (no HTML, no autolinks), `[` and `]` are
 * backslash-escaped (no links, no images), and a backslash the text already had before
 * punctuation is doubled, so it can neither undo those escapes nor escape a `|`. GFM's extended
 * autolinks (a bare `https://…`, `www.…`, `user@host.tld`) are broken by one escape each, which
 * renders as the character itself: `https\://…`, `www\.…`, `user\@host.tld` (an escaped
 * character is not part of the text an autolink is looked for in).
 */
export function markdownText(text: string, rules: TextRules = {}): string {
  return visible(text, rules)
    .replace(/\\(?=[!-/:-@[-`{-~])/g, '\\\\')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/[[\]]/g, (c) => `\\${c}`)
    .replace(/:(?=\/\/)/g, '\\:')
    .replace(/\b(www)\./gi, '$1\\.')
    .replace(/(?<=[\w.+\\-])@(?=[\w-])/g, '\\@');
}

/**
 * A Markdown table cell: `markdownText`, `|` escaped so it cannot open a column, and the lines
 * of a multi-line value (a rollback plan) joined with `<br>` so they stay in their row.
 */
export function markdownCell(text: string): string {
  return markdownText(text, { multiline: true }).replace(/\|/g, '\\|').replace(/\t/g, ' ').replace(/\n/g, '<br>');
}
