// The pacing of progress reports (pure logic, fake timers): a quick install sends no progress at
// all, only its final report; a long one shows its newest state once per interval, in order.
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import type { HostState } from '../shared/protocol/messages.js';
import { ProgressPacer } from './progress-pacer.js';

let sent: string[];
let pacer: ProgressPacer;
const report = (operation: string, state: HostState) => ({ operation, state, package: 'app', version: '1.0.0', step: 'download' as const });

beforeEach(() => {
  vi.useFakeTimers();
  sent = [];
  pacer = new ProgressPacer((r) => sent.push(`${r.operation} ${r.state}`), 1000);
});

afterEach(() => {
  vi.useRealTimers();
});

it('a quick install: its progress is replaced by newer progress, then dropped by its final report', () => {
  pacer.progress(report('r-1', 'downloading'));
  vi.advanceTimersByTime(300);
  pacer.progress(report('r-1', 'verifying'));
  pacer.progress(report('r-1', 'installing'));
  pacer.settle('r-1'); // its final report goes out now
  vi.advanceTimersByTime(5000);
  expect(sent).toEqual([]);
});

it('a long install: the newest state once per interval, the first after one interval', () => {
  pacer.progress(report('r-1', 'downloading'));
  vi.advanceTimersByTime(999);
  expect(sent).toEqual([]);
  vi.advanceTimersByTime(1);
  expect(sent).toEqual(['r-1 downloading']);
  vi.advanceTimersByTime(5000); // nothing new: nothing sent
  pacer.progress(report('r-1', 'verifying'));
  vi.advanceTimersByTime(500);
  pacer.progress(report('r-1', 'installing'));
  vi.advanceTimersByTime(500);
  expect(sent).toEqual(['r-1 downloading', 'r-1 installing']);
});

it("another operation's held progress is sent before a report goes out now, and what is held at stop is sent", () => {
  pacer.progress(report('r-1', 'downloading'));
  pacer.settle('r-2');
  expect(sent).toEqual(['r-1 downloading']);
  pacer.progress(report('r-2', 'installing'));
  pacer.stop();
  vi.advanceTimersByTime(5000);
  expect(sent).toEqual(['r-1 downloading', 'r-2 installing']);
});
