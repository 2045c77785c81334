// The journal's part in signed reports: a queued report gets its counter and signature once, the
// counters only go up (across restarts, and past the clock), and a journal from before signatures
// takes the new columns with its queued reports kept.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Journal } from './journal.js';

const dirs: string[] = [];
const journalFile = () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-journal-sig-'));
  dirs.push(dir);
  return join(dir, 'journal.db');
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('journal: report signatures', () => {
  it('a report is signed once, with a counter above every earlier one, also after a restart', () => {
    const file = journalFile();
    let journal = new Journal(file);
    const a = journal.queueReport('ferry.agent.a-1.status', new Uint8Array([1]));
    expect(journal.pendingReports()[0]!.signature).toBeUndefined();
    const first = journal.signReport(a, (c) => `sig-${c}`);
    expect(first.counter).toBeGreaterThanOrEqual(Date.now() * 1000 - 60e9);
    expect(journal.pendingReports()[0]!.signature).toEqual({ counter: first.counter, sig: `sig-${first.counter}` });
    journal.close();

    journal = new Journal(file);
    // the clock in µs is below the last counter: the next one still goes up
    journal.setMeta('report_counter', String(first.counter + 5_000_000_000));
    const b = journal.queueReport('ferry.agent.a-1.inventory', new Uint8Array([2]));
    const second = journal.signReport(b, (c) => `sig-${c}`);
    expect(second.counter).toBe(first.counter + 5_000_000_001);
    expect(journal.pendingReports().map((r) => r.signature?.counter)).toEqual([first.counter, second.counter]);
    journal.close();
  });

  it('a journal from before signatures keeps its queued reports, which are then signed like any other', () => {
    const file = journalFile();
    const old = new Database(file);
    old.exec('CREATE TABLE outbox (id INTEGER PRIMARY KEY, subject TEXT NOT NULL, payload BLOB NOT NULL, created_at INTEGER NOT NULL)');
    old.prepare('INSERT INTO outbox (subject, payload, created_at) VALUES (?, ?, ?)').run('ferry.agent.a-1.status', Buffer.from('{}'), 1);
    old.close();
    const journal = new Journal(file);
    const [queued] = journal.pendingReports();
    expect(queued).toMatchObject({ subject: 'ferry.agent.a-1.status' });
    expect(queued!.signature).toBeUndefined();
    expect(journal.signReport(queued!.id, () => 'sig').sig).toBe('sig');
    journal.close();
  });
});
