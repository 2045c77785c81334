import { describe, expect, it } from 'vitest';
import { catchFerryError } from '../../../test/helpers/errors.js';
import { connectionFlags, durationFlag, nonBlank, parseTags, waitTimeoutMs } from './common.js';

describe('waitTimeoutMs (--timeout of a command that can --wait)', () => {
  it('is how long --wait waits, or for ever without --timeout', () => {
    expect(waitTimeoutMs({ wait: true, timeout: '90s' })).toBe(90_000);
    expect(waitTimeoutMs({ wait: true })).toBeUndefined();
    expect(waitTimeoutMs({ wait: false })).toBeUndefined();
  });

  it('refuses a --timeout without --wait (it would do nothing) and a bad duration', () => {
    expect(() => waitTimeoutMs({ wait: false, timeout: '5m' })).toThrow(expect.objectContaining({ code: 'FERRY_USAGE', message: '--timeout is how long --wait waits; add --wait (or drop --timeout)' }));
    expect(() => waitTimeoutMs({ wait: true, timeout: 'soon' })).toThrow(expect.objectContaining({ code: 'FERRY_INVALID_INPUT' }));
  });
});

describe('duration flags: errors name the flag; an interval must be more than 0s', () => {
  it('parses as before', () => {
    expect(durationFlag('90s', '--soak')).toBe(90_000);
    expect(durationFlag('0s', '--soak')).toBe(0);
    expect(durationFlag('1s', '--interval', { positive: true })).toBe(1_000);
  });

  it.each([
    ['10x', '--soak', {}, '--soak: invalid duration "10x"'],
    ['-5m', '--soak', {}, '--soak: a duration cannot be negative'],
    ['1000d', '--ttl', {}, '--ttl: "1000d" is too large (at most 365d)'],
    ['', '--since', {}, '--since must not be empty'],
    ['0', '--interval', { positive: true }, '--interval "0s": must be more than 0s'],
    ['0ms', '--interval', { positive: true }, '--interval "0s": must be more than 0s'],
    ['-1s', '--interval', { positive: true }, '--interval: a duration cannot be negative'],
  ] as const)('%j %s', (text, flag, opts, message) => {
    expect(catchFerryError(() => durationFlag(text, flag, opts)).message).toBe(message);
  });

  it('--timeout is named too', () => {
    expect(catchFerryError(() => waitTimeoutMs({ wait: true, timeout: 'soon' })).message).toBe('--timeout: invalid duration "soon"');
  });
});

describe('empty flags are refused, not taken for "not given"', () => {
  it('nonBlank', () => {
    expect(nonBlank(undefined, '--waves')).toBeUndefined();
    expect(nonBlank('1,100%', '--waves')).toBe('1,100%');
    expect(catchFerryError(() => nonBlank('', '--waves')).message).toBe('--waves must not be empty');
    expect(catchFerryError(() => nonBlank(' ', '--start-at')).message).toBe('--start-at must not be empty');
  });

  it('the connection flags: an empty --nats would reach the local server instead', () => {
    const flags = { json: false, nats: 'nats://h:4222', creds: '/c', 'tls-ca': '/ca', 'data-dir': '/d' };
    expect(connectionFlags(flags)).toEqual({ nats: 'nats://h:4222', creds: '/c', tlsCa: '/ca', dataDir: '/d' });
    expect(connectionFlags({ json: false })).toEqual({ nats: undefined, creds: undefined, tlsCa: undefined, dataDir: undefined });
    for (const flag of ['nats', 'creds', 'tls-ca', 'data-dir'] as const) {
      expect(catchFerryError(() => connectionFlags({ ...flags, [flag]: '' })).message).toBe(`--${flag} must not be empty`);
    }
  });
});

describe('parseTags (--tag k=v)', () => {
  it('parses as before; a value may be empty', () => {
    expect(parseTags(['env=prod', 'dc=lon', 'note='])).toEqual({ env: 'prod', dc: 'lon', note: '' });
    expect(parseTags(undefined)).toEqual({});
  });

  it('a bad key is named, with what a key may hold (not the value)', () => {
    const e = catchFerryError(() => parseTags(['ключ=☃']));
    expect(e.message).toBe('--tag key "ключ" is not valid: a key is 1-64 of A-Z a-z 0-9 _ . -');
    expect(catchFerryError(() => parseTags([`${'k'.repeat(65)}=v`])).message).toMatch(/^--tag key "k{60}…" \(65 characters\) is not valid/);
  });

  it('a long value is cut in the message, with its length', () => {
    expect(catchFerryError(() => parseTags([`${'x'.repeat(5000)}`])).message).toBe(`--tag "${'x'.repeat(60)}…" (5000 characters) is not key=value`);
  });
});
