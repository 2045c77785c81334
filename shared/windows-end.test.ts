import { describe, expect, it } from 'vitest';
import { nextWindowEnd, nextWindowStart, parseWindow } from './windows.js';

const d = (iso: string) => new Date(iso);
const end = (spec: string, from: string, tz = 'UTC') => nextWindowEnd(parseWindow(spec, tz), d(from))?.toISOString() ?? null;

// 2026-11-23 is a Monday, 2026-11-27 a Friday.
describe('nextWindowEnd', () => {
  it('closes a same-day range at its end time', () => {
    expect(end('Mon-Fri 09:00-17:00', '2026-11-23T10:30:00Z')).toBe('2026-11-23T17:00:00.000Z');
    expect(end('Mon-Fri 09:00-17:00', '2026-11-23T09:00:00Z')).toBe('2026-11-23T17:00:00.000Z');
    expect(end('Mon-Fri 09:00-17:00', '2026-11-23T16:59:00Z')).toBe('2026-11-23T17:00:00.000Z');
  });

  it('closes a range that crosses midnight on the next day', () => {
    expect(end('Fri 22:00-02:00', '2026-11-27T23:00:00Z')).toBe('2026-11-28T02:00:00.000Z');
    expect(end('Fri 22:00-02:00', '2026-11-28T01:00:00Z')).toBe('2026-11-28T02:00:00.000Z');
  });

  it('follows a window across adjacent clauses', () => {
    expect(end('Mon 22:00-24:00; Tue 00:00-03:00', '2026-11-23T23:00:00Z')).toBe('2026-11-24T03:00:00.000Z');
  });

  it('returns `from` itself when the window is closed then', () => {
    expect(end('Mon-Fri 09:00-17:00', '2026-11-23T18:00:30.250Z')).toBe('2026-11-23T18:00:30.250Z');
    expect(end('Mon-Fri 09:00-17:00', '2026-11-23T08:59:30Z')).toBe('2026-11-23T08:59:30.000Z');
    expect(end('Mon-Fri 09:00-17:00', '2026-11-23T18:00:00.000Z')).toBe('2026-11-23T18:00:00.000Z');
    // the end minute itself is outside the window
    expect(end('Mon-Fri 09:00-17:00', '2026-11-23T17:00:00Z')).toBe('2026-11-23T17:00:00.000Z');
    // Saturday: closed all day
    expect(end('Mon-Fri 09:00-17:00', '2026-11-28T12:00:00Z')).toBe('2026-11-28T12:00:00.000Z');
  });

  it('rounds an open `from` up to the minute and still finds the close', () => {
    expect(end('Mon-Fri 09:00-17:00', '2026-11-23T16:59:30Z')).toBe('2026-11-23T17:00:00.000Z');
    expect(end('Mon-Fri 09:00-17:00', '2026-11-23T12:00:00.001Z')).toBe('2026-11-23T17:00:00.000Z');
  });

  it('is null for an always-open window', () => {
    // (scans 8 days minute by minute, so one case only)
    expect(end('* 00:00-24:00', '2026-11-23T10:00:00Z', 'Europe/London')).toBeNull();
  });

  it('is null for an invalid date', () => {
    expect(nextWindowEnd(parseWindow('* 09:00-17:00'), new Date(NaN))).toBeNull();
  });

  it('uses the local time of the window’s zone', () => {
    // 22:00-23:00 London in summer (BST, UTC+1) is 21:00-22:00 UTC
    expect(end('* 22:00-23:00', '2026-07-01T21:10:00Z', 'Europe/London')).toBe('2026-07-01T22:00:00.000Z');
  });

  it('counts the repeated hour when the clocks go back (Europe/London, last Sunday of October)', () => {
    // 2026-10-25: 02:00 BST becomes 01:00 GMT. Sun 00:30-02:30 local is 23:30Z (Sat) to 02:30Z,
    // three real hours; adding the 2-hour wall-clock length to the start would give 01:30Z.
    expect(end('Sun 00:30-02:30', '2026-10-24T23:45:00Z', 'Europe/London')).toBe('2026-10-25T02:30:00.000Z');
    // during the second 01:xx (GMT) the window is still open
    expect(end('Sun 00:30-02:30', '2026-10-25T01:15:00Z', 'Europe/London')).toBe('2026-10-25T02:30:00.000Z');
  });

  it('closes at the jump when the clocks go forward past the end (Europe/London, last Sunday of March)', () => {
    // 2026-03-29: 01:00 GMT becomes 02:00 BST, so local 01:00-01:30 never happens.
    expect(end('Sun 00:00-01:30', '2026-03-29T00:15:00Z', 'Europe/London')).toBe('2026-03-29T01:00:00.000Z');
  });

  it('agrees with nextWindowStart: the window opens at its start and closes at its end', () => {
    const w = parseWindow('Mon-Fri 22:00-05:00', 'America/New_York');
    const opens = nextWindowStart(w, d('2026-11-23T12:00:00Z'))!; // Mon 07:00 EST
    expect(opens.toISOString()).toBe('2026-11-24T03:00:00.000Z'); // Mon 22:00 EST
    expect(nextWindowEnd(w, opens)?.toISOString()).toBe('2026-11-24T10:00:00.000Z'); // Tue 05:00 EST
  });
});
