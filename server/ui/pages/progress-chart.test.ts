import { describe, expect, it } from 'vitest';
import { progressChart, progressSeries } from './progress-chart.js';

const start = '2026-12-05T10:00:00.000Z';
const at = (s: number) => new Date(Date.parse(start) + s * 1000).toISOString();

describe('hosts finished over time', () => {
  it('counts finished and failed hosts cumulatively in time order; skipped hosts are not in the total', () => {
    const s = progressSeries({
      startedAt: start,
      endedAt: at(100),
      hosts: [
        { state: 'succeeded', finishedAt: at(30) },
        { state: 'failed', finishedAt: at(10) },
        { state: 'rolled-back', finishedAt: at(50) },
        { state: 'sent' },
        { state: 'skipped', finishedAt: at(0) },
      ],
    })!;
    expect(s.total).toBe(4);
    expect(s.spanMs).toBe(100_000);
    expect(s.finished).toEqual([[10_000, 1], [30_000, 2], [50_000, 3]]);
    expect(s.failed).toEqual([[10_000, 1], [50_000, 2]]);
  });

  it('runs to now while the rollout has not ended, and is nothing before it started', () => {
    const now = Date.parse(start) + 60_000;
    expect(progressSeries({ startedAt: start, hosts: [{ state: 'sent' }] }, now)!.spanMs).toBe(60_000);
    expect(progressSeries({ hosts: [{ state: 'sent' }] })).toBeUndefined();
    expect(progressChart({ hosts: [] }).text).toBe('');
  });

  it('draws an accessible SVG that says the counts in words, with a failed line only when a host failed', () => {
    const ok = progressChart({ startedAt: start, endedAt: at(90), hosts: [{ state: 'succeeded', finishedAt: at(45) }, { state: 'succeeded', finishedAt: at(90) }] }).text;
    expect(ok).toContain('aria-label="2 of 2 hosts finished (0 failed) over 1m 30s"');
    expect(ok).toContain('class="line-finished" points="0,30 50.00,30.00 50.00,15.00 100.00,15.00 100.00,0.00 100,0.00"');
    expect(ok).not.toContain('line-failed');
    expect(ok).not.toContain('style=');
    const bad = progressChart({ startedAt: start, endedAt: at(10), hosts: [{ state: 'failed', finishedAt: at(5) }] }).text;
    expect(bad).toContain('line-failed');
  });
});
