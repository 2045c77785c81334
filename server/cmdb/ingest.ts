// Reads agent reports: status and inventory from the durable report stream (none is lost while
// the server is down; each is acknowledged after it is applied), heartbeats from core NATS.
// Reports an agent signed are checked first (report-auth.ts): a refused one changes nothing.
import { withStoreRetry } from '../nats/replicas.js';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { FerryError, toFerryError } from '../../shared/errors.js';
import { factsFromInventory } from '../../shared/facts.js';
import { decodeMessage } from '../../shared/protocol/codec.js';
import { heartbeatSchema, inventoryReportSchema, statusReportSchema, type StatusReport } from '../../shared/protocol/messages.js';
import type { ReportKind } from '../../shared/protocol/report-signature.js';
import { REPORT_CONSUMER, REPORT_STREAM, agentIdFromSubject, subjects } from '../../shared/protocol/subjects.js';
import { historyLines } from './report-history.js';
import { ReportVerifier, type PreVerified, type RefusalReason, type ReportIdentity } from './report-auth.js';
import { VerifyPool, defaultVerifyThreads, type SignatureJob } from './verify-pool.js';
import type { CmdbStore } from './store.js';

/** What ingest needs of a report message (a JetStream message; the benchmark makes its own). */
export type ReportMsg = Pick<JsMsg, 'subject' | 'data' | 'seq' | 'headers' | 'ack' | 'nak'>;

const REFUSAL_DETAIL: Record<RefusalReason, string> = {
  unsigned: 'not signed, from an agent that signs its reports (forged, e.g. by a site, or an agent downgraded to a version that does not sign)',
  'bad-signature': "the signature does not verify against the agent's key",
  stale: 'older than the reports of this agent already applied (replayed)',
  duplicate: 'already applied (redelivered or replayed)',
};

export interface IngestHandlers {
  onStatus(report: StatusReport): void;
}

export interface IngestOptions {
  /** Threads that verify report signatures ahead of each batch (0: on the ingest thread, in line); default: one a core. */
  verifyThreads?: number;
}

export class ReportIngest {
  private messages?: ConsumerMessages;
  private heartbeatSub?: Subscription;
  private seen = new Map<string, number>();
  private flushTimer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private batch: JsMsg[] = [];
  private draining?: Promise<void>;
  private readonly verifier = new ReportVerifier();
  private readonly pool?: VerifyPool;
  private poolFailed = false;
  private readonly refused: Record<RefusalReason, number> = { unsigned: 0, 'bad-signature': 0, stale: 0, duplicate: 0 };

  constructor(
    private readonly nc: NatsConnection,
    private readonly cmdb: CmdbStore,
    private readonly handlers: IngestHandlers,
    private readonly log: Logger,
    options: IngestOptions = {},
  ) {
    const threads = options.verifyThreads ?? defaultVerifyThreads();
    if (threads > 0) this.pool = new VerifyPool(threads);
  }

  /** `replicas`: copies JetStream keeps (server/nats/replicas.ts); an existing stream is scaled to it. */
  static async ensureStream(nc: NatsConnection, replicas = 1): Promise<void> {
    const jsm = await jetstreamManager(nc);
    const config = { name: REPORT_STREAM, subjects: [...subjects.reportSubjects], max_age: 7 * 24 * 3600 * 1e9, max_msg_size: 256 * 1024, num_replicas: replicas };
    try {
      await jsm.streams.info(REPORT_STREAM);
      await jsm.streams.update(REPORT_STREAM, config);
    } catch {
      await withStoreRetry(() => jsm.streams.add(config));
    }
    try {
      await jsm.consumers.info(REPORT_STREAM, REPORT_CONSUMER);
    } catch {
      await withStoreRetry(() => jsm.consumers.add(REPORT_STREAM, { durable_name: REPORT_CONSUMER, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, max_ack_pending: 10_000, ack_wait: 30e9 }));
    }
  }

  async start(replicas = 1): Promise<void> {
    await ReportIngest.ensureStream(this.nc, replicas);
    this.cmdb.resetReportSeqs((await (await jetstreamManager(this.nc)).streams.info(REPORT_STREAM)).created);
    const consumer = await jetstream(this.nc).consumers.get(REPORT_STREAM, REPORT_CONSUMER);
    // Short pulls: when the NATS node holding the consumer's leader dies, the client notices
    // missed heartbeats (half of `expires`) and pulls again from the new leader; with the default
    // 30 s that stalled a rollout for up to ~40 s after a node loss. Idle, it is a pull every 10 s.
    this.messages = await consumer.consume({ max_messages: 1000, expires: 10_000 });
    const messages = this.messages;
    this.running = (async () => {
      for await (const m of messages) this.enqueue(m);
    })().catch((err: unknown) => this.log.error({ err }, 'report consumer stopped'));
    this.heartbeatSub = this.nc.subscribe(subjects.allHeartbeats, { callback: (_e, msg) => this.handleHeartbeat(msg.subject, msg.data) });
    // Last-seen times are batched: one transaction a second instead of a write per heartbeat.
    this.flushTimer = setInterval(() => this.flushSeen(), 1000);
  }

  async stop(): Promise<void> {
    clearInterval(this.flushTimer);
    this.heartbeatSub?.unsubscribe();
    await this.messages?.close();
    await this.running;
    await this.draining;
    if (this.batch.length) await this.applyReports(this.takeBatch());
    this.flushSeen();
    await this.pool?.close();
  }

  /**
   * Reports that arrive together are applied in one SQLite transaction (then acknowledged):
   * a burst of thousands costs one commit per batch instead of several per report.
   */
  private enqueue(m: JsMsg): void {
    this.batch.push(m);
    if (this.batch.length === 1 && !this.draining) setImmediate(() => this.drain());
  }

  /** One batch at a time: reports that arrive while one is verified or written make the next. */
  private drain(): void {
    if (this.draining || this.batch.length === 0) return;
    this.draining = (async () => {
      while (this.batch.length) await this.applyReports(this.takeBatch());
    })()
      .catch((err: unknown) => this.log.error({ err }, 'report batch failed'))
      .finally(() => {
        this.draining = undefined;
      });
  }

  private takeBatch(): JsMsg[] {
    const batch = this.batch;
    this.batch = [];
    return batch;
  }

  /**
   * Apply reports in one transaction, then acknowledge them (public for the benchmark). Their
   * signatures are verified first, in parallel on the pool's threads; each report is still
   * checked in order inside the transaction (counters, refusals), with its result.
   */
  async applyReports(batch: readonly ReportMsg[]): Promise<void> {
    const verified = await this.verifyAhead(batch).catch((err: unknown) => {
      // e.g. the CMDB could not be read: the transaction below fails the same way, or verifies in line.
      this.log.warn({ err }, 'report signatures: could not verify ahead');
      return [];
    });
    try {
      this.cmdb.transaction(() => {
        batch.forEach((m, i) => this.handleReport(m, verified[i]));
      });
    } catch (err) {
      // A batch that cannot be written is not acknowledged: JetStream redelivers it.
      this.log.error({ err, reports: batch.length }, 'could not apply reports; they will be redelivered');
      for (const m of batch) m.nak(1000);
      return;
    }
    for (const m of batch) m.ack();
  }

  /**
   * The signatures of the batch's reports that pass the cheaper checks against the agents' stored
   * counters, verified on the pool (a replay is refused by its counter, never verified). Within the
   * batch an agent's reports are judged as if each earlier one were admitted; where that guess is
   * wrong (an earlier one refused), check() finds no result for the report and verifies in line.
   */
  private async verifyAhead(batch: readonly ReportMsg[]): Promise<(PreVerified | undefined)[]> {
    const out = new Array<PreVerified | undefined>(batch.length);
    if (!this.pool || this.poolFailed) return out;
    const identities = new Map<string, ReportIdentity | undefined>();
    const jobs: SignatureJob[] = [];
    const at: number[] = [];
    batch.forEach((m, i) => {
      const agent = agentIdFromSubject(m.subject);
      if (!agent) return;
      if (!identities.has(agent)) identities.set(agent, this.cmdb.reportIdentity(agent));
      const identity = identities.get(agent);
      if (!identity) return;
      const job = this.verifier.signatureJob(agent, m.subject === subjects.status(agent) ? 'status' : 'inventory', m.data, m.headers, identity);
      if (!job) return;
      identities.set(agent, { nkey: identity.nkey, recent: job.recent });
      jobs.push(job);
      at.push(i);
    });
    if (jobs.length === 0) return out;
    try {
      const oks = await this.pool.verify(jobs);
      oks.forEach((ok, j) => (out[at[j]!] = { nkey: jobs[j]!.nkey, ok }));
    } catch (err) {
      // Never a reason to skip the check: every report is then verified in line, as without threads.
      this.poolFailed = true;
      this.log.error({ err }, 'report signatures: the verify threads failed; verifying on the ingest thread from now on');
    }
    return out;
  }

  /** Verify threads running now (none before the first signed report, none after stop()). */
  get verifyThreadsRunning(): number {
    return this.pool?.threads ?? 0;
  }

  /** Reports refused since the server started, by reason (the `ferry_reports_refused_total` metric). */
  refusedCounts(): Record<RefusalReason, number> {
    return { ...this.refused };
  }

  private handleReport(m: ReportMsg, verified: PreVerified | undefined): void {
    const agent = agentIdFromSubject(m.subject);
    try {
      const identity = agent ? this.cmdb.reportIdentity(agent) : undefined;
      if (!agent || !identity) {
        this.log.warn({ subject: m.subject }, 'report from an unknown agent dropped');
      } else if (m.subject === subjects.status(agent)) {
        const report = decodeMessage(statusReportSchema, m.data, 'status report');
        if (report.agent !== agent) throw new FerryError('FERRY_INVALID_MESSAGE', `report for ${report.agent} sent on ${m.subject}`);
        const newest = this.admit(m, agent, 'status', identity, verified);
        if (newest === undefined) return;
        if (!newest) this.log.debug({ agent, seq: m.seq, operation: report.operation }, 'an older status report arrived late; its installed versions do not count');
        this.applyStatus(report, newest);
      } else {
        const report = decodeMessage(inventoryReportSchema, m.data, 'inventory report');
        if (report.agent !== agent) throw new FerryError('FERRY_INVALID_MESSAGE', `report for ${report.agent} sent on ${m.subject}`);
        const newest = this.admit(m, agent, 'inventory', identity, verified);
        if (newest === undefined) return;
        if (newest) {
          this.cmdb.setInventory(agent, report.inventory, factsFromInventory(report.inventory));
          this.cmdb.setInstalled(agent, report.installed);
          if (report.drift) this.cmdb.setDrift(agent, report.drift);
        } else {
          this.log.debug({ agent, seq: m.seq }, 'an older inventory report arrived late; a newer one already counts');
        }
        this.seen.set(agent, Date.now());
      }
    } catch (err) {
      // Logged once and dropped: a malformed report must never stall the stream.
      const e = toFerryError(err);
      this.log.warn({ subject: m.subject, code: e.code, reason: e.message }, 'report rejected');
    }
  }

  /**
   * Whether the report is the agent's own and not applied before (report-auth.ts), and if so,
   * whether it is the newest seen; undefined when it is refused (then nothing at all changes).
   */
  private admit(m: ReportMsg, agent: string, kind: ReportKind, identity: ReportIdentity, verified: PreVerified | undefined): boolean | undefined {
    const verdict = this.verifier.check(agent, kind, m.data, m.headers, identity, verified);
    if (!verdict.ok) {
      this.refused[verdict.reason]++;
      // An exact duplicate is what at-least-once delivery does: harmless, so not worth a warning.
      const level = verdict.reason === 'duplicate' ? 'debug' : 'warn';
      this.log[level]({ subject: m.subject, agent, reason: verdict.reason, detail: REFUSAL_DETAIL[verdict.reason] }, 'report refused');
      return undefined;
    }
    if (!verdict.signed) return this.cmdb.claimReportSeq(agent, m.seq);
    this.cmdb.setReportCounters(agent, verdict.recent);
    return verdict.newest;
  }

  /** `newest`: no later report of this agent was applied yet (else its installed map stands). */
  private applyStatus(report: StatusReport, newest: boolean): void {
    // A late status report still tells what happened (history, the rollout), not what is installed now.
    if (newest) this.cmdb.setInstalled(report.agent, report.installed);
    this.seen.set(report.agent, Date.now());
    // One line for each package the report says changed (report-history.ts).
    for (const line of historyLines(report)) this.cmdb.addHistory(report.agent, line);
    this.handlers.onStatus(report);
  }

  private handleHeartbeat(subject: string, data: Uint8Array): void {
    const agent = agentIdFromSubject(subject);
    try {
      const hb = decodeMessage(heartbeatSchema, data, 'heartbeat');
      if (!agent || hb.agent !== agent) return;
      this.seen.set(agent, Date.now());
    } catch (err) {
      this.log.debug({ subject, reason: toFerryError(err).message }, 'heartbeat rejected');
    }
  }

  private flushSeen(): void {
    if (this.seen.size === 0) return;
    const now = Date.now();
    const ids = [...this.seen.keys()];
    this.seen.clear();
    this.cmdb.touch(ids, now);
  }
}
