// Rollouts: the list (state, release, RFC, risk, window and next opening), one rollout live
// (each wave's progress and gate, the soak countdown, every host with its error or waiting
// reason, the timeline) with the actions the operator's role allows, and the printable review.
import { FerryError } from '../../../shared/errors.js';
import type { ScheduleEntry } from '../../rollouts/schedule.js';
import type { RolloutReview } from '../../rollouts/review.js';
import type { RolloutStatusDoc } from '../../rollouts/service.js';
import { progressChart } from './progress-chart.js';
import { allowedFailures } from '../../rollouts/options.js';
import { may, type Page, type PageContext } from './context.js';
import { actionButton } from './forms.js';
import { badge, hostLink, html, when, type Html } from './html.js';
import { policyVerdict } from './policy.js';

interface RolloutListRow {
  id: string;
  release: string;
  strategy: string;
  state: string;
  target: string;
  createdAt: string;
  hosts: number;
}

interface ReleaseRow {
  name: string;
  rfc?: string;
  riskOverride?: string;
}

export async function rolloutsPage(ctx: PageContext): Promise<Page> {
  const [rollouts, schedule, releases] = (await Promise.all([ctx.call('rollout.list', {}), ctx.call('schedule', { all: true }), ctx.call('release.list', {})])) as [RolloutListRow[], ScheduleEntry[], ReleaseRow[]];
  const planned = new Map(schedule.map((s) => [s.rollout, s]));
  const rel = new Map(releases.map((r) => [r.name, r]));
  const body = rollouts.length
    ? html`<table class="grid"><thead><tr><th scope="col">Rollout</th><th scope="col">Release</th><th scope="col">State</th><th scope="col">Strategy</th><th scope="col">Target</th><th scope="col">Hosts</th><th scope="col">RFC</th><th scope="col">Risk</th><th scope="col">Window</th><th scope="col">Next</th><th scope="col">Created</th></tr></thead>
<tbody>${rollouts.map((r) => {
        const s = planned.get(r.id);
        return html`<tr><td><a href="/rollouts/${r.id}">${r.id}</a></td><td>${rel.has(r.release) ? html`<a href="/releases/${encodeURIComponent(r.release)}">${r.release}</a>` : r.release}</td><td>${badge(r.state)}</td><td>${r.strategy}</td><td><code>${r.target}</code></td><td>${r.hosts}</td>
<td>${s?.rfc ?? rel.get(r.release)?.rfc ?? ''}</td><td>${s?.risk ?? rel.get(r.release)?.riskOverride ?? ''}</td><td>${s?.window ?? ''}</td><td>${s ? when(s.start) : ''}</td><td>${when(r.createdAt)}</td></tr>`;
      })}</tbody></table>`
    : html`<p class="muted">No rollouts yet. Start one with <code>ferry rollout start RELEASE</code>.</p>`;
  return { title: 'Rollouts', section: 'rollouts', body };
}

const ACTIONS: { action: 'pause' | 'resume' | 'abort' | 'rollback'; label: string; when: string[]; confirm?: string; danger?: boolean }[] = [
  { action: 'pause', label: 'Pause', when: ['running', 'waiting', 'planned'] },
  { action: 'resume', label: 'Resume', when: ['paused'] },
  { action: 'abort', label: 'Abort', when: ['planned', 'waiting', 'running', 'paused'], confirm: 'Abort this rollout? Hosts not yet sent stay as they are.', danger: true },
  { action: 'rollback', label: 'Roll back', when: ['running', 'paused', 'halted', 'completed', 'aborted'], confirm: 'Roll back every changed host to its previous version?', danger: true },
];

export async function rolloutPage(ctx: PageContext, id: string): Promise<Page> {
  const s = (await ctx.call('rollout.status', { id })) as RolloutStatusDoc;
  const review = (await ctx.call('rollout.review', { id }).catch(() => undefined)) as RolloutReview | undefined;
  const actions = may(ctx, 'rollout.action') ? ACTIONS.filter((a) => a.when.includes(s.state)) : [];
  const body = html`
<section class="summary" aria-label="Summary">
  <dl class="facts">
    <div><dt>State</dt><dd id="rollout-state">${badge(s.state)}</dd></div>
    <div><dt>Release</dt><dd>${s.release}</dd></div>
    <div><dt>Strategy</dt><dd>${s.strategy} · waves ${s.options.waves.join(', ')}</dd></div>
    <div><dt>Target</dt><dd><code>${s.target}</code></dd></div>
    <div><dt>Max failures</dt><dd>${s.options.maxFailures} a wave, then ${s.options.onFailure}</dd></div>
    <div><dt>Started</dt><dd>${when(s.startedAt)}</dd></div>
    ${s.endedAt ? html`<div><dt>Ended</dt><dd>${when(s.endedAt)}</dd></div>` : ''}
    ${s.reason ? html`<div><dt>Reason</dt><dd>${s.reason}</dd></div>` : ''}
  </dl>
  <div class="actions">${actions.map((a) => actionButton(ctx, `/actions/rollouts/${s.id}/${a.action}`, a.label, { confirm: a.confirm, danger: a.danger, id: `action-${a.action}` }))}
  <a class="button" href="/rollouts/${s.id}/review">Review</a></div>
</section>
<section aria-labelledby="waves"><h2 id="waves">Waves</h2>
<table class="grid"><thead><tr><th scope="col">Wave</th><th scope="col">State</th><th scope="col">Progress</th><th scope="col">Gate: failed / allowed</th><th scope="col">Soak</th></tr></thead>
<tbody>${s.waves.map((w) => waveRow(s, w))}</tbody></table></section>
${progressChart(s)}
<section aria-labelledby="hosts"><h2 id="hosts">Hosts</h2>
<table class="grid" id="rollout-hosts"><thead><tr><th scope="col">Host</th><th scope="col">Wave</th><th scope="col">State</th><th scope="col">Error or waiting reason</th></tr></thead>
<tbody>${s.hosts.map(
  (h) => html`<tr data-host="${h.hostname}" data-state="${h.state}"><td>${hostLink({ id: h.agent, hostname: h.hostname })}</td><td>${h.wave === null ? '—' : h.wave + 1}</td><td>${badge(h.state)}</td>
<td>${h.error ? html`<span class="error">${h.error}</span>` : ''}${h.waiting ? html`<span class="muted">waiting: ${h.reason ?? ''}${h.waitingUntil ? html` until ${when(h.waitingUntil)}` : ''}</span>` : h.reason && !h.error ? html`<span class="muted">${h.reason}</span>` : ''}</td></tr>`,
)}</tbody></table></section>
${review ? policyVerdict(review.policy) : ''}
${review ? timeline(review) : ''}`;
  return { title: `Rollout ${s.id}`, section: 'rollouts', body };
}

function waveRow(s: RolloutStatusDoc, w: RolloutStatusDoc['waves'][number]): Html {
  const done = w.succeeded + w.failed;
  let allowed: number | string;
  try {
    allowed = allowedFailures(s.options.maxFailures, w.hosts);
  } catch {
    allowed = s.options.maxFailures;
  }
  const soaking = w.soakUntil && w.state === 'soaking';
  return html`<tr data-wave="${w.index + 1}"><th scope="row">${w.index + 1}</th><td>${badge(w.state)}</td>
<td><progress max="${Math.max(1, w.hosts)}" value="${done}" aria-label="wave ${w.index + 1}: ${done} of ${w.hosts} hosts finished"></progress> ${w.succeeded} ok · ${w.failed} failed · ${w.pending} pending of ${w.hosts}</td>
<td class="${typeof allowed === 'number' && w.failed > allowed ? 'error' : ''}">${w.failed} / ${allowed}</td>
<td>${soaking ? html`<span data-countdown="${w.soakUntil!}">${when(w.soakUntil)}</span>${s.state === 'paused' ? ' — paused: the next wave waits for resume' : ''}` : w.soakUntil ? html`until ${when(w.soakUntil)}` : '—'}</td></tr>`;
}

function timeline(r: RolloutReview): Html {
  return html`<section aria-labelledby="timeline"><h2 id="timeline">Timeline</h2><ol class="timeline">${r.timeline.map(
    (t) => html`<li><time datetime="${t.at}">${t.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time> <strong>${t.action}</strong> by ${t.actor}${t.detail ? html` — ${t.detail}` : ''}</li>`,
  )}</ol></section>`;
}

export async function reviewPage(ctx: PageContext, id: string): Promise<Page> {
  const r = (await ctx.call('rollout.review', { id })) as RolloutReview;
  const body = html`
<p class="noprint"><a href="/rollouts/${r.id}">← back to the rollout</a> · print this page for the change board.</p>
<dl class="facts">
  <div><dt>Release</dt><dd>${r.release} (${r.packages.join(', ')})</dd></div>
  <div><dt>RFC</dt><dd>${r.rfc ?? '—'}</dd></div>
  <div><dt>Owner</dt><dd>${r.owner ?? '—'}</dd></div>
  <div><dt>Started by</dt><dd>${r.actor}</dd></div>
  <div><dt>State</dt><dd>${badge(r.state)}${r.reason ? ` — ${r.reason}` : ''}</dd></div>
  <div><dt>Strategy</dt><dd>${r.strategy}, target <code>${r.target}</code></dd></div>
  <div><dt>Started</dt><dd>${r.startedAt ?? '—'}</dd></div>
  <div><dt>Ended</dt><dd>${r.endedAt ?? '—'}</dd></div>
  <div><dt>Duration</dt><dd>${r.durationMs === null ? '—' : `${Math.round(r.durationMs / 1000)} s`}</dd></div>
  <div><dt>Install time</dt><dd>p50 ${ms(r.installTimeMs.p50)}, p95 ${ms(r.installTimeMs.p95)}, max ${ms(r.installTimeMs.max)} (${r.installTimeMs.count} hosts)</dd></div>
</dl>
<h2>Outcome</h2>
<p>${Object.entries(r.totals).map(([k, v]) => `${v} ${k}`).join(', ') || 'no hosts'}</p>
<table class="grid"><thead><tr><th scope="col">Wave</th><th scope="col">State</th><th scope="col">Hosts</th><th scope="col">Succeeded</th><th scope="col">Failed</th><th scope="col">Started</th><th scope="col">Ended</th></tr></thead>
<tbody>${r.waves.map((w) => html`<tr><td>${w.index + 1}</td><td>${w.state}</td><td>${w.hosts}</td><td>${w.succeeded}</td><td>${w.failed}</td><td>${w.startedAt ?? ''}</td><td>${w.endedAt ?? ''}</td></tr>`)}</tbody></table>
${policyVerdict(r.policy)}
<h2>Approvals</h2>
${r.approvals.length ? html`<ul>${r.approvals.map((a) => html`<li>${a.actor} at ${a.at}${a.comment ? ` — ${a.comment}` : ''}</li>`)}</ul>` : html`<p class="muted">none</p>`}
<h2>Early life support</h2>
<p>Soak ${Math.round(r.earlyLife.soakMs / 1000)} s: ${r.earlyLife.stayedHealthy} of ${r.earlyLife.watched} watched hosts stayed healthy.</p>
<h2>Failures</h2>
${r.failures.length ? html`<ul>${r.failures.map((f) => html`<li>${f.hostname} (wave ${f.wave + 1}, ${f.state}): <span class="error">${f.error ?? ''}</span></li>`)}</ul>` : html`<p class="muted">none</p>`}
<h2>Rollback plan</h2>
<pre>${r.rollbackPlan ?? '—'}</pre>
${timeline(r)}`;
  return { title: `Review of ${r.id}`, section: 'rollouts', body, printable: true };
}

const ms = (v: number | null) => (v === null ? '—' : `${(v / 1000).toFixed(1)} s`);

export function rolloutIdOf(segment: string): string {
  if (!/^[A-Za-z0-9-]{1,64}$/.test(segment)) throw new FerryError('FERRY_INVALID_INPUT', `"${segment}" is not a rollout id`);
  return segment;
}
