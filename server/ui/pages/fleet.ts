// The fleet: hosts online and offline, failing and drifted ones, the version spread of every
// package (a bar per package), and a host search with the selector syntax of --target.
import type { AgentDoc, FleetStatusReply } from '../../../shared/protocol/replies.js';
import { badge, hostLink, html, when, type Html } from './html.js';
import type { Page, PageContext } from './context.js';
import type { SiteDoc } from '../../sites/list.js';

const PALETTE = 6;

export async function fleetPage(ctx: PageContext): Promise<Page> {
  const target = ctx.url.searchParams.get('target')?.trim() || 'all';
  const status = (await ctx.call('fleet.status', {})) as FleetStatusReply;
  let agents: AgentDoc[] = [];
  let searchError: string | undefined;
  try {
    agents = (await ctx.call('agents.list', { target })) as AgentDoc[];
  } catch (err) {
    searchError = (err as Error).message;
  }
  let sites: SiteDoc[] | string;
  try {
    sites = (await ctx.call('site.list', {})) as SiteDoc[];
  } catch (err) {
    sites = (err as Error).message;
  }
  const h = status.hosts;
  const body = html`
<section class="tiles" aria-label="Hosts at a glance">
  <div class="tile"><span class="n">${h.total}</span> hosts</div>
  <div class="tile ok"><span class="n">${h.online}</span> online</div>
  <div class="tile${h.offline ? ' warn' : ''}"><span class="n">${h.offline}</span> offline</div>
  <div class="tile${h.failing ? ' bad' : ''}"><span class="n">${h.failing}</span> failing</div>
  <div class="tile${h.drifted ? ' warn' : ''}"><span class="n">${h.drifted}</span> drifted</div>
</section>
${status.failing.length || status.drifted.length
  ? html`<section aria-labelledby="attention"><h2 id="attention">Needs attention</h2><ul class="attention">
  ${status.failing.map((f) => html`<li>${hostLink(f)} ${badge('failed')} <span class="error">${f.detail ?? ''}</span></li>`)}
  ${status.drifted.map((d) => html`<li>${hostLink(d)} ${badge('drifted')} ${d.packages.join(', ')}</li>`)}
</ul></section>`
  : ''}
${status.rollouts.length
  ? html`<section aria-labelledby="active"><h2 id="active">Active rollouts</h2><ul class="attention">${status.rollouts.map(
      (r) => html`<li><a href="/rollouts/${r.id}">${r.id}</a> ${r.release} ${badge(r.state)} ${Object.entries(r.counts).map(([k, v]) => `${v} ${k}`).join(', ')}${r.next ? html` — ${r.next.event} ${when(r.next.at)}` : ''}</li>`,
    )}</ul></section>`
  : ''}
<section aria-labelledby="spread"><h2 id="spread">Version spread</h2>${versionSpread(agents)}</section>
<section aria-labelledby="by-site"><h2 id="by-site">By site</h2>${typeof sites === 'string' ? html`<p class="error">${sites}</p>` : bySite(agents, sites)}</section>
<section aria-labelledby="by-tag"><h2 id="by-tag">By tag</h2>${byTag(agents)}</section>
<section aria-labelledby="hosts"><h2 id="hosts">Hosts</h2>
<form method="get" action="/" class="search" role="search">
  <label for="target">Selector</label>
  <input id="target" name="target" value="${target === 'all' ? '' : target}" placeholder="env=prod,role=web  ·  hostname=web-*  ·  all" autocomplete="off">
  <button type="submit">Search</button>
</form>
${searchError ? html`<p class="error" role="alert">${searchError}</p>` : ''}
<table class="grid"><thead><tr><th scope="col">Host</th><th scope="col">State</th><th scope="col">Last seen</th><th scope="col">Tags</th><th scope="col">OS</th><th scope="col">Installed</th></tr></thead>
<tbody>${agents.map(
  (a) => html`<tr><td>${hostLink(a)} <span class="muted">${a.id}</span></td><td>${badge(a.online ? 'online' : 'offline')}</td><td>${when(a.lastSeen)}</td>
<td>${Object.entries(a.tags).map(([k, v]) => html`<span class="tag">${k}=${v}</span> `)}</td><td>${a.os ?? ''} ${a.arch ?? ''}</td>
<td>${Object.entries(a.installed).map(([p, v]) => html`<span class="tag">${p}@${v}</span> `)}</td></tr>`,
)}</tbody></table>
<p class="muted">${agents.length} host${agents.length === 1 ? '' : 's'} match <code>${target}</code>.</p>
</section>`;
  return { title: 'Fleet', section: 'fleet', body };
}

/** One horizontal bar per package, a segment per version (SVG: no inline styles under the CSP). */
function versionSpread(agents: AgentDoc[]): Html {
  const byPackage = new Map<string, Map<string, number>>();
  for (const a of agents) {
    for (const [p, v] of Object.entries(a.installed)) {
      const versions = byPackage.get(p) ?? new Map<string, number>();
      versions.set(v, (versions.get(v) ?? 0) + 1);
      byPackage.set(p, versions);
    }
  }
  if (byPackage.size === 0) return html`<p class="muted">No packages installed on these hosts yet.</p>`;
  return html`<table class="spread"><tbody>${[...byPackage.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([pkg, versions]) => {
    const total = [...versions.values()].reduce((a, b) => a + b, 0);
    const ordered = [...versions.entries()].sort(([a], [b]) => b.localeCompare(a, undefined, { numeric: true }));
    let x = 0;
    const label = ordered.map(([v, n]) => `${v}: ${n}`).join(', ');
    return html`<tr><th scope="row">${pkg}</th><td><svg class="bar" viewBox="0 0 100 10" preserveAspectRatio="none" role="img" aria-label="${pkg} — ${label}">${ordered.map(([v, n], i) => {
      const w = (n / total) * 100;
      const rect = html`<rect x="${x.toFixed(2)}" y="0" width="${w.toFixed(2)}" height="10" class="c${i % PALETTE}"><title>${v}: ${n}</title></rect>`;
      x += w;
      return rect;
    })}</svg></td><td class="legend">${ordered.map(([v, n], i) => html`<span class="key c${i % PALETTE}">${v}</span> ${n} `)}</td></tr>`;
  })}</tbody></table>`;
}

/**
 * Hosts online and offline at each site (its agents are tagged site=NAME by their token) and at
 * the hub itself, with whether the site is linked and how far its mirror of the DML is behind.
 */
export function bySite(agents: Pick<AgentDoc, 'tags' | 'online'>[], sites: Pick<SiteDoc, 'name' | 'linked' | 'behind' | 'error'>[]): Html {
  const count = (pick: (a: Pick<AgentDoc, 'tags'>) => boolean) => {
    const c = { online: 0, offline: 0 };
    for (const a of agents) if (pick(a)) c[a.online ? 'online' : 'offline'] += 1;
    return c;
  };
  const known = new Set(sites.map((s) => s.name));
  const hub = count((a) => a.tags.site === undefined || !known.has(a.tags.site));
  const mirror = (s: Pick<SiteDoc, 'linked' | 'behind' | 'error'>) =>
    !s.linked ? html`${badge('offline')} not linked${s.error ? html` <span class="error">${s.error}</span>` : ''}`
    : s.behind === null ? html`<span class="muted">unknown</span>`
    : s.behind.objects === 0 ? html`${badge('online')} caught up`
    : html`<span class="warn">${s.behind.objects} object${s.behind.objects === 1 ? '' : 's'} (${(s.behind.bytes / 1048576).toFixed(1)} MiB) behind</span>`;
  const row = (name: Html | string, key: string, c: { online: number; offline: number }, m: Html | string) =>
    html`<tr data-site="${key}"><th scope="row">${name}</th><td>${c.online}</td><td class="${c.offline ? 'warn' : ''}">${c.offline}</td><td>${m}</td></tr>`;
  return html`<table class="grid" id="by-site-table"><thead><tr><th scope="col">Site</th><th scope="col">Online</th><th scope="col">Offline</th><th scope="col">Mirror</th></tr></thead>
<tbody>${row('hub (no site)', '', hub, '—')}${[...sites].sort((a, b) => a.name.localeCompare(b.name)).map((s) =>
    row(html`<a href="/?target=${encodeURIComponent(`site=${s.name}`)}">${s.name}</a>`, s.name, count((a) => a.tags.site === s.name), mirror(s)),
  )}</tbody></table>${sites.length === 0 ? html`<p class="muted">No sites: every host connects to the hub (<code>ferry site add</code> makes one).</p>` : ''}`;
}

/** Hosts online and offline for every tag (key=value) of the hosts shown; each links to its selector. */
export function byTag(agents: Pick<AgentDoc, 'tags' | 'online'>[]): Html {
  const counts = new Map<string, { online: number; offline: number }>();
  for (const a of agents) {
    for (const [k, v] of Object.entries(a.tags)) {
      const c = counts.get(`${k}=${v}`) ?? { online: 0, offline: 0 };
      c[a.online ? 'online' : 'offline'] += 1;
      counts.set(`${k}=${v}`, c);
    }
  }
  if (counts.size === 0) return html`<p class="muted">These hosts have no tags.</p>`;
  return html`<table class="grid" id="by-tag-table"><thead><tr><th scope="col">Tag</th><th scope="col">Online</th><th scope="col">Offline</th></tr></thead>
<tbody>${[...counts.entries()].sort(([a], [b]) => a.localeCompare(b)).map(
    ([tag, c]) => html`<tr data-tag="${tag}"><th scope="row"><a href="/?target=${encodeURIComponent(tag)}">${tag}</a></th><td>${c.online}</td><td class="${c.offline ? 'warn' : ''}">${c.offline}</td></tr>`,
  )}</tbody></table>`;
}
