// The audit log, filtered by actor, action (a trailing * matches a prefix) and age.
import { parseDuration } from '../../../shared/durations.js';
import type { Page, PageContext } from './context.js';
import { html, when } from './html.js';

interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string | null;
  result: 'ok' | 'error';
  error: string | null;
}

export async function auditPage(ctx: PageContext): Promise<Page> {
  const q = ctx.url.searchParams;
  const actor = q.get('actor')?.trim() || undefined;
  const action = q.get('action')?.trim() || undefined;
  const sinceText = q.get('since')?.trim() || undefined;
  const since = sinceText ? Date.now() - parseDuration(sinceText) : undefined;
  const entries = (await ctx.call('audit.list', { actor, action, since, limit: 500 })) as AuditEntry[];
  const body = html`
<form method="get" action="/audit" class="search" role="search">
  <label for="actor">Actor</label><input id="actor" name="actor" value="${actor ?? ''}">
  <label for="action">Action</label><input id="action" name="action" value="${action ?? ''}" placeholder="rollout.*">
  <label for="since">Since</label><input id="since" name="since" value="${sinceText ?? ''}" placeholder="24h">
  <button type="submit">Filter</button>
</form>
<table class="grid"><thead><tr><th scope="col">#</th><th scope="col">When</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">Result</th></tr></thead>
<tbody>${[...entries].reverse().map((e) => html`<tr><td>${e.id}</td><td>${when(e.at)}</td><td>${e.actor}</td><td>${e.action}</td><td>${e.target ?? ''}</td><td>${e.result === 'ok' ? 'ok' : html`<span class="error">${e.error ?? 'error'}</span>`}</td></tr>`)}</tbody></table>
<p class="muted">${entries.length} entries (newest first, at most 500).</p>`;
  return { title: 'Audit log', section: 'audit', body };
}
