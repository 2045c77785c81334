import { describe, expect, it } from 'vitest';
import { statusLines } from '../cli/render/rollout.js';
import { buildFleetStatus, isFailing, nextEvent } from './fleet-status.js';
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

  it('a paused rollout says so, in a soak and after it (nothing starts until it is resumed)', () => {
    const inSoak = new Date(NOW + 17_000).toISOString();
    const over = new Date(NOW - 6_000).toISOString();
    for (const soakUntil of [inSoak, over]) {
      const s = status('paused', [wave(0, 'soaking', { soakUntil }), wave(1, 'pending')]);
      expect(nextEvent(s, NOW)).toEqual({ event: 'paused — ferry rollout resume r-test', at: null });
    }
    const running = statusLines(status('paused', [wave(0, 'soaking', { soakUntil: inSoak }), wave(1, 'pending')]) as never, NOW);
    expect(running.find((l) => l.startsWith('  wave 1'))).toMatch(/soak ends in 17s \(.*\) — paused$/);
    expect(running).toContain('  paused: no wave starts until: ferry rollout resume r-test');
    const ended = statusLines(status('paused', [wave(0, 'soaking', { soakUntil: over }), wave(1, 'pending')]) as never, NOW);
    expect(ended.find((l) => l.startsWith('  wave 1'))).toMatch(/ {2}soak over — paused$/);
    expect(ended.join('\n')).not.toMatch(/ago/);
    // A running rollout whose soak just ran out (the engine moves on at its next tick): no "ago" either.
    const due = statusLines(status('running', [wave(0, 'soaking', { soakUntil: over }), wave(1, 'pending')]) as never, NOW);
    expect(due.find((l) => l.startsWith('  wave 1'))).toMatch(/ {2}soak over$/);
  });

  it('a rolling-back rollout waits for its hosts, whatever its waves were doing', () => {
    const s = status('rolling-back', [wave(0, 'completed'), wave(1, 'soaking', { soakUntil: new Date(NOW + 60_000).toISOString() })]);
    expect(nextEvent(s, NOW)).toEqual({ event: 'rolling back: waits for the hosts sent back to report', at: null });
  });

  it('rollout status lists as failing the hosts that failed, not those the fleet rollback sent back', () => {
    const s = {
      ...status('rolled-back', [{ ...wave(0, 'completed'), hosts: 2, succeeded: 0, failed: 1, pending: 0 }]),
      hosts: [
        { agent: 'web-1-a', hostname: 'web-1', wave: 0, state: 'rolled-back', cause: 'fleet-rollback' },
        { agent: 'web-2-b', hostname: 'web-2', wave: 0, state: 'rolled-back', error: 'health: down' },
      ],
    };
    const lines = statusLines(s as never, NOW);
    expect(lines.slice(lines.indexOf('Failing hosts (1):'))).toEqual(['Failing hosts (1):', '  web-2: health: down']);
    expect(lines.find((l) => l.startsWith('  wave 1'))).toMatch(/ {2}1 sent back by the fleet rollback$/);
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

describe('ferry status: which hosts are failing', () => {
  const rolledBack = new Set(['r-back']);
  const entry = (operation: string | null, result: string) => ({ operation, result });

  it('an install that failed, or that the agent undid itself (a hook or its health check failed), is failing', () => {
    expect(isFailing(entry('r-live', 'failed'), rolledBack)).toBe(true);
    expect(isFailing(entry('r-live', 'rolled-back'), rolledBack)).toBe(true);
    expect(isFailing(entry('watch-1700000000000', 'rolled-back'), rolledBack)).toBe(true);
    expect(isFailing(entry('r-live', 'succeeded'), rolledBack)).toBe(false);
  });

  it('a rollback asked for (fleet rollback, ferry-agent rollback) is not a failure of the host unless it failed', () => {
    expect(isFailing(entry('r-live:rollback', 'succeeded'), rolledBack)).toBe(false);
    expect(isFailing(entry('r-live:rollback', 'rolled-back'), rolledBack)).toBe(false);
    expect(isFailing(entry('local-rollback-1700000000000', 'rolled-back'), rolledBack)).toBe(false);
    expect(isFailing(entry('r-back:rollback', 'failed'), rolledBack)).toBe(true);
    expect(isFailing(entry('local-rollback-1700000000000', 'failed'), rolledBack)).toBe(true);
  });

  it('a failure in a rollout since rolled back as a whole is no longer failing', () => {
    expect(isFailing(entry('r-back', 'rolled-back'), rolledBack)).toBe(false);
    expect(isFailing(entry('r-back', 'failed'), rolledBack)).toBe(false);
  });
});
