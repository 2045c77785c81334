// One host: its record (facts, tags, inventory, installed versions, drift), its history, and the
// hook output of its operations.
import type { AgentLogsReply } from '../../../shared/protocol/replies.js';
import type { Page, PageContext } from './context.js';
import { badge, html, when } from './html.js';

interface HostDoc {
  id: string;
  hostname: string;
  online: boolean;
  lastSeen: string | null;
  state: string;
  tags: Record<string, string>;
  os: string | null;
  arch: string | null;
  joinedAt: string;
  installed: Record<string, string>;
  facts: Record<string, unknown>;
  drift: unknown;
  history: { at?: string; ts?: number; package?: string; version?: string; result?: string; kind?: string; detail?: string | null }[];
}

export async function hostPage(ctx: PageContext, host: string): Promise<Page> {
  const [doc, logs] = (await Promise.all([ctx.call('cmdb.show', { host }), ctx.call('agents.logs', { host, limit: 50 })])) as [HostDoc, AgentLogsReply];
  const drift = Array.isArray(doc.drift) ? doc.drift : doc.drift && typeof doc.drift === 'object' ? Object.entries(doc.drift as Record<string, unknown>) : [];
  const body = html`
<dl class="facts">
  <div><dt>Agent</dt><dd>${doc.id}</dd></div>
  <div><dt>State</dt><dd>${badge(doc.online ? 'online' : 'offline')} ${doc.state === 'active' ? '' : badge(doc.state)}</dd></div>
  <div><dt>Last seen</dt><dd>${when(doc.lastSeen)}</dd></div>
  <div><dt>Joined</dt><dd>${when(doc.joinedAt)}</dd></div>
  <div><dt>OS</dt><dd>${doc.os ?? ''} ${doc.arch ?? ''}</dd></div>
  <div><dt>Tags</dt><dd>${Object.entries(doc.tags).map(([k, v]) => html`<span class="tag">${k}=${v}</span> `)}</dd></div>
</dl>
<section aria-labelledby="installed"><h2 id="installed">Installed</h2>
${Object.keys(doc.installed).length ? html`<table class="grid"><thead><tr><th scope="col">Package</th><th scope="col">Version</th></tr></thead><tbody>${Object.entries(doc.installed).map(([p, v]) => html`<tr><td>${p}</td><td>${v}</td></tr>`)}</tbody></table>` : html`<p class="muted">nothing installed by Ferry</p>`}
</section>
<section aria-labelledby="drift"><h2 id="drift">Drift</h2>${drift.length ? html`<pre>${JSON.stringify(doc.drift, null, 2)}</pre>` : html`<p class="muted">no drift reported</p>`}</section>
<section aria-labelledby="ops"><h2 id="ops">Operations and hook output</h2>
${logs.entries.length ? html`<ol class="ops">${[...logs.entries].reverse().map(
  (e) => html`<li><div><time datetime="${e.at}">${e.at}</time> <strong>${e.kind}</strong> ${e.package ?? ''}${e.version ? `@${e.version}` : ''}${e.fromVersion ? ` (from ${e.fromVersion})` : ''} ${e.result ? badge(e.result) : ''} ${e.operation ? html`<span class="muted">${e.operation}</span>` : ''}</div>
${e.detail ? html`<div class="error">${e.detail}</div>` : ''}${e.output ? html`<details><summary>hook output</summary><pre>${e.output}</pre></details>` : ''}</li>`,
)}</ol>` : html`<p class="muted">no operations reported yet</p>`}
</section>
<section aria-labelledby="history"><h2 id="history">History</h2><pre class="history">${doc.history.slice(-50).map((h) => JSON.stringify(h)).join('\n')}</pre></section>
<section aria-labelledby="facts"><h2 id="facts">Inventory facts</h2><details><summary>all facts</summary><pre>${JSON.stringify(doc.facts, null, 2)}</pre></details></section>`;
  return { title: doc.hostname, section: 'fleet', body };
}
