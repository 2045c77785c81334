import { describe, expect, it } from 'vitest';
import { waitTimeoutMs } from './common.js';

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
