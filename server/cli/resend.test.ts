import { describe, expect, it } from 'vitest';
import { firstAnswer } from './resend.js';

class NoAnswer extends Error {}

/**
 * An ask that answers `answers[i]` for its i-th call after `delays[i]` ms, or (undefined) never
 * answers and fails with NoAnswer when its wait is over. Records each call's wait.
 */
function scripted(plan: { answer?: string; error?: Error; afterMs: number }[]) {
  const waits: number[] = [];
  const ask = (waitMs: number) => {
    const step = plan[waits.length] ?? { afterMs: Infinity };
    waits.push(waitMs);
    return new Promise<string>((resolve, reject) => {
      if (step.answer !== undefined || step.error) {
        setTimeout(() => (step.error ? reject(step.error) : resolve(step.answer!)), step.afterMs);
      } else setTimeout(() => reject(new NoAnswer()), waitMs);
    });
  };
  return { ask, waits };
}

const isNoAnswer = (e: unknown) => e instanceof NoAnswer;

describe('firstAnswer: a read that got no answer is asked again', () => {
  it('answered at once: asked once', async () => {
    const { ask, waits } = scripted([{ answer: 'a', afterMs: 1 }]);
    await expect(firstAnswer(ask, { timeoutMs: 2000, resendAfterMs: 500, isNoAnswer })).resolves.toBe('a');
    expect(waits).toHaveLength(1);
  });

  it('the first ask is lost: the second answers, long before the deadline', async () => {
    const { ask, waits } = scripted([{ afterMs: Infinity }, { answer: 'second', afterMs: 1 }]);
    const started = Date.now();
    await expect(firstAnswer(ask, { timeoutMs: 60_000, resendAfterMs: 50, isNoAnswer })).resolves.toBe('second');
    expect(Date.now() - started).toBeLessThan(30_000); // not the whole timeout
    expect(waits).toHaveLength(2);
    // every ask stays open until the deadline, so a slow first answer would still be taken
    expect(waits[1]!).toBeLessThanOrEqual(waits[0]!);
    expect(waits[1]!).toBeGreaterThan(30_000);
  });

  it('a slow answer to the first ask wins over the asks sent after it', async () => {
    const { ask, waits } = scripted([{ answer: 'slow first', afterMs: 200 }, { afterMs: Infinity }, { afterMs: Infinity }]);
    await expect(firstAnswer(ask, { timeoutMs: 5000, resendAfterMs: 60, isNoAnswer })).resolves.toBe('slow first');
    expect(waits.length).toBeGreaterThanOrEqual(2);
  });

  it('nothing ever answers: fails with the no-answer error at the deadline, and asks no more after it', async () => {
    const { ask, waits } = scripted([]);
    const started = Date.now();
    await expect(firstAnswer(ask, { timeoutMs: 300, resendAfterMs: 100, isNoAnswer })).rejects.toBeInstanceOf(NoAnswer);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(waits.length).toBeGreaterThanOrEqual(2);
    expect(waits.length).toBeLessThanOrEqual(3);
    const asked = waits.length;
    await new Promise((r) => setTimeout(r, 250));
    expect(waits).toHaveLength(asked);
  });

  it('any other failure ends the request at once, without asking again', async () => {
    const refused = new Error('permissions violation');
    const { ask, waits } = scripted([{ error: refused, afterMs: 1 }]);
    await expect(firstAnswer(ask, { timeoutMs: 5000, resendAfterMs: 100, isNoAnswer })).rejects.toBe(refused);
    await new Promise((r) => setTimeout(r, 250));
    expect(waits).toHaveLength(1);
  });

  it('a timeout shorter than the resend interval: asked once', async () => {
    const { ask, waits } = scripted([]);
    await expect(firstAnswer(ask, { timeoutMs: 100, resendAfterMs: 1000, isNoAnswer })).rejects.toBeInstanceOf(NoAnswer);
    expect(waits).toHaveLength(1);
  });
});
