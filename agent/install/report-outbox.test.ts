// The journal's report outbox on a real SQLite file: a newer status report of an operation
// replaces that operation's progress reports still waiting to be sent (a small install passes
// through five states in milliseconds; each report costs the server a write, an event and an ack),
// without ever losing a final report or a report the reporter has not sent yet.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { Journal } from './journal.js';

let dir: string;
let journal: Journal;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-report-outbox-'));
  journal = new Journal(join(dir, 'journal.db'));
});

afterEach(() => {
  journal.close();
  rmSync(dir, { recursive: true, force: true });
});

const FINAL = ['succeeded', 'failed', 'rolled-back'];
const queue = (operation: string, state: string) => journal.queueReport('ferry.report.status.a1', Buffer.from(`${operation} ${state}`), { operation, final: FINAL.includes(state) });
const pending = () => journal.pendingReports(100).map((r) => Buffer.from(r.payload).toString());

it('a newer report of an operation replaces its queued progress reports; final reports, other operations and inventory stay, in order', () => {
  queue('r-1', 'downloading');
  journal.queueReport('ferry.report.inventory.a1', Buffer.from('inventory'));
  queue('r-2', 'downloading');
  queue('r-1', 'verifying');
  queue('r-1', 'installing');
  expect(pending()).toEqual(['inventory', 'r-2 downloading', 'r-1 installing']);
  queue('r-1', 'succeeded');
  expect(pending()).toEqual(['inventory', 'r-2 downloading', 'r-1 succeeded']);
  // a later report (a health check failing in the soak) never replaces a final one
  queue('r-1', 'rolled-back');
  queue('r-2', 'failed');
  expect(pending()).toEqual(['inventory', 'r-1 succeeded', 'r-1 rolled-back', 'r-2 failed']);
});

it('a progress report replaced while it is being sent: its acknowledgement does not drop the newer report', () => {
  queue('r-1', 'downloading');
  const inFlight = journal.pendingReports(100); // the reporter is publishing these
  queue('r-1', 'verifying');
  queue('r-1', 'installing');
  for (const r of inFlight) journal.dropReport(r.id); // acknowledged
  expect(pending()).toEqual(['r-1 installing']);
  const again = journal.pendingReports(100);
  queue('r-1', 'succeeded');
  for (const r of again) journal.dropReport(r.id);
  expect(pending()).toEqual(['r-1 succeeded']);
});

it('a journal from before progress reports were replaced gets the column, and its queued reports are kept', () => {
  journal.close();
  const file = join(dir, 'old.db');
  const old = new Database(file);
  old.exec('CREATE TABLE outbox (id INTEGER PRIMARY KEY, subject TEXT NOT NULL, payload BLOB NOT NULL, created_at INTEGER NOT NULL)');
  old.prepare('INSERT INTO outbox (subject, payload, created_at) VALUES (?, ?, ?)').run('ferry.report.status.a1', Buffer.from('r-1 downloading'), Date.now());
  old.close();
  journal = new Journal(file);
  queue('r-1', 'installing');
  // the old row has no operation recorded: it is sent as it is, before the new one
  expect(pending()).toEqual(['r-1 downloading', 'r-1 installing']);
});

it('signed reports: a replacing report is a new row, signed when sent with a counter above every earlier one; a signed final report keeps its signature', () => {
  const sign = (id: number) => journal.signReport(id, (c) => `sig-${c}`);
  queue('r-1', 'downloading');
  const [first] = journal.pendingReports(100);
  const firstSig = sign(first!.id); // sent, its acknowledgement not back yet
  queue('r-1', 'installing'); // replaces it: the signed row goes, the new one is not signed yet
  const [second] = journal.pendingReports(100);
  expect(second!.id).not.toBe(first!.id);
  expect(second!.signature).toBeUndefined();
  const secondSig = sign(second!.id);
  expect(secondSig.counter).toBeGreaterThan(firstSig.counter);
  queue('r-1', 'succeeded');
  const final = journal.pendingReports(100).find((r) => Buffer.from(r.payload).toString() === 'r-1 succeeded')!;
  const finalSig = sign(final.id);
  expect(finalSig.counter).toBeGreaterThan(secondSig.counter);
  queue('r-2', 'downloading');
  queue('r-2', 'installing');
  // the final report stays with the signature it was first sent with (sent again, it is the same report)
  expect(journal.pendingReports(100).map((r) => [Buffer.from(r.payload).toString(), r.signature?.counter])).toEqual([
    ['r-1 succeeded', finalSig.counter],
    ['r-2 installing', undefined],
  ]);
});
