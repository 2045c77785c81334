// HTML by tagged template: every interpolated value is escaped unless it is already Html (made
// by this template or by raw() on a constant). Pages never build markup by string concatenation.
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

type Part = Html | string | number | boolean | null | undefined | Part[];

function render(v: Part): string {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return v.map(render).join('');
  return escapeHtml(String(v));
}

export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => (out += render(v) + strings[i + 1]!));
  return new Html(out);
}

/** Markup the code itself wrote (never user data). */
export function raw(text: string): Html {
  return new Html(text);
}

/** "3m ago", "in 2m 10s" — for times next to their ISO form in a title. */
export function relative(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '—';
  const ms = Date.parse(iso) - now;
  const abs = Math.abs(ms);
  const s = Math.round(abs / 1000);
  const text = s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m ${s % 60}s` : s < 86400 ? `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m` : `${Math.floor(s / 86400)}d`;
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

export function when(iso: string | null | undefined): Html {
  if (!iso) return html`<span class="muted">—</span>`;
  return html`<time datetime="${iso}" title="${iso}">${relative(iso)}</time>`;
}

/** A state as a small coloured badge (colour never the only signal: the word is always there). */
export function badge(state: string): Html {
  return html`<span class="badge s-${state.replace(/[^a-z-]/g, '')}">${state}</span>`;
}

/**
 * A link to a host's page by its agent id (a hostname can name several agents, and the host page
 * refuses an ambiguous one), with the hostname as its text.
 */
export function hostLink(host: { id: string; hostname: string }): Html {
  return html`<a href="/hosts/${encodeURIComponent(host.id)}">${host.hostname}</a>`;
}
