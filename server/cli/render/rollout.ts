// How rollouts look on a terminal: the status view (with progress bars for --watch) and the
// post-implementation review as Markdown. The terminal view escapes through printLines and
// printTable; the Markdown escapes every value it interpolates (table cells with markdownCell,
// list items with markdownText: no HTML, no links), since it is written to a terminal or a file as it is.
import { markdownCell as cell, markdownText as md } from '../../../shared/text.js';
import { windowOpens } from '../../../shared/windows.js';
import type { RolloutReview } from '../../rollouts/review.js';
import type { RolloutStatusDoc } from '../../rollouts/service.js';
import { relativeTime, tableLines, visible } from '../output.js';

const BAR_WIDTH = 24;

/** `[████████░░░░] 8/12` — succeeded solid, failed as ✗, the rest empty. */
export function progressBar(succeeded: number, failed: number, total: number, width = BAR_WIDTH): string {
  if (total === 0) return `[${' '.repeat(width)}] 0/0`;
  const ok = Math.round((succeeded / total) * width);
  const bad = Math.min(width - ok, Math.round((failed / total) * width));
  return `[${'█'.repeat(ok)}${'✗'.repeat(bad)}${'░'.repeat(width - ok - bad)}] ${succeeded + failed}/${total}`;
}

/** The status view as lines ready for stdout (escaped; the table coloured on a terminal). */
export function statusLines(s: RolloutStatusDoc, now = Date.now()): string[] {
  const countdown = (iso: string | undefined) => (iso ? `${relativeTime(iso, now)} (${iso})` : '');
  const windowLine = (window: string, timeZone: string | undefined, opens: string | null) => `  waiting for the window "${window}" (${timeZone ?? 'UTC'})${opens ? `: opens ${countdown(opens)}` : ''}`;
  const head = [
    `Rollout ${s.id}: ${s.release}, ${s.strategy}, target ${s.target} — ${s.state.toUpperCase()}${s.reason ? ` (${s.reason})` : ''}`,
    ...(s.copyOf ? [`  copy of production host ${s.copyOf.hostname} (${s.copyOf.agent})`] : []),
    `  ${Object.entries(s.counts).map(([k, n]) => `${n} ${k}`).join(', ') || 'no hosts'}`,
    ...(s.state === 'waiting' && s.options.startAt && s.options.startAt > now ? [`  starts ${countdown(new Date(s.options.startAt).toISOString())}`] : []),
    ...(s.state === 'waiting' && s.options.window ? [windowLine(s.options.window, s.options.timeZone, windowOpens(s.options.window, s.options.timeZone, Math.max(now, s.options.startAt ?? 0)))] : []),
    ...s.waves.map((w) => `  wave ${String(w.index + 1).padEnd(2)} ${w.state.padEnd(9)} ${progressBar(w.succeeded, w.failed, w.hosts)}${waveNote(s, w, now)}`),
    ...(s.state === 'paused' ? [`  paused: no wave starts until: ferry rollout resume ${s.id}`] : []),
    ...followLines(s),
  ].map((l) => visible(l));
  // A host the fleet rollback sent back did not fail (its state says rolled-back, its cause why).
  const problems = s.hosts.filter((h) => h.state === 'failed' || (h.state === 'rolled-back' && h.cause !== 'fleet-rollback'));
  const table = tableLines(
    ['HOST', 'AGENT', 'WAVE', 'STATE', 'DETAIL'],
    s.hosts.map((h) => [h.hostname, h.agent, h.late ? 'late' : h.wave === null ? '-' : h.wave + 1, h.waiting ? 'waiting' : h.state, [h.error ?? h.reason ?? '', h.waiting && h.waitingUntil ? `resumes ${relativeTime(h.waitingUntil, now)}` : ''].filter(Boolean).join('; ')]),
  );
  const tail = problems.length ? [`Failing hosts (${problems.length}):`, ...problems.map((h) => `  ${h.hostname}: ${h.error ?? h.state}`)].map((l) => visible(l)) : [];
  return [...head, ...table, ...tail];
}

/**
 * After a wave's bar: how many of its hosts the fleet rollback sent back, and the soak: its
 * countdown, or that it is over (and that the rollout is paused: the next wave waits for resume).
 */
function waveNote(s: RolloutStatusDoc, w: RolloutStatusDoc['waves'][number], now: number): string {
  const back = s.hosts.filter((h) => h.wave === w.index && h.state === 'rolled-back' && h.cause === 'fleet-rollback').length;
  const notes = back ? [`${back} sent back by the fleet rollback`] : [];
  if (w.state === 'soaking' && w.soakUntil) {
    const over = Date.parse(w.soakUntil) <= now;
    const soak = over ? 'soak over' : `soak ends ${relativeTime(w.soakUntil, now)} (${w.soakUntil})`;
    notes.push(s.state === 'paused' ? `${soak} — paused` : soak);
  }
  return notes.map((n) => `  ${n}`).join('');
}

/** A `--follow` rollout: whether it still follows, and the hosts it brought in after the waves. */
function followLines(s: RolloutStatusDoc): string[] {
  if (!s.follow) return [];
  const late = s.hosts.filter((h) => h.late);
  const tally = late.length ? `${late.length} host(s) brought in after the waves: ${late.filter((h) => h.state === 'succeeded').length} succeeded, ${late.filter((h) => h.state === 'failed' || h.state === 'rolled-back').length} failed` : 'no host brought in after the waves yet';
  const state = s.follow.state === 'following' ? `follows ${s.target}` : `stopped following${s.follow.reason ? ` (${s.follow.reason})` : ''}`;
  return [`  ${state}; ${tally}`];
}

export function printStatus(s: RolloutStatusDoc): void {
  process.stdout.write(statusLines(s).join('\n') + '\n');
}

export function renderReviewMarkdown(r: RolloutReview): string {
  const ms = (n: number | null) => (n === null ? 'n/a' : n < 1000 ? `${n} ms` : `${(n / 1000).toFixed(1)} s`);
  const lines = [
    `# Post-implementation review: rollout ${md(r.id)}`,
    '',
    `| | |`,
    `|---|---|`,
    `| Release | ${cell(r.release)} (${cell(r.packages.join(', ')) || 'n/a'}) |`,
    ...(r.copyOf ? [`| Copy of | production host ${cell(r.copyOf.hostname)} (${cell(r.copyOf.agent)}): the target was given exactly its package versions |`] : []),
    `| RFC | ${cell(r.rfc ?? 'none')} |`,
    `| Owner | ${cell(r.owner ?? 'n/a')} |`,
    `| Approvals | ${r.approvals.length ? r.approvals.map((a) => `${cell(a.actor)} (${cell(a.at)})`).join(', ') : 'none'} |`,
    `| Risk | ${r.policy ? cell(`${r.policy.risk.level} — ${r.policy.risk.factors.join('; ')}`) : 'n/a'} |`,
    `| Rollback plan | ${cell(r.rollbackPlan ?? 'n/a')} |`,
    `| Strategy | ${cell(`${r.strategy}, waves ${r.options.waves.join(', ')}, soak ${ms(r.options.soakMs)}, max failures ${r.options.maxFailures}, on failure ${r.options.onFailure}`)} |`,
    `| Target | ${cell(r.target)} |`,
    `| Started by | ${cell(r.actor)} |`,
    `| Outcome | **${cell(r.state)}**${r.reason ? ` — ${cell(r.reason)}` : ''} |`,
    `| Started / ended | ${cell(r.startedAt ?? 'n/a')} / ${cell(r.endedAt ?? 'n/a')} (${ms(r.durationMs)}) |`,
    `| Hosts | ${cell(Object.entries(r.totals).map(([k, n]) => `${n} ${k}`).join(', ')) || 'none'} |`,
    `| Install time | p50 ${ms(r.installTimeMs.p50)}, p95 ${ms(r.installTimeMs.p95)}, max ${ms(r.installTimeMs.max)} over ${r.installTimeMs.count} hosts |`,
    '',
    '## Change control',
    '',
    ...policyLines(r),
    '',
    ...(r.testedOnCopies.length
      ? [
          '## Tested on copies of production',
          '',
          ...r.testedOnCopies.map((c) => `- ${md(c.hostname)} (${md(c.agent)}) was a copy of production host ${md(c.copyOf.hostname)} (${md(c.copyOf.agent)}), made by ${md(c.cloneRollout)} at ${md(c.copiedAt)}`),
          '',
        ]
      : []),
    '## Early life support',
    '',
    ...(r.earlyLife.soakMs > 0
      ? [
          `Each wave was health-watched for ${ms(r.earlyLife.soakMs)} after install: ${r.earlyLife.stayedHealthy} of ${r.earlyLife.watched} host(s) stayed healthy.`,
          ...r.earlyLife.failedDuringSoak.map((f) => `- ${md(f.hostname)} (${md(f.agent)}), wave ${f.wave + 1}: ${md(f.error ?? 'failed its health check')}`),
        ]
      : ['No soak period: hosts were not health-watched after install.']),
    '',
    '## Waves',
    '',
    '| Wave | State | Hosts | Succeeded | Failed | Started | Ended |',
    '|---|---|---|---|---|---|---|',
    ...r.waves.map((w) => `| ${w.index + 1} | ${cell(w.state)} | ${w.hosts} | ${w.succeeded} | ${w.failed} | ${cell(w.startedAt ?? '')} | ${cell(w.endedAt ?? '')} |`),
    '',
    '## Timeline',
    '',
    ...r.timeline.map((e) => `- ${md(e.at)} — **${md(e.action)}** by ${md(e.actor)}${e.detail ? `: ${md(e.detail)}` : ''}`),
    '',
    '## Failures',
    '',
    ...(r.failures.length ? r.failures.map((f) => `- ${md(f.hostname)} (${md(f.agent)}), wave ${f.wave + 1}: ${md(f.state)} — ${md(f.error ?? 'no detail')}`) : ['None.']),
    '',
    '## Rollbacks',
    '',
    ...(r.rollbacks.length ? r.rollbacks.map((f) => `- ${md(f.hostname)} (${md(f.agent)}): ${md(f.state)}${f.error ? ` — ${md(f.error)}` : ''}`) : ['None.']),
    '',
    '## Hosts that did not converge',
    '',
    ...(r.notConverged.length ? r.notConverged.map((f) => `- ${md(f.hostname)} (${md(f.agent)}): ${md(f.state)}${f.reason ? ` — ${md(f.reason)}` : ''}`) : ['None: every targeted host ended on the release.']),
    '',
  ];
  return lines.join('\n');
}

function policyLines(r: RolloutReview): string[] {
  const p = r.policy;
  if (!p) return ['No policy record (rollout started before policies were recorded).'];
  const envs = md(p.environments.map((e) => e || '(no env tag)').join(', ') || 'none');
  return [
    `- Environments reached: ${envs}`,
    ...p.evidence.map((e) => `- Evidence: completed on ${md(e.environment)} in rollout ${md(e.rollout)}`),
    ...(p.violations.length === 0 ? ['- Policy: every requirement was met'] : p.violations.map((x) => `- Policy not met: ${md(x)}`)),
    ...(p.override ? [`- **Policy overridden** by ${md(p.override.actor)} at ${md(p.override.at)}: ${md(p.override.reason)}`] : []),
  ];
}
