// A report JetStream redelivers late must not undo a newer one. Real nats-server, real SQLite:
// report 1 (ferry-agent 1.1.0) is taken from the server's durable consumer and nak'ed with a delay,
// as happens to a delivery lost under load or a batch that failed to commit; report 2 (1.0.0, the
// newer truth) is applied first; then report 1 comes back. The CMDB must keep 1.0.0, while the
// late report still counts as history. The same with signed reports (made by the agent's own
// Reporter and journal), where a report sent again later — the same one, unsigned, or signed with
// another key — changes nothing at all.
import { jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { Journal } from '../../agent/install/journal.js';
import { Reporter } from '../../agent/reporter.js';
import type { Manifest } from '../../shared/package/mod.js';
import { createNativeUser, nativeKeyPair } from '../../shared/nats/nkey-auth.js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { CmdbStore } from '../../server/cmdb/store.js';
import { ReportIngest } from '../../server/cmdb/ingest.js';
import { openDatabase } from '../../server/db/open.js';
import { encodeMessage } from '../../shared/protocol/codec.js';
import type { StatusReport } from '../../shared/protocol/messages.js';
import { REPORT_CONSUMER, REPORT_STREAM, subjects } from '../../shared/protocol/subjects.js';
import { tempDir, waitFor } from '../helpers/fleet.js';
import { startTestNats, type TestNats } from '../helpers/nats.js';

const AGENT = 'a-report-order';

function report(installed: Record<string, string>, operation: string): StatusReport {
  return { agent: AGENT, ts: Date.now(), operation, state: 'succeeded', package: 'ferry-agent', version: installed['ferry-agent']!, step: 'done', installed };
}

describe('report ingest: stream order wins over delivery order', () => {
  let nats: TestNats;
  let nc: NatsConnection;

  beforeAll(async () => {
    nats = await startTestNats();
    nc = await connect({ servers: nats.url });
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  async function consumerSettled(): Promise<boolean> {
    const info = await (await jetstreamManager(nc)).consumers.info(REPORT_STREAM, REPORT_CONSUMER);
    return info.num_pending === 0 && info.num_ack_pending === 0;
  }

  const operations = (cmdb: CmdbStore, id: string) => cmdb.historyOf(id).flatMap((h) => (h.operation ? [h.operation] : [])).sort();

  /**
   * With reports r-old (installing 1.1.0) then r-new (1.0.0) in the stream: r-old is delivered to
   * nobody who applies it and comes back 3 s later, after the ingest applied r-new. The CMDB keeps
   * 1.0.0; both count as history. The ingest is left running.
   */
  async function oldReportComesBackLate(cmdb: CmdbStore, id: string): Promise<{ first: JsMsg; ingest: ReportIngest; statuses: string[] }> {
    const consumer = await jetstream(nc).consumers.get(REPORT_STREAM, REPORT_CONSUMER);
    const first = await consumer.next({ expires: 5000 });
    if (!first) throw new Error('no report to deliver');
    first.nak(3000);
    const statuses: string[] = [];
    const ingest = new ReportIngest(nc, cmdb, { onStatus: (r) => statuses.push(r.operation) }, pino({ level: 'silent' }));
    await ingest.start();
    try {
      await waitFor(() => statuses.length === 2, 60_000, { message: () => `reports applied: ${statuses.join(', ')}` });
      await waitFor(consumerSettled, 30_000, { message: 'the reports were not all acknowledged' });
      expect(statuses).toEqual(['r-new', 'r-old']);
      expect(cmdb.installedOf(id)).toEqual({ 'ferry-agent': '1.0.0' });
      expect(operations(cmdb, id)).toEqual(['r-new', 'r-old']);
    } catch (err) {
      await ingest.stop();
      throw err;
    }
    return { first, ingest, statuses };
  }

  it('an older report redelivered after a newer one changes history, not the installed versions', async () => {
    const db = openDatabase(join(tempDir('ferry-report-order-'), 'ferry.db'));
    const cmdb = new CmdbStore(db);
    cmdb.addAgent({ id: AGENT, nkey: 'UNKEY', hostname: 'order-1', tags: {} });
    await ReportIngest.ensureStream(nc);
    const js = jetstream(nc);
    await js.publish(subjects.status(AGENT), encodeMessage(report({ 'ferry-agent': '1.1.0' }, 'r-old')));
    await js.publish(subjects.status(AGENT), encodeMessage(report({ 'ferry-agent': '1.0.0' }, 'r-new')));

    const { first, ingest, statuses } = await oldReportComesBackLate(cmdb, AGENT);
    expect(first.seq).toBe(1);
    try {

      // A later report is newer again: it applies.
      await js.publish(subjects.status(AGENT), encodeMessage(report({ 'ferry-agent': '1.2.0' }, 'r-next')));
      await waitFor(() => cmdb.installedOf(AGENT)['ferry-agent'] === '1.2.0', 30_000, { message: () => `installed: ${JSON.stringify(cmdb.installedOf(AGENT))}` });
    } finally {
      await ingest.stop();
      db.close();
    }
  }, 120_000);

  it('signed reports: a late one counts once (history, not installed); a replayed, unsigned or foreign-signed one changes nothing', async () => {
    const id = 'a-signed-order';
    const dir = tempDir('ferry-report-signed-');
    const db = openDatabase(join(dir, 'ferry.db'));
    const cmdb = new CmdbStore(db);
    const key = createNativeUser();
    cmdb.addAgent({ id, nkey: key.publicKey, hostname: 'signed-1', tags: {} });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(REPORT_STREAM).catch(() => undefined);
    await ReportIngest.ensureStream(nc);
    const js = jetstream(nc);

    // The agent's side: its journal and Reporter, signing with its own nkey.
    const journal = new Journal(join(dir, 'journal.db'));
    const reporter = new Reporter(id, journal, pino({ level: 'silent' }), (bytes) => nativeKeyPair(key.seed).sign(bytes));
    const agentReport = (version: string, operation: string) => {
      journal.setInstalled('ferry-agent', version, null, {} as Manifest);
      reporter.status({ operation, state: 'succeeded', package: 'ferry-agent', version, step: 'done' });
    };
    agentReport('1.1.0', 'r-old');
    agentReport('1.0.0', 'r-new');
    reporter.attach(nc);
    await reporter.flush();
    expect(journal.pendingReports()).toEqual([]);

    const { first, ingest, statuses } = await oldReportComesBackLate(cmdb, id);
    expect(first.headers?.get('Ferry-Report-Counter')).toMatch(/^\d+$/);
    const history = () => operations(cmdb, id);
    try {

      // What a site could send in the agent's name: each report stored, each refused, nothing changed.
      const stored = (await jsm.streams.getMessage(REPORT_STREAM, { seq: first.seq }))!;
      const unsigned = encodeMessage({ agent: id, ts: Date.now(), operation: 'forged', state: 'failed', package: 'ferry-agent', version: '6.6.6', installed: { 'ferry-agent': '6.6.6' } });
      const foreign = new Reporter(id, new Journal(join(dir, 'other.db')), pino({ level: 'silent' }), (bytes) => nativeKeyPair(createNativeUser().seed).sign(bytes));
      const sentBefore = (await jsm.streams.info(REPORT_STREAM)).state.last_seq;
      // Sent again as the agent sends it (its acknowledgement lost): the signature is its message
      // id, so the stream's duplicate window drops it and stores nothing.
      expect(stored.header.get('Nats-Msg-Id')).toBe(stored.header.get('Ferry-Report-Sig'));
      expect((await js.publish(subjects.status(id), stored.data, { headers: stored.header })).duplicate).toBe(true);
      expect((await jsm.streams.info(REPORT_STREAM)).state.last_seq).toBe(sentBefore);
      // Replayed without the id (later, or by whoever holds a copy): stored, and the ingest refuses it.
      const replay = headers();
      for (const [k, v] of stored.header) if (k !== 'Nats-Msg-Id') for (const x of v) replay.append(k, x);
      await js.publish(subjects.status(id), stored.data, { headers: replay }); // the older report again, as it was signed
      await js.publish(subjects.status(id), unsigned);
      foreign.status({ operation: 'forged', state: 'failed', package: 'ferry-agent', version: '6.6.6', step: 'done' });
      foreign.attach(nc);
      await foreign.flush();
      expect((await jsm.streams.info(REPORT_STREAM)).state.last_seq).toBe(sentBefore + 3);
      await waitFor(async () => (await consumerSettled()) && Object.values(ingest.refusedCounts()).reduce((a, b) => a + b, 0) === 3, 30_000, { message: () => `refused: ${JSON.stringify(ingest.refusedCounts())}` });
      expect(ingest.refusedCounts()).toEqual({ unsigned: 1, 'bad-signature': 1, stale: 0, duplicate: 1 });
      expect(statuses).toEqual(['r-new', 'r-old']);
      expect(cmdb.installedOf(id)).toEqual({ 'ferry-agent': '1.0.0' });
      expect(history()).toEqual(['r-new', 'r-old']);

      // The agent's next report is newer: it applies.
      agentReport('1.2.0', 'r-next');
      await reporter.flush();
      await waitFor(() => cmdb.installedOf(id)['ferry-agent'] === '1.2.0', 30_000, { message: () => `installed: ${JSON.stringify(cmdb.installedOf(id))}` });
      expect(statuses).toEqual(['r-new', 'r-old', 'r-next']);
    } finally {
      await reporter.stop();
      journal.close();
      await ingest.stop();
      db.close();
    }
  }, 120_000);

  it('a report stream created anew starts the sequences again', async () => {
    const db = openDatabase(join(tempDir('ferry-report-order-'), 'ferry.db'));
    const cmdb = new CmdbStore(db);
    cmdb.addAgent({ id: AGENT, nkey: 'UNKEY', hostname: 'order-1', tags: {} });
    const jsm = await jetstreamManager(nc);
    await ReportIngest.ensureStream(nc);
    cmdb.resetReportSeqs((await jsm.streams.info(REPORT_STREAM)).created);
    expect(cmdb.claimReportSeq(AGENT, 50)).toBe(true);
    expect(cmdb.claimReportSeq(AGENT, 49)).toBe(false);

    // e.g. a restored server on a fresh NATS store: the stream's sequences begin at 1 again.
    await jsm.streams.delete(REPORT_STREAM);
    await ReportIngest.ensureStream(nc);
    const ingest = new ReportIngest(nc, cmdb, { onStatus: () => undefined }, pino({ level: 'silent' }));
    await ingest.start();
    try {
      await jetstream(nc).publish(subjects.status(AGENT), encodeMessage(report({ 'ferry-agent': '3.0.0' }, 'r-fresh')));
      await waitFor(() => cmdb.installedOf(AGENT)['ferry-agent'] === '3.0.0', 30_000, { message: () => `installed: ${JSON.stringify(cmdb.installedOf(AGENT))}` });
    } finally {
      await ingest.stop();
      db.close();
    }
  }, 120_000);
});
