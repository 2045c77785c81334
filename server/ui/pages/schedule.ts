// The release schedule as a calendar: rollouts that are planned, waiting or under way, grouped by
// the day they (next) run, with the change record an approver reads.
import type { ScheduleEntry } from '../../rollouts/schedule.js';
import type { Page, PageContext } from './context.js';
import { badge, html, when } from './html.js';

export async function schedulePage(ctx: PageContext): Promise<Page> {
  const entries = (await ctx.call('schedule', { all: true })) as ScheduleEntry[];
  const days = new Map<string, ScheduleEntry[]>();
  for (const e of entries) {
    const day = e.start ? e.start.slice(0, 10) : 'no window opens';
    days.set(day, [...(days.get(day) ?? []), e]);
  }
  const body = entries.length
    ? html`${[...days.entries()].sort(([a], [b]) => a.localeCompare(b)).map(
        ([day, list]) => html`<section class="day" aria-label="${day}"><h2>${day}</h2><ul class="attention">${list.map(
          (e) => html`<li><a href="/rollouts/${e.rollout}">${e.rollout}</a> ${e.release} ${badge(e.state)} — ${e.hosts} hosts, <code>${e.target}</code>; starts ${when(e.start)}${e.end ? html`, window closes ${when(e.end)}` : ''}${e.window ? ` (window ${e.window} ${e.timeZone ?? ''})` : ''}<br>
<span class="muted">RFC ${e.rfc ?? '—'} · owner ${e.owner ?? '—'} · risk ${e.risk ?? '—'} · by ${e.actor}</span></li>`,
        )}</ul></section>`,
      )}`
    : html`<p class="muted">Nothing scheduled.</p>`;
  return { title: 'Schedule', section: 'schedule', body };
}
