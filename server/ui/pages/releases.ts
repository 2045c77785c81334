// The DML and the releases: every package version and its lifecycle (draft → authorized →
// retired) with its evidence, every release with its approvals (who, and whether each counts
// under four eyes), its risk and its packages' states; approve and authorize when the role may.
import { may, type Page, type PageContext } from './context.js';
import { actionButton } from './forms.js';
import { badge, html, when } from './html.js';

interface PackageRow {
  name: string;
  version: string;
  state: string;
  createdAt: string;
  size: number;
}

interface ReleaseRow {
  name: string;
  packages: { name: string; version: string }[];
  rfc?: string;
  owner?: string;
  approvals: unknown[];
  createdAt: string;
}

interface ReleaseShow extends ReleaseRow {
  notes?: string;
  rollbackPlan: string;
  approvals: { by: string; at: string; counts: boolean; reason?: string; comment?: string }[];
  risk: { level: string; factors?: string[] };
  packageStates: { name: string; version: string; state: string }[];
}

interface PackageShow {
  name: string;
  version: string;
  state: string;
  authorizedAt: string | null;
  authorizedBy: string | null;
  evidence: string | null;
  retiredAt: string | null;
  retireReason: string | null;
}

export async function releasesPage(ctx: PageContext): Promise<Page> {
  const [packages, releases] = (await Promise.all([ctx.call('dml.list', {}), ctx.call('release.list', {})])) as [PackageRow[], ReleaseRow[]];
  const details = (await Promise.all(packages.map((p) => ctx.call('dml.show', { name: p.name, version: p.version })))) as PackageShow[];
  const canAuthorize = may(ctx, 'dml.authorize');
  const body = html`
<section aria-labelledby="releases"><h2 id="releases">Releases</h2>
${releases.length ? html`<table class="grid"><thead><tr><th scope="col">Release</th><th scope="col">Packages</th><th scope="col">RFC</th><th scope="col">Owner</th><th scope="col">Approvals</th><th scope="col">Created</th></tr></thead>
<tbody>${releases.map((r) => html`<tr><td><a href="/releases/${encodeURIComponent(r.name)}">${r.name}</a></td><td>${r.packages.map((p) => `${p.name}@${p.version}`).join(', ')}</td><td>${r.rfc ?? ''}</td><td>${r.owner ?? ''}</td><td>${r.approvals.length}</td><td>${when(r.createdAt)}</td></tr>`)}</tbody></table>` : html`<p class="muted">no releases yet</p>`}
</section>
<section aria-labelledby="dml"><h2 id="dml">Definitive media library</h2>
${details.length ? html`<table class="grid"><thead><tr><th scope="col">Package</th><th scope="col">State</th><th scope="col">Evidence</th><th scope="col">Authorized</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
<tbody>${details.map((p) => html`<tr><td>${p.name}@${p.version}</td><td>${badge(p.state)}</td><td>${p.evidence ?? ''}</td><td>${p.authorizedBy ? html`${p.authorizedBy}, ${when(p.authorizedAt)}` : p.retiredAt ? html`retired ${when(p.retiredAt)} ${p.retireReason ?? ''}` : ''}</td>
<td>${canAuthorize && p.state === 'draft' ? actionButton(ctx, `/actions/dml/${encodeURIComponent(p.name)}/${encodeURIComponent(p.version)}/authorize`, 'Authorize', { confirm: `Authorize ${p.name}@${p.version} for production (no evidence given)?` }) : ''}</td></tr>`)}</tbody></table>` : html`<p class="muted">the library is empty</p>`}
</section>`;
  return { title: 'DML & releases', section: 'releases', body };
}

export async function releasePage(ctx: PageContext, name: string): Promise<Page> {
  const r = (await ctx.call('release.show', { name })) as ReleaseShow;
  const counting = r.approvals.filter((a) => a.counts).length;
  const body = html`
<dl class="facts">
  <div><dt>RFC</dt><dd>${r.rfc ?? '—'}</dd></div>
  <div><dt>Owner</dt><dd>${r.owner ?? '—'}</dd></div>
  <div><dt>Risk</dt><dd>${badge(r.risk.level)} ${(r.risk.factors ?? []).join('; ')}</dd></div>
  <div><dt>Created</dt><dd>${when(r.createdAt)}</dd></div>
</dl>
<section aria-labelledby="pk"><h2 id="pk">Packages</h2><ul>${r.packageStates.map((p) => html`<li>${p.name}@${p.version} ${badge(p.state)}</li>`)}</ul></section>
<section aria-labelledby="ap"><h2 id="ap">Approvals (${counting} counting)</h2>
${r.approvals.length ? html`<table class="grid"><thead><tr><th scope="col">By</th><th scope="col">At</th><th scope="col">Counts</th><th scope="col">Comment</th></tr></thead><tbody>${r.approvals.map((a) => html`<tr><td>${a.by}</td><td>${when(a.at)}</td><td>${a.counts ? 'yes' : html`no — ${a.reason ?? ''}`}</td><td>${a.comment ?? ''}</td></tr>`)}</tbody></table>` : html`<p class="muted">no approvals yet</p>`}
${may(ctx, 'release.approve') ? actionButton(ctx, `/actions/releases/${encodeURIComponent(r.name)}/approve`, 'Approve', { confirm: `Approve ${r.name}?`, id: 'action-approve' }) : ''}
</section>
${r.notes ? html`<section aria-labelledby="notes"><h2 id="notes">Notes</h2><pre>${r.notes}</pre></section>` : ''}
<section aria-labelledby="rb"><h2 id="rb">Rollback plan</h2><pre>${r.rollbackPlan}</pre></section>`;
  return { title: `Release ${r.name}`, section: 'releases', body };
}
