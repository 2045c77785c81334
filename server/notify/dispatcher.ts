// Delivers outbox events to webhooks: one worker per webhook walks the outbox from its cursor,
// in order, at least once. A failed POST is retried (exponential backoff with jitter, capped)
// until it succeeds, and later events wait behind it, so a receiver that was down gets
// everything it missed, in order, once it is back — also across server restarts, since the
// cursor lives in SQLite.
import type { Logger } from 'pino';
import { matchesEventPattern } from '../../shared/protocol/events.js';
import { toEvent, type EventOutbox, type OutboxRow } from '../events/outbox.js';
import { postEvent } from './deliver.js';
import type { Webhook, WebhookStore } from './store.js';

export interface DeliveryTimings {
  retryBaseMs: number;
  retryCapMs: number;
  timeoutMs: number;
}

export function deliveryTimings(env: NodeJS.ProcessEnv = process.env): DeliveryTimings {
  return {
    retryBaseMs: Number(env.FERRY_NOTIFY_RETRY_BASE_MS ?? 1000),
    retryCapMs: Number(env.FERRY_NOTIFY_RETRY_CAP_MS ?? 5 * 60_000),
    timeoutMs: Number(env.FERRY_NOTIFY_TIMEOUT_MS ?? 10_000),
  };
}

/** Delay before retry number `attempt` (1-based): base·2^(attempt-1), capped, with ±25% jitter. */
export function retryDelay(attempt: number, t: Pick<DeliveryTimings, 'retryBaseMs' | 'retryCapMs'>, random = Math.random): number {
  const raw = Math.min(t.retryCapMs, t.retryBaseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  return Math.round(raw * (0.75 + random() * 0.5));
}

export function webhookWants(h: Pick<Webhook, 'events' | 'release'>, row: Pick<OutboxRow, 'type' | 'release'>): boolean {
  return (h.release === null || row.release === h.release) && h.events.some((p) => matchesEventPattern(p, row.type));
}

const PAGE = 200;
const IDLE_RECHECK_MS = 30_000;

class WebhookWorker {
  private stopped = false;
  private readonly abort = new AbortController();
  private wakeUp?: () => void;
  readonly done: Promise<void>;

  constructor(
    readonly id: string,
    private readonly store: WebhookStore,
    private readonly outbox: EventOutbox,
    private readonly timings: DeliveryTimings,
    private readonly log: Logger,
  ) {
    this.done = this.run().catch((err: unknown) => this.log.error({ err, webhook: id }, 'webhook worker stopped'));
  }

  wake(): void {
    this.wakeUp?.();
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.wake();
    return this.done;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const hook = this.store.get(this.id);
      if (!hook) return; // removed
      const rows = this.outbox.after(hook.cursor, PAGE);
      const next = rows.find((r) => webhookWants(hook, r));
      if (!next) {
        if (rows.length) this.store.skipTo(hook.id, rows[rows.length - 1]!.seq);
        if (rows.length < PAGE) await this.sleep(IDLE_RECHECK_MS, true);
        continue;
      }
      if (next.seq - 1 > hook.cursor) this.store.skipTo(hook.id, next.seq - 1);
      const result = await postEvent(hook.url, hook.secret, toEvent(next), { timeoutMs: this.timings.timeoutMs, signal: this.abort.signal });
      if (this.stopped) return; // not marked: delivered again after the restart (at least once)
      if (result.ok) {
        this.store.delivered(hook.id, next.seq, result.status!);
        continue;
      }
      this.store.failed(hook.id, result.status, result.error ?? 'failed');
      const delay = retryDelay(hook.attempts + 1, this.timings);
      // The URL is not logged: it may carry a token.
      this.log.warn({ webhook: hook.id, event: next.id, type: next.type, status: result.status, error: result.error, attempt: hook.attempts + 1, retryInMs: delay }, 'webhook delivery failed; will retry');
      await this.sleep(delay, false);
    }
  }

  /** Sleep; new events end an idle sleep early, never a backoff; stop() ends any. */
  private sleep(ms: number, wakeable: boolean): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.abort.signal.removeEventListener('abort', done);
        if (this.wakeUp === done) this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.abort.signal.addEventListener('abort', done, { once: true });
      if (wakeable) this.wakeUp = done;
    });
  }
}

export class WebhookDispatcher {
  private readonly workers = new Map<string, WebhookWorker>();
  private unsubscribe?: () => void;
  private stopped = false;

  constructor(
    private readonly store: WebhookStore,
    private readonly outbox: EventOutbox,
    private readonly log: Logger,
    private readonly timings: DeliveryTimings = deliveryTimings(),
  ) {}

  start(): void {
    this.unsubscribe = this.outbox.onRecord(() => {
      for (const w of this.workers.values()) w.wake();
    });
    this.sync();
  }

  /** Start workers for new webhooks and stop those of removed ones. */
  sync(): void {
    if (this.stopped) return;
    const ids = new Set(this.store.list().map((h) => h.id));
    for (const id of ids) if (!this.workers.has(id)) this.workers.set(id, new WebhookWorker(id, this.store, this.outbox, this.timings, this.log));
    for (const [id, w] of this.workers) {
      if (!ids.has(id)) {
        this.workers.delete(id);
        void w.stop();
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    await Promise.all([...this.workers.values()].map((w) => w.stop()));
    this.workers.clear();
  }
}
