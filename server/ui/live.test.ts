import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { LiveEvents } from './live.js';

/** A stand-in response that records what was written to it. */
function response(): { res: ServerResponse; written: string[] } {
  const written: string[] = [];
  const res = Object.assign(new EventEmitter(), { writeHead: () => undefined, write: (s: string) => written.push(s), end: () => undefined });
  return { res: res as unknown as ServerResponse, written };
}

const changes = (written: string[]) => written.filter((w) => w.startsWith('event: change')).length;

describe('LiveEvents', () => {
  it('a page rendered before a change it never heard of gets that change as soon as it listens', () => {
    let notify = (): void => undefined;
    const live = new LiveEvents();
    live.start((l) => ((notify = l), () => undefined));
    const renderedAt = live.generation;
    notify(); // a change lands between the page's render and its /events request
    const late = response();
    live.attach(late.res, renderedAt);
    expect(changes(late.written)).toBe(1);
    live.stop();
  });

  it('a page that is up to date gets nothing until the next change; every listener gets that one', () => {
    let notify = (): void => undefined;
    const live = new LiveEvents();
    live.start((l) => ((notify = l), () => undefined));
    notify();
    const a = response();
    const b = response();
    live.attach(a.res, live.generation);
    live.attach(b.res); // no since: an old page script; it hears only later changes
    expect([changes(a.written), changes(b.written)]).toEqual([0, 0]);
    notify();
    expect([changes(a.written), changes(b.written)]).toEqual([1, 1]);
    // a page from before a server restart (another generation) is refreshed at once too
    const old = response();
    live.attach(old.res, '999');
    expect(changes(old.written)).toBe(1);
    live.stop();
  });
});
