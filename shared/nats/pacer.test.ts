import { describe, expect, it } from 'vitest';
import { RatePacer } from './pacer.js';

/** A pacer on a clock the test moves by hand. */
function pacer(rate: number, burst?: number): { p: RatePacer; advance: (ms: number) => void } {
  let now = 1_000_000;
  const p = new RatePacer(rate, burst, () => now);
  return { p, advance: (ms) => (now += ms) };
}

describe('RatePacer', () => {
  it('lets the first request go at once, and every later one only once the bytes before it are paid for', () => {
    const { p, advance } = pacer(1000);
    expect(p.delay()).toBe(0);
    p.take(500);
    expect(p.delay()).toBe(500);
    advance(499);
    expect(p.delay()).toBe(1);
    advance(1);
    expect(p.delay()).toBe(0);
    // Many small requests add up exactly as one big one would.
    for (let i = 0; i < 10; i++) p.take(100);
    expect(p.delay()).toBe(1000);
  });

  it('saves at most the burst while idle', () => {
    const { p, advance } = pacer(1000, 300);
    advance(60_000); // a minute idle: still only 300 bytes of credit
    p.take(300);
    expect(p.delay()).toBe(0);
    p.take(200);
    expect(p.delay()).toBe(200);
  });

  it('charges a correction when the real size differs; a refund never exceeds the burst', () => {
    const { p } = pacer(1000);
    p.take(1000);
    p.take(-400); // the chunk was 600 bytes, not 1000
    expect(p.delay()).toBe(600);
    p.take(-10_000);
    expect(p.delay()).toBe(0);
    p.take(1);
    expect(p.delay()).toBe(1); // no credit was banked by the oversized refund
  });

  it('acquire waits out the debt (real clock), then charges', async () => {
    const started = Date.now();
    const p = new RatePacer(10_000);
    await p.acquire(500); // the bucket was not in debt: at once
    await p.acquire(1); // waits for the 500 bytes: 50 ms at 10 000 B/s
    expect(Date.now() - started).toBeGreaterThanOrEqual(50);
    await p.acquire(100_000); // then charges: 10 s of debt, which the next request must wait out
    expect(p.delay()).toBeGreaterThan(5_000);
  });

  it('refuses a rate or burst that is not one', () => {
    expect(() => new RatePacer(0)).toThrow(RangeError);
    expect(() => new RatePacer(Number.NaN)).toThrow(RangeError);
    expect(() => new RatePacer(1000, -1)).toThrow(RangeError);
  });
});
