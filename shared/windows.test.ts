import { describe, expect, it } from 'vitest';
import { FerryError } from './errors.js';
import { isInWindow, nextWindowStart, parseStartAt, parseWindow, type WindowSpec } from './windows.js';

const ALL = [0, 1, 2, 3, 4, 5, 6];
const d = (iso: string) => new Date(iso);

function expectInvalid(fn: () => unknown): FerryError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(FerryError);
  const fe = err as FerryError;
  expect(fe.code).toBe('FERRY_INVALID_INPUT');
  expect(fe.hint).toBeTruthy();
  expect(fe.toLine()).not.toContain('\n');
  return fe;
}

/** Reference implementation: scan minute by minute (slow, only for a few cross-checks). */
function bruteNext(w: WindowSpec, from: Date, maxDays = 9): Date | null {
  if (isInWindow(w, from)) return from;
  let t = Math.ceil(from.getTime() / 60_000) * 60_000;
  for (let i = 0; i < maxDays * 1440; i++, t += 60_000) if (isInWindow(w, new Date(t))) return new Date(t);
  return null;
}

describe('parseWindow', () => {
  it('parses days followed by a midnight-crossing time range', () => {
    expect(parseWindow('Mon-Fri 22:00-05:00')).toEqual({
      text: 'Mon-Fri 22:00-05:00',
      timeZone: 'UTC',
      clauses: [{ days: [1, 2, 3, 4, 5], start: 22 * 60, end: 5 * 60 }],
    });
  });

  it('parses a wrapping day range as whole days', () => {
    expect(parseWindow('Fri-Mon').clauses).toEqual([{ days: [0, 1, 5, 6], start: 0, end: 1440 }]);
  });

  it('parses a day list as whole days', () => {
    expect(parseWindow('Sat,Sun').clauses).toEqual([{ days: [0, 6], start: 0, end: 1440 }]);
  });

  it('parses a time range alone as every day', () => {
    expect(parseWindow('22:00-05:00').clauses).toEqual([{ days: ALL, start: 1320, end: 300 }]);
  });

  it.each(['* 01:00-03:00', 'daily 01:00-03:00', 'DAILY 1:00-3:00'])('%s is every day', (text) => {
    expect(parseWindow(text).clauses).toEqual([{ days: ALL, start: 60, end: 180 }]);
  });

  it('accepts * and daily alone as always', () => {
    expect(parseWindow('*').clauses).toEqual([{ days: ALL, start: 0, end: 1440 }]);
    expect(parseWindow('daily').clauses).toEqual([{ days: ALL, start: 0, end: 1440 }]);
  });

  it('is case-insensitive and tolerates spaces around - and ,', () => {
    const expected = [{ days: [1, 2, 3, 4, 5], start: 540, end: 1020 }];
    expect(parseWindow('MON-fri 09:00-17:00').clauses).toEqual(expected);
    expect(parseWindow('  mon - FRI   09:00 - 17:00 ').clauses).toEqual(expected);
    expect(parseWindow('Sat, Sun').clauses).toEqual([{ days: [0, 6], start: 0, end: 1440 }]);
  });

  it('accepts full day names, mixed lists and ranges, and de-duplicates days', () => {
    expect(parseWindow('Monday-Wednesday').clauses[0]!.days).toEqual([1, 2, 3]);
    expect(parseWindow('Mon,Wed-Fri,Thu').clauses[0]!.days).toEqual([1, 3, 4, 5]);
    expect(parseWindow('Sun-Sun').clauses[0]!.days).toEqual([0]);
    expect(parseWindow('Sat-Fri').clauses[0]!.days).toEqual(ALL);
  });

  it('parses several clauses separated by ;', () => {
    const w = parseWindow('Mon-Fri 22:00-05:00; Sat,Sun');
    expect(w.clauses).toEqual([
      { days: [1, 2, 3, 4, 5], start: 1320, end: 300 },
      { days: [0, 6], start: 0, end: 1440 },
    ]);
    expect(w.text).toBe('Mon-Fri 22:00-05:00; Sat,Sun');
  });

  it('accepts 24:00 as an end time', () => {
    expect(parseWindow('Fri 22:00-24:00').clauses).toEqual([{ days: [5], start: 1320, end: 1440 }]);
  });

  it('records and canonicalises the time zone', () => {
    expect(parseWindow('Sat', 'Europe/London').timeZone).toBe('Europe/London');
    expect(parseWindow('Sat', 'europe/london').timeZone).toBe('Europe/London');
    expect(parseWindow('Sat').timeZone).toBe('UTC');
  });

  it.each([
    'Mon-Fri 25:00-01:00',
    'Funday',
    'Mon-Funday',
    '10:00',
    '',
    '   ',
    ';',
    'Sat;',
    'Sat;;Sun',
    'Mon,,Tue',
    'Mon 22:00-05:00 extra',
    'Mon 22:00',
    'Mon 22:60-23:00',
    '24:00-01:00',
    '22:00-24:30',
    '22-23',
    'Mon-Fri 10:00-11:00-12:00',
    'weekdays',
  ])('rejects %j', (text) => {
    const err = expectInvalid(() => parseWindow(text));
    expect(err.message).toMatch(/^invalid window /);
  });

  it('names the offending part', () => {
    expect(expectInvalid(() => parseWindow('Mon-Fri 25:00-01:00')).message).toContain('25:00');
    expect(expectInvalid(() => parseWindow('Funday')).message).toContain('funday');
    expect(expectInvalid(() => parseWindow('10:00')).message).toContain('HH:MM-HH:MM');
  });

  it('keeps the message on one line for hostile input', () => {
    expectInvalid(() => parseWindow('Mon\n22:00-05:00\nrm -rf /'));
    expectInvalid(() => parseWindow('x'.repeat(10_000)));
  });

  it.each(['Mars/Olympus', 'Not_A_Zone', '', 'UTC+25'])('rejects the unknown time zone %j', (tz) => {
    const err = expectInvalid(() => parseWindow('Sat,Sun', tz));
    expect(err.message).toMatch(/time zone/);
  });
});

describe('isInWindow (UTC)', () => {
  // 2026-11-27 is a Friday, 2026-11-28 a Saturday.
  const fri = parseWindow('Fri 22:00-02:00');

  it.each([
    ['2026-11-27T21:59:59Z', false],
    ['2026-11-27T22:00:00Z', true],
    ['2026-11-27T23:30:00Z', true],
    ['2026-11-28T00:00:00Z', true],
    ['2026-11-28T01:00:00Z', true], // after midnight belongs to Friday's window
    ['2026-11-28T01:59:59Z', true],
    ['2026-11-28T02:00:00Z', false], // the end is exclusive
    ['2026-11-27T01:00:00Z', false], // Friday 01:00 belongs to Thursday, which is not listed
    ['2026-11-28T22:30:00Z', false], // Saturday evening is not listed
  ])('Fri 22:00-02:00 at %s -> %s', (at, inside) => {
    expect(isInWindow(fri, d(at))).toBe(inside);
  });

  it('Mon-Fri 22:00-05:00 covers Saturday early morning but not Monday early morning', () => {
    const w = parseWindow('Mon-Fri 22:00-05:00');
    expect(isInWindow(w, d('2026-11-28T04:59:00Z'))).toBe(true); // Sat, from Friday
    expect(isInWindow(w, d('2026-11-23T04:00:00Z'))).toBe(false); // Mon, Sunday not listed
    expect(isInWindow(w, d('2026-11-24T04:00:00Z'))).toBe(true); // Tue, from Monday
    expect(isInWindow(w, d('2026-11-24T12:00:00Z'))).toBe(false);
  });

  it('wraps across the end of the week', () => {
    const w = parseWindow('Sat 22:00-02:00');
    expect(isInWindow(w, d('2026-11-29T01:00:00Z'))).toBe(true); // Sunday
    expect(isInWindow(w, d('2026-11-22T01:00:00Z'))).toBe(true); // the Sunday before
    expect(isInWindow(w, d('2026-11-23T01:00:00Z'))).toBe(false); // Monday
  });

  it('whole days cover midnight to midnight', () => {
    const w = parseWindow('Sat,Sun');
    expect(isInWindow(w, d('2026-11-27T23:59:59Z'))).toBe(false); // Fri
    expect(isInWindow(w, d('2026-11-28T00:00:00Z'))).toBe(true); // Sat
    expect(isInWindow(w, d('2026-11-29T23:59:59Z'))).toBe(true); // Sun
    expect(isInWindow(w, d('2026-11-30T00:00:00Z'))).toBe(false); // Mon
  });

  it('a wrapping day range includes the days in between', () => {
    const w = parseWindow('Fri-Mon');
    expect(isInWindow(w, d('2026-11-29T12:00:00Z'))).toBe(true); // Sun
    expect(isInWindow(w, d('2026-11-30T12:00:00Z'))).toBe(true); // Mon
    expect(isInWindow(w, d('2026-12-01T12:00:00Z'))).toBe(false); // Tue
    expect(isInWindow(w, d('2026-11-26T12:00:00Z'))).toBe(false); // Thu
  });

  it('a time range alone applies every day', () => {
    const w = parseWindow('22:00-05:00');
    for (let day = 22; day <= 28; day++) {
      expect(isInWindow(w, d(`2026-11-${day}T23:00:00Z`))).toBe(true);
      expect(isInWindow(w, d(`2026-11-${day}T04:59:00Z`))).toBe(true);
      expect(isInWindow(w, d(`2026-11-${day}T12:00:00Z`))).toBe(false);
    }
  });

  it('a range with equal ends is a full 24 hours from its start', () => {
    const w = parseWindow('Mon 12:00-12:00');
    expect(isInWindow(w, d('2026-11-23T11:59:00Z'))).toBe(false);
    expect(isInWindow(w, d('2026-11-23T12:00:00Z'))).toBe(true);
    expect(isInWindow(w, d('2026-11-24T11:59:00Z'))).toBe(true);
    expect(isInWindow(w, d('2026-11-24T12:00:00Z'))).toBe(false);
  });

  it('any clause may match', () => {
    const w = parseWindow('Mon-Fri 22:00-05:00; Sat,Sun');
    expect(isInWindow(w, d('2026-11-29T12:00:00Z'))).toBe(true); // Sun noon
    expect(isInWindow(w, d('2026-11-30T03:00:00Z'))).toBe(false); // Mon 03:00: Sunday whole day ended at midnight
    expect(isInWindow(w, d('2026-11-30T23:00:00Z'))).toBe(true); // Mon 23:00
  });

  it('is false for an invalid date', () => {
    expect(isInWindow(parseWindow('*'), new Date(NaN))).toBe(false);
  });
});

describe('isInWindow (time zones)', () => {
  it('uses local time in Europe/London, winter (GMT) and summer (BST)', () => {
    const w = parseWindow('Mon-Fri 09:00-17:00', 'Europe/London');
    expect(isInWindow(w, d('2026-11-23T09:00:00Z'))).toBe(true); // 09:00 GMT
    expect(isInWindow(w, d('2026-11-23T08:59:00Z'))).toBe(false);
    expect(isInWindow(w, d('2026-07-06T08:00:00Z'))).toBe(true); // 09:00 BST
    expect(isInWindow(w, d('2026-07-06T07:59:00Z'))).toBe(false);
    expect(isInWindow(w, d('2026-07-06T16:00:00Z'))).toBe(false); // 17:00 BST
  });

  it('uses the local day of week (America/New_York, Saturday evening is Sunday in UTC)', () => {
    const w = parseWindow('Sat 20:00-23:00', 'America/New_York');
    expect(isInWindow(w, d('2026-11-29T02:00:00Z'))).toBe(true); // Sat 21:00 EST
    expect(isInWindow(parseWindow('Sat 20:00-23:00'), d('2026-11-29T02:00:00Z'))).toBe(false); // Sun 02:00 UTC
  });

  it('spring forward (2026-03-08, America/New_York): 01:00-03:00 lasts one real hour', () => {
    const w = parseWindow('daily 01:00-03:00', 'America/New_York');
    expect(isInWindow(w, d('2026-03-08T05:59:00Z'))).toBe(false); // 00:59 EST
    expect(isInWindow(w, d('2026-03-08T06:00:00Z'))).toBe(true); // 01:00 EST
    expect(isInWindow(w, d('2026-03-08T06:59:00Z'))).toBe(true); // 01:59 EST
    expect(isInWindow(w, d('2026-03-08T07:00:00Z'))).toBe(false); // 03:00 EDT
    expect(isInWindow(w, d('2026-03-09T05:00:00Z'))).toBe(true); // 01:00 EDT the next day
    expect(isInWindow(w, d('2026-03-09T06:00:00Z'))).toBe(true); // 02:00 EDT
    expect(isInWindow(w, d('2026-03-09T07:00:00Z'))).toBe(false); // 03:00 EDT
  });

  it('fall back (2026-11-01, America/New_York): 01:00-01:30 happens twice', () => {
    const w = parseWindow('Sun 01:00-01:30', 'America/New_York');
    expect(isInWindow(w, d('2026-11-01T05:00:00Z'))).toBe(true); // 01:00 EDT
    expect(isInWindow(w, d('2026-11-01T05:30:00Z'))).toBe(false); // 01:30 EDT
    expect(isInWindow(w, d('2026-11-01T06:00:00Z'))).toBe(true); // 01:00 EST
    expect(isInWindow(w, d('2026-11-01T06:29:00Z'))).toBe(true); // 01:29 EST
    expect(isInWindow(w, d('2026-11-01T06:30:00Z'))).toBe(false);
  });
});

describe('nextWindowStart', () => {
  it('returns `from` itself when already inside', () => {
    const w = parseWindow('Mon-Fri 22:00-05:00');
    const from = d('2026-11-24T03:17:42.123Z'); // Tue 03:17, from Monday
    expect(nextWindowStart(w, from)?.toISOString()).toBe(from.toISOString());
    expect(nextWindowStart(w, d('2026-11-23T22:00:00Z'))?.toISOString()).toBe('2026-11-23T22:00:00.000Z');
  });

  it('returns the next opening later the same day, on a whole minute', () => {
    const w = parseWindow('Mon-Fri 22:00-05:00');
    expect(nextWindowStart(w, d('2026-11-23T12:00:00Z'))?.toISOString()).toBe('2026-11-23T22:00:00.000Z');
    expect(nextWindowStart(w, d('2026-11-23T21:59:30Z'))?.toISOString()).toBe('2026-11-23T22:00:00.000Z');
  });

  it('skips days that are not listed and the tail of a crossing range', () => {
    const w = parseWindow('Mon-Fri 22:00-05:00');
    // Saturday 05:00 (Friday's window just ended) -> Monday 22:00
    expect(nextWindowStart(w, d('2026-11-28T05:00:00Z'))?.toISOString()).toBe('2026-11-30T22:00:00.000Z');
    // Sunday 03:00 is not inside (Saturday is not listed) -> Monday 22:00
    expect(nextWindowStart(w, d('2026-11-29T03:00:00Z'))?.toISOString()).toBe('2026-11-30T22:00:00.000Z');
  });

  it('wraps into the next week', () => {
    const w = parseWindow('Mon 09:00-10:00');
    expect(nextWindowStart(w, d('2026-11-23T10:00:00Z'))?.toISOString()).toBe('2026-11-30T09:00:00.000Z');
    expect(nextWindowStart(w, d('2026-11-23T08:59:59.999Z'))?.toISOString()).toBe('2026-11-23T09:00:00.000Z');
    const sat = parseWindow('Sat 22:00-02:00');
    expect(nextWindowStart(sat, d('2026-11-29T02:00:00Z'))?.toISOString()).toBe('2026-12-05T22:00:00.000Z');
  });

  it('whole days open at local midnight', () => {
    const w = parseWindow('Sat,Sun');
    expect(nextWindowStart(w, d('2026-11-25T15:00:00Z'))?.toISOString()).toBe('2026-11-28T00:00:00.000Z');
    const london = parseWindow('Sat,Sun', 'Europe/London');
    expect(nextWindowStart(london, d('2026-07-08T15:00:00Z'))?.toISOString()).toBe('2026-07-10T23:00:00.000Z'); // Sat 00:00 BST
  });

  it('picks the earliest of several clauses', () => {
    const w = parseWindow('Sat,Sun; Wed 03:00-04:00; Mon-Fri 22:00-05:00');
    expect(nextWindowStart(w, d('2026-11-24T06:00:00Z'))?.toISOString()).toBe('2026-11-24T22:00:00.000Z'); // Tue
    const w2 = parseWindow('Thu 18:00-19:00; Sat,Sun');
    expect(nextWindowStart(w2, d('2026-11-27T06:00:00Z'))?.toISOString()).toBe('2026-11-28T00:00:00.000Z'); // Fri -> Sat
  });

  it('America/New_York across the March 2026 DST change', () => {
    const w = parseWindow('Mon-Fri 22:00-05:00', 'America/New_York');
    // Sat 2026-02-28 -> Mon 2026-03-02 22:00 EST = 03:00Z
    expect(nextWindowStart(w, d('2026-02-28T17:00:00Z'))?.toISOString()).toBe('2026-03-03T03:00:00.000Z');
    // Sat 2026-03-07 (EST) -> Mon 2026-03-09 22:00 EDT = 02:00Z (DST started Sunday)
    expect(nextWindowStart(w, d('2026-03-07T17:00:00Z'))?.toISOString()).toBe('2026-03-10T02:00:00.000Z');
  });

  it('America/New_York across the November 2026 DST change', () => {
    const w = parseWindow('Mon-Fri 22:00-05:00', 'America/New_York');
    // Sat 2026-10-31 (EDT) -> Mon 2026-11-02 22:00 EST = 03:00Z
    expect(nextWindowStart(w, d('2026-10-31T16:00:00Z'))?.toISOString()).toBe('2026-11-03T03:00:00.000Z');
  });

  it('a start inside the spring-forward gap opens when the clock jumps', () => {
    const w = parseWindow('Sun 02:30-04:00', 'America/New_York');
    // 02:30 does not exist on 2026-03-08; the window opens at 03:00 EDT = 07:00Z
    expect(nextWindowStart(w, d('2026-03-08T05:00:00Z'))?.toISOString()).toBe('2026-03-08T07:00:00.000Z');
    // a window entirely inside the gap is skipped that day
    const gap = parseWindow('Sun 02:00-02:30', 'America/New_York');
    expect(nextWindowStart(gap, d('2026-03-08T05:00:00Z'))?.toISOString()).toBe('2026-03-15T06:00:00.000Z'); // 02:00 EDT
  });

  it('the repeated hour at fall-back opens twice', () => {
    const w = parseWindow('Sun 01:00-01:30', 'America/New_York');
    expect(nextWindowStart(w, d('2026-11-01T04:00:00Z'))?.toISOString()).toBe('2026-11-01T05:00:00.000Z'); // 01:00 EDT
    expect(nextWindowStart(w, d('2026-11-01T05:45:00Z'))?.toISOString()).toBe('2026-11-01T06:00:00.000Z'); // 01:00 EST
    expect(nextWindowStart(w, d('2026-11-01T06:30:00Z'))?.toISOString()).toBe('2026-11-08T06:00:00.000Z');
  });

  it('agrees with a minute-by-minute scan', () => {
    const cases: [string, string, string][] = [
      ['Mon-Fri 22:00-05:00; Sat,Sun', 'America/New_York', '2026-03-06T12:34:56Z'],
      ['Sun 02:15-02:45; Tue 09:00-09:01', 'America/New_York', '2026-03-07T23:00:00Z'],
      ['Sun 01:10-01:20', 'America/New_York', '2026-11-01T05:25:00Z'],
      ['Fri 23:30-00:30', 'Europe/London', '2026-03-27T12:00:00Z'],
      ['Wed 00:00-00:00', 'Asia/Kolkata', '2026-11-26T12:00:00Z'],
      ['daily 23:45-00:15', 'Australia/Lord_Howe', '2026-10-03T10:00:00Z'],
      ['Sun 02:10-02:40', 'Australia/Lord_Howe', '2026-10-03T10:00:00Z'], // 30-minute DST jump at 02:00
    ];
    for (const [text, tz, from] of cases) {
      const w = parseWindow(text, tz);
      expect(nextWindowStart(w, d(from))?.toISOString(), `${text} @ ${tz} from ${from}`).toBe(bruteNext(w, d(from))?.toISOString());
    }
  });

  it('is fast (no minute-by-minute search)', () => {
    const w = parseWindow('Mon 09:00-10:00; Thu 23:00-01:00', 'America/New_York');
    const t0 = performance.now();
    for (let i = 0; i < 200; i++) nextWindowStart(w, new Date(Date.UTC(2026, 0, 1) + i * 3_600_000 * 7));
    expect(performance.now() - t0).toBeLessThan(10_000); // no minute-by-minute search, on a busy machine
  });
});

describe('parseStartAt', () => {
  const now = d('2026-11-23T12:00:00Z');

  it.each([
    ['2026-11-23T22:00:00Z', '2026-11-23T22:00:00.000Z'],
    ['2026-11-23T22:00:00z', '2026-11-23T22:00:00.000Z'],
    ['2026-11-23T22:00:00', '2026-11-23T22:00:00.000Z'], // no zone means UTC
    ['2026-11-23T22:00', '2026-11-23T22:00:00.000Z'],
    ['2026-11-23 22:00', '2026-11-23T22:00:00.000Z'],
    ['2026-11-23T22:00:00.250Z', '2026-11-23T22:00:00.250Z'],
    ['2026-11-23T23:00:00+01:00', '2026-11-23T22:00:00.000Z'],
    ['2026-11-23T17:00:00-0500', '2026-11-23T22:00:00.000Z'],
    ['2026-11-24', '2026-11-24T00:00:00.000Z'],
    ['  2026-11-23T22:00:00Z  ', '2026-11-23T22:00:00.000Z'],
  ])('%s -> %s', (text, iso) => {
    expect(parseStartAt(text, now).toISOString()).toBe(iso);
  });

  it.each([
    ['+30m', 30 * 60_000],
    ['+ 30m', 30 * 60_000],
    ['in 2h', 2 * 3_600_000],
    ['IN 2H', 2 * 3_600_000],
    ['+1h30m', 90 * 60_000],
    ['in 1d', 86_400_000],
    ['+0s', 0],
  ])('%s is relative to now', (text, ms) => {
    expect(parseStartAt(text, now).getTime()).toBe(now.getTime() + ms);
  });

  it('defaults now to the current time', () => {
    const before = Date.now();
    const at = parseStartAt('+10m').getTime();
    expect(at).toBeGreaterThanOrEqual(before + 600_000);
    expect(at).toBeLessThanOrEqual(Date.now() + 600_000);
  });

  it('allows up to a minute in the past (clock skew, typing time) and refuses more', () => {
    expect(parseStartAt('2026-11-23T11:59:00Z', now).toISOString()).toBe('2026-11-23T11:59:00.000Z');
    const err = expectInvalid(() => parseStartAt('2026-11-23T11:58:59Z', now));
    expect(err.message).toContain('past');
    expectInvalid(() => parseStartAt('2020-01-01T00:00:00Z', now));
  });

  it.each(['', '   ', 'tomorrow', 'now', '+', 'in', 'in ', '+abc', '-5m', 'in -5m', '+400d', '2026-02-30T00:00:00Z', '2026-13-01T00:00:00Z', '2026-11-23T25:00:00Z', '2026-11-23T22:61:00Z', '2026-11-23T22:00:00+25:00', '23/11/2026 22:00', '2026-11-23T22:00:00Zjunk'])(
    'rejects %j',
    (text) => {
      const err = expectInvalid(() => parseStartAt(text, now));
      expect(err.message).toMatch(/^invalid start time /);
    },
  );
});
