import { describe, expect, it } from 'vitest';
import { statusLines } from '../cli/render/rollout.js';
import { buildFleetStatus, nextEvent } from './fleet-status.js';
import type { CmdbStore } from '../cmdb/store.js';

type Status = Parameters<typeof nextEvent>[0];
type Wave = Status['waves'][number];

// Sunday 2026-12-06 02:00 UTC.
const NOW = Date.parse('2026-12-06T02:00:00.000Z');

function wave(index: number, state: string, extra: Partial<Wave> = {}): Wave {
  return { index, state, hosts: 1, succeeded: state === 'completed' ? 1 : 0, failed: 0, pending: state === 'completed' ? 0 : 1, ...extra };
}

function status(state: string, waves: Wave[], options: Partial<Status['options']> = {}): Status {
  return {
    id: 'r-test',
    release: 'rel-1',
    strategy: 'phased',
    target: 'all',
    state,
    counts: { pending: 1 },
    options: { soakMs: 0, maxFailures: '0', onFailure: 'halt', hostTimeoutMs: 60_000, ...options },
    waves,
    hosts: [],
  } as unknown as Status;
}

describe('ferry status: a rollout\'s next event', () => {
  it('a soaking wave names the wave after it (as people count waves: from 1)', () => {
    const soakUntil = new Date(NOW + 60_000).toISOString();
    const s = status('running', [wave(0, 'soaking', { soakUntil }), wave(1, 'pending'), wave(2, 'pending')]);
    expect(nextEvent(s, NOW)).toEqual({ event: 'wave 2 starts after the soak', at: soakUntil });
    const last = status('running', [wave(0, 'completed'), wave(1, 'soaking', { soakUntil })]);
    expect(nextEvent(last, NOW)).toEqual({ event: 'completes after the soak', at: soakUntil });
  });

  it('a rollout waiting for its --window says when the window opens', () => {
    const s = status('waiting', [wave(0, 'pending')], { window: 'Sat 10:00-12:00' });
    expect(nextEvent(s, NOW)).toEqual({ event: 'wave 1 starts when the window "Sat 10:00-12:00" opens', at: '2026-12-12T10:00:00.000Z' });
    // In the window's own time zone.
    const paris = status('waiting', [wave(0, 'pending')], { window: 'Sat 10:00-12:00', timeZone: 'Europe/Paris' });
    expect(nextEvent(paris, NOW)?.at).toBe('2026-12-12T09:00:00.000Z');
  });

  it('a later wave waiting for the window is named, not wave 1', () => {
    const s = status('waiting', [wave(0, 'completed'), wave(1, 'pending'), wave(2, 'pending')], { window: 'Sat 10:00-12:00' });
    expect(nextEvent(s, NOW)?.event).toBe('wave 2 starts when the window "Sat 10:00-12:00" opens');
  });

  it('--start-at and --window together: the first opening after the start time', () => {
    const startAt = Date.parse('2026-12-12T11:30:00.000Z'); // inside Saturday's window
    expect(nextEvent(status('waiting', [wave(0, 'pending')], { window: 'Sat 10:00-12:00', startAt }), NOW)?.at).toBe('2026-12-12T11:30:00.000Z');
    const late = Date.parse('2026-12-12T13:00:00.000Z'); // after it: the next Saturday
    expect(nextEvent(status('waiting', [wave(0, 'pending')], { window: 'Sat 10:00-12:00', startAt: late }), NOW)?.at).toBe('2026-12-19T10:00:00.000Z');
    const plain = Date.parse('2026-12-06T04:00:00.000Z');
    expect(nextEvent(status('waiting', [wave(0, 'pending')], { startAt: plain }), NOW)).toEqual({ event: 'wave 1 starts', at: '2026-12-06T04:00:00.000Z' });
  });

  it('rollout status shows the window\'s opening as a countdown', () => {
    const s = status('waiting', [wave(0, 'pending')], { window: 'Sat 10:00-12:00' });
    const lines = statusLines({ ...s, reason: 'outside the window' } as never, NOW);
    expect(lines).toContain('  waiting for the window "Sat 10:00-12:00" (UTC): opens in 6d8h (2026-12-12T10:00:00.000Z)');
  });
});

describe('ferry status: which rollouts are listed', () => {
  // Rollouts as the store has them; a halted one (--on-failure halt) has ended, yet waits for an operator.
  const rows = [
    { id: 'r-run', state: 'running', endedAt: null },
    { id: 'r-halt', state: 'halted', endedAt: '2026-12-06T01:00:00.000Z' },
    { id: 'r-taken', state: 'halted', endedAt: '2026-12-06T01:10:00.000Z' },
    { id: 'r-back', state: 'rolled-back', endedAt: '2026-12-06T01:20:00.000Z' },
    { id: 'r-over', state: 'aborted', endedAt: '2026-12-06T01:30:00.000Z' },
    { id: 'r-done', state: 'completed', endedAt: '2026-12-06T01:40:00.000Z' },
  ];
  const rollouts = {
    list: () => rows.map((r) => ({ id: r.id, release: 'rel-1', operation: 'install' as const, strategy: 'phased', state: r.state, target: 'all', createdAt: '2026-12-06T00:00:00.000Z', hosts: 2 })),
    status: (id?: string) => {
      const r = rows.find((x) => x.id === id)!;
      return { ...status(r.state, [wave(0, r.state === 'halted' ? 'failed' : 'running')]), id: r.id, ...(r.endedAt ? { endedAt: r.endedAt } : {}), counts: { failed: 1, succeeded: 1 } };
    },
    wasSuperseded: (id: string) => id === 'r-taken',
  } as unknown as Parameters<typeof buildFleetStatus>[0]['rollouts'];
  const cmdb = { listAgents: () => [] } as unknown as CmdbStore;

  it('keeps a halted rollout (it has ended, but needs retry or rollback) unless a newer one superseded it', () => {
    const listed = buildFleetStatus({ cmdb, rollouts, isOnline: () => true }).rollouts;
    expect(listed.map((r) => [r.id, r.state])).toEqual([
      ['r-run', 'running'],
      ['r-halt', 'halted'],
    ]);
    expect(listed[1]!.next).toEqual({ event: 'halted: retry or rollback (ferry rollout retry r-halt | ferry rollout rollback r-halt)', at: null });
  });

  it('a halted rollout is never offered "resume", which the lifecycle does not allow', () => {
    const next = nextEvent(status('halted', [wave(0, 'failed')]), NOW);
    expect(next?.event).toMatch(/retry or rollback/);
    expect(next?.event).not.toMatch(/resume/);
  });
});
