// One host: its record (facts, tags, inventory, installed versions, drift), its history, and the
// hook output of its operations.
import type { AgentLogsReply, CmdbShowReply } from '../../../shared/protocol/replies.js';
import type { Page, PageContext } from './context.js';
import { badge, html, when, type Html } from './html.js';

/** history rows shown (cmdb.show gives them newest first) */
const HISTORY_ROWS = 50;

export async function hostPage(ctx: PageContext, host: string): Promise<Page> {
  const [doc, logs] = (await Promise.all([ctx.call('cmdb.show', { host }), ctx.call('agents.logs', { host, limit: 50 })])) as [CmdbShowReply, AgentLogsReply];
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
<section aria-labelledby="drift"><h2 id="drift">Drift</h2>${driftLists(doc.drift)}</section>
<section aria-labelledby="ops"><h2 id="ops">Operations and hook output</h2>
${logs.entries.length ? html`<ol class="ops">${[...logs.entries].reverse().map(
  (e) => html`<li><div><time datetime="${e.at}">${e.at}</time> <strong>${e.kind}</strong> ${e.package ?? ''}${e.version ? `@${e.version}` : ''}${e.fromVersion ? ` (from ${e.fromVersion})` : ''} ${e.result ? badge(e.result) : ''} ${e.operation ? html`<span class="muted">${e.operation}</span>` : ''}</div>
${e.detail ? html`<div class="error">${e.detail}</div>` : ''}${e.output ? html`<details><summary>hook output</summary><pre>${e.output}</pre></details>` : ''}</li>`,
)}</ol>` : html`<p class="muted">no operations reported yet</p>`}
</section>
<section aria-labelledby="history"><h2 id="history">History</h2>${historyTable(doc.history)}</section>
<section aria-labelledby="facts"><h2 id="facts">Inventory facts</h2><details><summary>all facts</summary><pre>${JSON.stringify(doc.facts, null, 2)}</pre></details></section>`;
  return { title: doc.hostname, section: 'fleet', body };
}

/** Per drifted package: the files changed on the host and the files gone from it. */
export function driftLists(drift: CmdbShowReply['drift']): Html {
  if (!drift.length) return html`<p class="muted">no drift reported</p>`;
  const files = (label: string, list: string[]) => (list.length ? html`<div><h4>${label} (${list.length})</h4><ul class="files">${list.map((f) => html`<li><code>${f}</code></li>`)}</ul></div>` : '');
  return html`${drift.map(
    (d) => html`<div class="drift" data-package="${d.package}"><h3>${d.package}@${d.version}</h3>${files('modified', d.modified)}${files('missing', d.missing)}</div>`,
  )}`;
}

/** The host's recorded changes, newest first: when, what, which version (from which), result, detail. */
export function historyTable(history: CmdbShowReply['history']): Html {
  if (!history.length) return html`<p class="muted">no history yet</p>`;
  const shown = history.slice(0, HISTORY_ROWS);
  return html`<table class="grid" id="host-history"><thead><tr><th scope="col">Time</th><th scope="col">Kind</th><th scope="col">Package</th><th scope="col">Version</th><th scope="col">Result</th><th scope="col">Detail</th></tr></thead>
<tbody>${shown.map((h) => {
    const at = new Date(h.ts).toISOString();
    return html`<tr><td><time datetime="${at}">${at.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time></td><td>${h.kind}</td><td>${h.package ?? ''}</td><td>${h.fromVersion ? `${h.fromVersion} → ` : ''}${h.version ?? ''}</td><td>${h.result ? badge(h.result) : ''}</td><td>${h.detail ? html`<span class="${h.result === 'failed' ? 'error' : ''}">${h.detail}</span>` : ''}${h.operation ? html` <span class="muted">${h.operation}</span>` : ''}</td></tr>`;
  })}</tbody></table>${history.length > shown.length ? html`<p class="muted">the newest ${shown.length} of ${history.length} entries</p>` : ''}`;
}
