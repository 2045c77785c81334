import { describe, expect, it } from 'vitest';
import { assessRisk, type RiskLevel } from './risk.js';

/** History that contributes 0 points (rate 0). */
const clean = { finished: 100, failed: 0 };

describe('assessRisk: reach points', () => {
  const none = { finished: 0, failed: 0 }; // 1 point
  const rate10 = { finished: 10, failed: 1 }; // 10% → 2 points

  it('up to and including 10% is 0 points', () => {
    expect(assessRisk({ fleetShare: 0, history: none }).computed).toBe('low'); // 0 + 1
    expect(assessRisk({ fleetShare: 0.1, history: none }).computed).toBe('low'); // 0 + 1
    expect(assessRisk({ fleetShare: 0.1000001, history: none }).computed).toBe('medium'); // 1 + 1
  });

  it('up to and including 50% is 1 point', () => {
    expect(assessRisk({ fleetShare: 0.5, history: clean }).computed).toBe('low'); // 1 + 0
    expect(assessRisk({ fleetShare: 0.5, history: rate10 }).computed).toBe('medium'); // 1 + 2
  });

  it('more than 50% is 2 points', () => {
    expect(assessRisk({ fleetShare: 0.5000001, history: clean }).computed).toBe('medium'); // 2 + 0
    expect(assessRisk({ fleetShare: 0.5000001, history: rate10 }).computed).toBe('high'); // 2 + 2
    expect(assessRisk({ fleetShare: 1, history: rate10 }).computed).toBe('high');
  });

  it('clamps shares outside 0..1', () => {
    expect(assessRisk({ fleetShare: -3, history: clean }).factors[0]).toBe('targets 0.0% of the fleet');
    const over = assessRisk({ fleetShare: 7, history: { finished: 10, failed: 1 } });
    expect(over.computed).toBe('high');
    expect(over.factors[0]).toBe('targets 100% of the fleet');
  });
});

describe('assessRisk: history points', () => {
  // With reach 0 (share ≤ 10%), points = history points: 0–1 low, 2–3 medium.
  // With reach 2 (share 100%), points = 2 + history: 2–3 medium, 4+ high. Together they pin each value.
  const at = (share: number, finished: number, failed: number) => assessRisk({ fleetShare: share, history: { finished, failed } }).computed;

  it('no history is 1 point', () => {
    expect(at(0.5, 0, 0)).toBe('medium'); // 1 + 1
    expect(at(0.05, 0, 0)).toBe('low'); // 0 + 1
  });

  it('a 0% failure rate is 0 points', () => {
    expect(at(0.5, 20, 0)).toBe('low'); // 1 + 0
  });

  it('a rate under 5% is 1 point', () => {
    expect(at(0.5, 1000, 49)).toBe('medium'); // 1 + 1 (4.9%)
    expect(at(0.05, 1000, 49)).toBe('low'); // 0 + 1
  });

  it('exactly 5% is 2 points', () => {
    expect(at(0.05, 20, 1)).toBe('medium'); // 0 + 2
    expect(at(0.5, 20, 1)).toBe('medium'); // 1 + 2
    expect(at(1, 20, 1)).toBe('high'); // 2 + 2
  });

  it('a rate under 20% is 2 points', () => {
    expect(at(0.05, 1000, 199)).toBe('medium'); // 0 + 2
    expect(at(0.5, 1000, 199)).toBe('medium'); // 1 + 2 = 3
  });

  it('20% or more is 3 points', () => {
    expect(at(0.05, 5, 1)).toBe('medium'); // 0 + 3 (exactly 20%)
    expect(at(0.5, 5, 1)).toBe('high'); // 1 + 3 = 4
    expect(at(0.5, 1000, 200)).toBe('high');
    expect(at(0.5, 4, 4)).toBe('high');
  });
});

describe('assessRisk: levels, override and factors', () => {
  it('maps points to levels: 0–1 low, 2–3 medium, 4+ high', () => {
    const level = (share: number, finished: number, failed: number) => assessRisk({ fleetShare: share, history: { finished, failed } }).level;
    expect(level(0.05, 10, 0)).toBe('low'); // 0
    expect(level(0.05, 100, 1)).toBe('low'); // 1
    expect(level(0.3, 100, 1)).toBe('medium'); // 2
    expect(level(0.3, 10, 1)).toBe('medium'); // 3
    expect(level(0.9, 10, 1)).toBe('high'); // 4
    expect(level(0.9, 10, 5)).toBe('high'); // 5
  });

  it('without an override, level equals computed and override is null', () => {
    const r = assessRisk({ fleetShare: 0.9, history: { finished: 10, failed: 5 } });
    expect(r).toMatchObject({ level: 'high', computed: 'high', override: null });
    expect(assessRisk({ fleetShare: 0.9, history: clean }, null).override).toBeNull();
  });

  it('an override replaces the level but keeps the computed one', () => {
    const r = assessRisk({ fleetShare: 0.9, history: { finished: 10, failed: 5 } }, 'low');
    expect(r.level).toBe('low');
    expect(r.computed).toBe('high');
    expect(r.override).toBe('low');
    expect(r.factors).toContain('set to low by the release owner');
  });

  it.each(['low', 'medium', 'high'] as RiskLevel[])('override %s is taken as given', (o) => {
    const r = assessRisk({ fleetShare: 0, history: clean }, o);
    expect(r.level).toBe(o);
    expect(r.computed).toBe('low');
  });

  it('explains the reach and history in the factors', () => {
    expect(assessRisk({ fleetShare: 0.05, history: { finished: 0, failed: 0 } }).factors).toEqual([
      'targets 5.0% of the fleet',
      'no earlier rollouts of these packages',
    ]);
    expect(assessRisk({ fleetShare: 0.25, history: { finished: 40, failed: 3 } }).factors).toEqual([
      'targets 25% of the fleet',
      '3 of 40 earlier installs of these packages failed (7.5%)',
    ]);
  });
});
