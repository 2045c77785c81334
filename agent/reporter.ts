// Sends the agent's reports to the server's report stream. Every report goes through the journal's
// outbox first, so a report made while NATS is down (or the agent crashes) is sent later, in order.
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { headers, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { encodeMessage } from '../shared/protocol/codec.js';
import { TERMINAL_HOST_STATES, type DriftDoc, type InventoryDoc, type StatusReport } from '../shared/protocol/messages.js';
import { REPORT_COUNTER_HEADER, REPORT_SIG_HEADER, reportKind, reportTranscript } from '../shared/protocol/report-signature.js';
import { subjects } from '../shared/protocol/subjects.js';
import type { Journal, PendingReport } from './install/journal.js';
import type { ProgressReport } from './install/machine.js';

const RETRY_MS = 2000;

/** Signs bytes with the agent's own nkey (Ed25519): the server checks its reports against it. */
export type ReportSigner = (bytes: Uint8Array) => Uint8Array;

export class Reporter {
  private js?: JetStreamClient;
  private flushing?: Promise<void>;
  private retryTimer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly agentId: string,
    private readonly journal: Journal,
    private readonly log: Logger,
    /** none: reports are only queued (a local rollback without the daemon); the daemon signs them when it sends them */
    private readonly signer?: ReportSigner,
  ) {}

  attach(nc: NatsConnection): void {
    this.js = jetstream(nc);
    this.flush();
  }

  stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    return this.flushing ?? Promise.resolve();
  }

  status(r: ProgressReport & { waiting?: StatusReport['waiting'] }): void {
    const report: StatusReport = { agent: this.agentId, ts: Date.now(), ...r, installed: this.journal.installedMap() };
    this.journal.queueReport(subjects.status(this.agentId), encodeMessage(report), { operation: r.operation, final: TERMINAL_HOST_STATES.includes(r.state) });
    this.flush();
  }

  /** A final report about the agent itself, not a package (e.g. acknowledging a decommission). */
  agentEvent(operation: string, step: string): void {
    const report: StatusReport = { agent: this.agentId, ts: Date.now(), operation, state: 'succeeded', step, installed: this.journal.installedMap() };
    this.journal.queueReport(subjects.status(this.agentId), encodeMessage(report));
    this.flush();
  }

  inventory(inventory: InventoryDoc, drift?: DriftDoc): void {
    this.journal.queueReport(subjects.inventory(this.agentId), encodeMessage({ agent: this.agentId, ts: Date.now(), inventory, installed: this.journal.installedMap(), ...(drift ? { drift } : {}) }));
    this.flush();
  }

  /** Resolves when everything queued so far has been acknowledged by the stream (or sending failed). */
  flush(): Promise<void> {
    if (this.flushing || !this.js || this.stopped) return this.flushing ?? Promise.resolve();
    this.flushing = this.drain().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async drain(): Promise<void> {
    for (;;) {
      const batch = this.journal.pendingReports(100);
      if (batch.length === 0) return;
      for (const item of batch) {
        try {
          const signed = this.signatureHeaders(item);
          // The signature is the message id: a report sent again because its acknowledgement was
          // lost (a NATS node going away mid-publish) is dropped by the stream's duplicate window,
          // and no other identity can take a report's id before it is sent (it cannot sign for it).
          await this.js!.publish(item.subject, item.payload, { timeout: 5000, ...(signed ? { headers: signed, msgID: signed.get(REPORT_SIG_HEADER) } : {}) });
          this.journal.dropReport(item.id);
        } catch (err) {
          this.log.debug({ err: (err as Error).message }, 'report not sent yet; will retry');
          clearTimeout(this.retryTimer);
          if (!this.stopped) this.retryTimer = setTimeout(() => void this.flush(), RETRY_MS);
          return;
        }
      }
    }
  }

  /**
   * Signed when first sent, not when queued: reports queued without the key (a local rollback) or
   * by an agent version from before signatures are signed too. The counter and signature are kept
   * with the report, so a report sent again (its acknowledgement lost) is the very same one.
   */
  private signatureHeaders(item: PendingReport): MsgHdrs | undefined {
    const kind = reportKind(item.subject);
    if (!this.signer || !kind) return undefined;
    const signature = item.signature ?? this.journal.signReport(item.id, (counter) => Buffer.from(this.signer!(reportTranscript(this.agentId, kind, counter, item.payload))).toString('base64'));
    const h = headers();
    h.set(REPORT_COUNTER_HEADER, String(signature.counter));
    h.set(REPORT_SIG_HEADER, signature.sig);
    return h;
  }
}
