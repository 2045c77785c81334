import { describe, expect, it } from 'vitest';
import { catchFerryError } from '../test/helpers/errors.js';
import { formatRate, parseRate } from './rates.js';

describe('parseRate', () => {
  it('reads the units people write', () => {
    expect(parseRate('5MiB/s')).toBe(5 * 1024 * 1024);
    expect(parseRate('500KiB/s')).toBe(500 * 1024);
    expect(parseRate('10MB/s')).toBe(10_000_000);
    expect(parseRate('2M')).toBe(2 * 1024 * 1024);
    expect(parseRate('1.5 GiB/s')).toBe(1.5 * 1024 ** 3);
    expect(parseRate('4096')).toBe(4096);
  });
  it('refuses what is not a rate, or below 1KiB/s, naming the flag', () => {
    for (const bad of ['fast', '5 parsecs/s', '', '-1MiB/s', '10']) {
      const err = catchFerryError(() => parseRate(bad));
      expect(err.code, bad).toBe('FERRY_INVALID_INPUT');
      expect(err.message).toMatch(/^--max-rate /);
    }
  });
  it('formats back', () => {
    expect(formatRate(5 * 1024 * 1024)).toBe('5MiB/s');
    expect(formatRate(512 * 1024)).toBe('512KiB/s');
  });
});
