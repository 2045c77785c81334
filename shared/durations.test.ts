import { describe, expect, it } from 'vitest';
import { FerryError } from './errors.js';
import { formatDuration, MAX_DURATION_MS, parseDuration } from './durations.js';

function expectInvalid(text: string): void {
  let err: unknown;
  try {
    parseDuration(text);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(FerryError);
  const fe = err as FerryError;
  expect(fe.code).toBe('FERRY_INVALID_INPUT');
  expect(fe.hint).toBe('use e.g. 30s, 10m, 2h');
  expect(fe.toLine()).not.toContain('\n');
}

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['10m', 600_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['1h30m', 5_400_000],
    ['1h 30m', 5_400_000],
    ['1d2h3m4s5ms', 93_784_005],
    ['1.5s', 1_500],
    ['0.5h', 1_800_000],
    ['30', 30_000],
    ['2.5', 2_500],
    ['0', 0],
    ['0s', 0],
    ['  45s  ', 45_000],
    ['365d', MAX_DURATION_MS],
  ])('%s -> %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '   ', '-5s', '-5', 'abc', '5x', '10 m', 's', 'ms', '1h-30m', '1e3', '5s garbage', '1.s', '.5s', '366d', '8761h', '9'.repeat(400), 'NaN', 'Infinity', '30S'])(
    'rejects %j',
    (text) => expectInvalid(text),
  );

  it('puts the input in a one-line message', () => {
    try {
      parseDuration('bad\ninput');
      expect.unreachable();
    } catch (e) {
      expect((e as FerryError).message).toBe('invalid duration "bad\\ninput"');
      expect((e as FerryError).toLine()).toBe('FERRY_INVALID_INPUT: invalid duration "bad\\ninput" — hint: use e.g. 30s, 10m, 2h');
    }
  });

  it('names the flag the text came from, and says what is wrong with it', () => {
    const line = (text: string, flag?: string) => {
      try {
        parseDuration(text, flag);
      } catch (e) {
        expect((e as FerryError).code).toBe('FERRY_INVALID_INPUT');
        return (e as FerryError).toLine();
      }
      throw new Error(`${text} was accepted`);
    };
    expect(line('10x', '--soak')).toBe('FERRY_INVALID_INPUT: --soak: invalid duration "10x" — hint: use e.g. 30s, 10m, 2h');
    expect(line('10x', '--host-timeout')).toMatch(/^FERRY_INVALID_INPUT: --host-timeout: invalid duration "10x" —/);
    expect(line('99999999h', '--soak')).toBe('FERRY_INVALID_INPUT: --soak: "99999999h" is too large (at most 365d) — hint: use e.g. 30s, 10m, 2h');
    expect(line('1000d', '--ttl')).toMatch(/^FERRY_INVALID_INPUT: --ttl: "1000d" is too large \(at most 365d\) —/);
    expect(line('9'.repeat(400), '--ttl')).toMatch(/^FERRY_INVALID_INPUT: --ttl: "9{60}…" \(400 characters\) is too large \(at most 365d\) —/);
    expect(line('-5m', '--soak')).toBe('FERRY_INVALID_INPUT: --soak: a duration cannot be negative — hint: use e.g. 30s, 10m, 2h');
    expect(line('-5', '--soak')).toMatch(/^FERRY_INVALID_INPUT: --soak: a duration cannot be negative —/);
    expect(line('', '--since')).toBe('FERRY_INVALID_INPUT: --since must not be empty — hint: use e.g. 30s, 10m, 2h');
    expect(line(' ', '--since')).toMatch(/^FERRY_INVALID_INPUT: --since must not be empty —/);
    // without a flag (the agent's config file, the console): the problem alone
    expect(line('366d')).toMatch(/^FERRY_INVALID_INPUT: duration "366d" is too large \(at most 365d\) —/);
    expect(line('-5m')).toMatch(/^FERRY_INVALID_INPUT: duration "-5m" cannot be negative —/);
    expect(line('-')).toMatch(/^FERRY_INVALID_INPUT: invalid duration "-" —/);
    expect(line('')).toMatch(/^FERRY_INVALID_INPUT: invalid duration "" —/);
  });

  it('cuts a long input in its message, with its length', () => {
    const long = `${'1'.repeat(5000)}x`;
    expect(() => parseDuration(long, '--soak')).toThrow(`--soak: invalid duration "${'1'.repeat(60)}…" (5001 characters)`);
  });

  it('is linear on hostile input', () => {
    const t = Date.now();
    expectInvalid('1'.repeat(100_000) + 'x');
    expectInvalid('1s'.repeat(50_000) + '!');
    expect(Date.now() - t).toBeLessThan(10_000); // linear vs catastrophic, on a busy machine
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [350, '350ms'],
    [999, '999ms'],
    [1_000, '1s'],
    [1_500, '1.5s'],
    [45_000, '45s'],
    [59_999, '59.9s'],
    [60_000, '1m'],
    [90_000, '1m 30s'],
    [3_600_000, '1h'],
    [3_723_000, '1h 2m'],
    [86_400_000 + 60_000, '1d'],
    [2 * 86_400_000 + 3 * 3_600_000 + 5_000, '2d 3h'],
    [-45_000, '-45s'],
  ])('%d -> %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('round-trips through parseDuration for whole units', () => {
    for (const text of ['350ms', '45s', '1m 30s', '1h 2m', '2d 3h']) {
      expect(formatDuration(parseDuration(text))).toBe(text);
    }
  });

  it('never throws on odd numbers', () => {
    expect(formatDuration(Number.NaN)).toBe('NaN');
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe('∞');
  });
});
