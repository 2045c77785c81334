// The risk level of a release or rollout, from two facts an operator can check: how much of the
// fleet it touches, and how often these packages failed before. Pure, so the rule is unit-tested.

export const RISK_LEVELS = ['low', 'medium', 'high'] as const;
export type RiskLevel = (typeof RISK_LEVELS)[number];

export interface RiskInput {
  /** targeted hosts / all hosts, 0..1 */
  fleetShare: number;
  /**
   * hosts where the package failed (install, health check, soak) / hosts that finished, over earlier
   * rollouts of these packages; fleet rollbacks and agent refusals are not failures (releases/store.ts)
   */
  history: { finished: number; failed: number };
}

export interface RiskAssessment {
  level: RiskLevel;
  /** the computed level, also when an override replaced it */
  computed: RiskLevel;
  override: RiskLevel | null;
  factors: string[];
}

/**
 * Points for reach (≤10% of the fleet 0, ≤50% 1, more 2) plus points for history (no history 1,
 * failure rate 0% 0, <5% 1, <20% 2, more 3): 0–1 low, 2–3 medium, 4+ high.
 */
export function assessRisk(input: RiskInput, override?: RiskLevel | null): RiskAssessment {
  const share = Math.max(0, Math.min(1, input.fleetShare));
  const reach = share <= 0.1 ? 0 : share <= 0.5 ? 1 : 2;
  const { finished, failed } = input.history;
  const rate = finished > 0 ? failed / finished : null;
  const record = rate === null ? 1 : rate === 0 ? 0 : rate < 0.05 ? 1 : rate < 0.2 ? 2 : 3;
  const points = reach + record;
  const computed: RiskLevel = points <= 1 ? 'low' : points <= 3 ? 'medium' : 'high';
  const factors = [
    `targets ${(share * 100).toFixed(share < 0.1 ? 1 : 0)}% of the fleet`,
    rate === null ? 'no earlier rollouts of these packages' : `${failed} of ${finished} earlier installs of these packages failed (${(rate * 100).toFixed(1)}%)`,
  ];
  if (override) factors.push(`set to ${override} by the release owner`);
  return { level: override ?? computed, computed, override: override ?? null, factors };
}
