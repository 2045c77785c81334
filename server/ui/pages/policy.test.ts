import { describe, expect, it } from 'vitest';
import type { RolloutPolicyRecordDoc } from '../../../shared/protocol/replies.js';
import { policyVerdict } from './policy.js';

const passed: RolloutPolicyRecordDoc = {
  environments: ['staging'],
  violations: [],
  evidence: [{ environment: 'test', rollout: 'r-0' }],
  uncountedApprovals: [{ by: 'ada', reason: 'the release owner' }],
  override: null,
  risk: { level: 'low', computed: 'low', override: null, factors: ['1 package', '10% of the fleet'] },
  targets: 3,
  fleet: 30,
};

const text = (p: RolloutPolicyRecordDoc | null) => policyVerdict(p).text.replace(/\s+/g, ' ');

describe('policy verdict', () => {
  it('a passed check: no violations, the risk and its factors, environments, hosts, evidence and uncounted approvals', () => {
    const t = text(passed);
    expect(t).toContain('<span class="badge s-ok">passed</span> no violations');
    expect(t).not.toContain('<ul class="violations">');
    expect(t).toContain('<dt>Risk</dt><dd><span class="badge s-low">low</span> — 1 package; 10% of the fleet</dd>');
    expect(t).toContain('<dt>Environments</dt><dd>staging</dd>');
    expect(t).toContain('<dt>Hosts</dt><dd>3 of 30 in the fleet</dd>');
    expect(t).toContain('completed in test by <a href="/rollouts/r-0">r-0</a>');
    expect(t).toContain('<dt>Approvals not counted</dt><dd>ada — the release owner</dd>');
  });

  it('an overridden check: each violation, who overrode it, when and why (escaped), and a risk set by hand', () => {
    const t = text({
      ...passed,
      environments: ['', 'prod'],
      violations: ['env=prod needs 2 approval(s) of release web, it has 1', 'env=prod needs authorized packages: web@1.0.0 is tested'],
      evidence: [],
      uncountedApprovals: [],
      override: { actor: 'ada', reason: 'hotfix <CHG-7> & "urgent"', at: '2026-12-05T10:00:00.000Z' },
      risk: { level: 'high', computed: 'medium', override: 'high', factors: [] },
    });
    expect(t).toContain('<span class="badge s-medium">overridden</span> 2 violation(s), overridden by ada at <time datetime="2026-12-05T10:00:00.000Z">2026-12-05T10:00:00.000Z</time>: hotfix &lt;CHG-7&gt; &amp; &quot;urgent&quot;');
    expect(t).toContain('<ul class="violations"><li>env=prod needs 2 approval(s) of release web, it has 1</li><li>env=prod needs authorized packages: web@1.0.0 is tested</li></ul>');
    expect(t).toContain('<dd><span class="badge s-high">high</span> (computed medium, set to high)</dd>');
    expect(t).toContain('<dd>(no environment tag), prod</dd>');
    expect(t).not.toContain('Evidence');
    expect(t).not.toContain('not counted');
  });

  it('says so when no check was recorded', () => {
    expect(text(null)).toContain('No policy check was recorded');
  });
});
