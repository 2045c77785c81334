import { describe, expect, it } from 'vitest';
import { KeyedLock } from './keyed-lock.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('KeyedLock', () => {
  it('runs the tasks of one key one after another, in order, and those of another key alongside', async () => {
    const lock = new KeyedLock();
    const events: string[] = [];
    const gate = deferred();
    const first = lock.run('a', async () => {
      events.push('a1 start');
      await gate.promise;
      events.push('a1 end');
      return 1;
    });
    const second = lock.run('a', async () => {
      events.push('a2 start');
      return 2;
    });
    const other = lock.run('b', async () => {
      events.push('b start');
      return 3;
    });
    expect(await other).toBe(3);
    expect(events).toEqual(['a1 start', 'b start']);
    gate.resolve();
    expect(await Promise.all([first, second])).toEqual([1, 2]);
    expect(events).toEqual(['a1 start', 'b start', 'a1 end', 'a2 start']);
  });

  it('a failed task rejects its own caller only; the next one still runs; nothing is kept afterwards', async () => {
    const lock = new KeyedLock();
    const failed = lock.run('a', () => Promise.reject(new Error('boom')));
    const next = lock.run('a', () => Promise.resolve('ran'));
    await expect(failed).rejects.toThrow('boom');
    expect(await next).toBe('ran');
    await new Promise((r) => setImmediate(r));
    expect(lock.size).toBe(0);
  });
});
