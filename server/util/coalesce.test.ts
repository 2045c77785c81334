import { describe, expect, it } from 'vitest';
import { coalesce } from './coalesce.js';

describe('coalesce', () => {
  it('runs once for a lone call and once more for all calls made during a run', async () => {
    let runs = 0;
    let release: () => void = () => undefined;
    const job = coalesce(async () => {
      runs++;
      if (runs === 1) await new Promise<void>((r) => (release = r));
    });
    const first = job();
    const during = [job(), job(), job()];
    expect(runs).toBe(1);
    release();
    await Promise.all([first, ...during]);
    expect(runs).toBe(2);
    await job();
    expect(runs).toBe(3);
  });

  it('a failed run rejects its callers, and the follow-up still runs', async () => {
    let runs = 0;
    const job = coalesce(async () => {
      runs++;
      await new Promise((r) => setTimeout(r, 5));
      if (runs === 1) throw new Error('reload failed');
    });
    const first = job();
    const second = job();
    await expect(first).rejects.toThrow('reload failed');
    await expect(second).resolves.toBeUndefined();
    expect(runs).toBe(2);
  });
});

describe('coalesce with a delay', () => {
  it('gathers calls made within the delay into one run', async () => {
    let runs = 0;
    const job = coalesce(async () => {
      runs++;
    }, 30);
    await Promise.all([job(), job(), job()]);
    expect(runs).toBe(1);
  });
});
