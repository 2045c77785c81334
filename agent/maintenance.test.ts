import { describe, expect, it } from 'vitest';
import { holdDecision, resolveMaintenance } from './maintenance.js';

// 2030-01-07 is a Monday.
const at = (iso: string) => Date.parse(iso);

describe('holdDecision', () => {
  const m = { window: 'Mon-Fri 12:00-13:00', timeZone: 'UTC' };

  it('lets an install run inside the window', () => {
    expect(holdDecision(m, at('2030-01-07T12:30:00Z'), at('2030-01-07T12:30:00Z'))).toEqual({ hold: false, why: 'open' });
  });

  it('holds outside the window until it opens, and says when', () => {
    const d = holdDecision(m, at('2030-01-07T09:00:00Z'), at('2030-01-07T09:00:00Z'));
    expect(d).toEqual({ hold: true, until: at('2030-01-07T12:00:00Z'), reason: expect.stringContaining('opens at 2030-01-07T12:00:00.000Z') });
  });

  it('a deadline before the opening is when it looks again; once passed, the install runs', () => {
    const dm = { ...m, deadlineMs: 3_600_000 };
    const arrived = at('2030-01-07T09:00:00Z');
    const d = holdDecision(dm, at('2030-01-07T09:30:00Z'), arrived);
    expect(d).toMatchObject({ hold: true, until: at('2030-01-07T10:00:00Z') });
    expect((d as { reason: string }).reason).toContain('deadline 2030-01-07T10:00:00.000Z');
    expect(holdDecision(dm, at('2030-01-07T10:00:00Z'), arrived)).toEqual({ hold: false, why: 'deadline' });
  });

  it('honours the window time zone', () => {
    const berlin = { window: '12:00-13:00', timeZone: 'Europe/Berlin' };
    expect(holdDecision(berlin, at('2030-01-07T11:30:00Z'), 0)).toEqual({ hold: false, why: 'open' }); // 12:30 in Berlin
    expect(holdDecision(berlin, at('2030-01-07T12:30:00Z'), 0)).toMatchObject({ hold: true });
  });
});

describe('resolveMaintenance', () => {
  const stored = { window: 'Sat 00:00-06:00', timeZone: 'UTC', deadlineMs: 60_000 };

  it('flags beat the environment, which beats the stored settings', () => {
    expect(resolveMaintenance({}, stored, {})).toEqual(stored);
    expect(resolveMaintenance({}, stored, { FERRY_WINDOW: 'Sun', FERRY_DEADLINE: '2h' })).toEqual({ window: 'Sun', timeZone: 'UTC', deadlineMs: 7_200_000 });
    expect(resolveMaintenance({ window: 'Mon 01:00-02:00', timezone: 'Europe/Paris' }, stored, { FERRY_WINDOW: 'Sun' })).toEqual({ window: 'Mon 01:00-02:00', timeZone: 'Europe/Paris', deadlineMs: 60_000 });
  });

  it('"none" turns a stored window off; nothing set means no window', () => {
    expect(resolveMaintenance({ window: 'none' }, stored, {})).toBeUndefined();
    expect(resolveMaintenance({}, undefined, {})).toBeUndefined();
  });

  it('refuses a bad window, a bad time zone, a bad deadline, and a deadline without a window', () => {
    expect(() => resolveMaintenance({ window: 'Funday 25:00-26:00' }, undefined, {})).toThrow(expect.objectContaining({ code: 'FERRY_INVALID_INPUT' }));
    expect(() => resolveMaintenance({ window: 'Mon', timezone: 'Mars/Base' }, undefined, {})).toThrow(expect.objectContaining({ code: 'FERRY_INVALID_INPUT' }));
    expect(() => resolveMaintenance({ window: 'Mon', deadline: 'soon' }, undefined, {})).toThrow(expect.objectContaining({ code: 'FERRY_INVALID_INPUT' }));
    expect(() => resolveMaintenance({ deadline: '1h' }, undefined, {})).toThrow(expect.objectContaining({ code: 'FERRY_USAGE' }));
  });
});
