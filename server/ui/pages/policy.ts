// The policy verdict a rollout's start recorded: whether it passed, or which violations an
// operator overrode (who, when, why); the environments checked, the evidence that satisfied a
// "completed in" rule, approvals that did not count, and the risk with its factors. Shown on the
// rollout page and in the printable review.
import type { RolloutPolicyRecordDoc } from '../../../shared/protocol/replies.js';
import { badge, html, type Html } from './html.js';

export function policyVerdict(policy: RolloutPolicyRecordDoc | null): Html {
  const heading = html`<h2 id="policy">Policy verdict</h2>`;
  if (!policy) return html`<section aria-labelledby="policy" id="policy-verdict">${heading}<p class="muted">No policy check was recorded for this rollout.</p></section>`;
  const { violations, override, risk } = policy;
  const verdict = violations.length === 0
    ? html`<span class="badge s-ok">passed</span> no violations`
    : override
      ? html`<span class="badge s-medium">overridden</span> ${violations.length} violation(s), overridden by ${override.actor} at <time datetime="${override.at}">${override.at}</time>: ${override.reason}`
      : html`<span class="badge s-failed">violated</span> ${violations.length} violation(s)`;
  return html`<section aria-labelledby="policy" id="policy-verdict">${heading}
<p class="verdict">${verdict}</p>
${violations.length ? html`<ul class="violations">${violations.map((v) => html`<li>${v}</li>`)}</ul>` : ''}
<dl class="facts">
  <div><dt>Risk</dt><dd>${badge(risk.level)}${risk.override ? html` (computed ${risk.computed}, set to ${risk.override})` : ''}${risk.factors.length ? html` — ${risk.factors.join('; ')}` : ''}</dd></div>
  <div><dt>Environments</dt><dd>${policy.environments.length ? policy.environments.map((e) => (e ? e : '(no environment tag)')).join(', ') : '—'}</dd></div>
  <div><dt>Hosts</dt><dd>${policy.targets} of ${policy.fleet} in the fleet</dd></div>
  ${policy.evidence.length ? html`<div><dt>Evidence</dt><dd>${policy.evidence.map((e, i) => html`${i ? ', ' : ''}completed in ${e.environment} by <a href="/rollouts/${encodeURIComponent(e.rollout)}">${e.rollout}</a>`)}</dd></div>` : ''}
  ${policy.uncountedApprovals?.length ? html`<div><dt>Approvals not counted</dt><dd>${policy.uncountedApprovals.map((u) => `${u.by} — ${u.reason}`).join('; ')}</dd></div>` : ''}
</dl></section>`;
}
