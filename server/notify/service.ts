// Webhook use cases behind the admin API: add (validated, with a generated secret unless one is
// given), list (never the secret), remove, test, and a release's communication plan.
import { randomBytes, randomUUID } from 'node:crypto';
import { FerryError } from '../../shared/errors.js';
import { EVENT_PATTERN, EVENT_TYPES, EVENT_SCHEMA_VERSION, eventSubject, matchesEventPattern, patternMatchesSomeType, TEST_EVENT_TYPE, type FerryEvent } from '../../shared/protocol/events.js';
import type { EventOutbox } from '../events/outbox.js';
import { postEvent } from './deliver.js';
import type { DeliveryTimings, WebhookDispatcher } from './dispatcher.js';
import type { Webhook, WebhookStore } from './store.js';

export type { WebhookDoc } from '../../shared/protocol/replies.js';
import type { WebhookDoc } from '../../shared/protocol/replies.js';

/** Event types a release's communication plan covers (events that carry `release`). */
const RELEASE_SCOPED_TYPES = EVENT_TYPES.filter((t) => /^(release|rollout|wave|host)\./.test(t));

export class NotifyService {
  constructor(
    private readonly store: WebhookStore,
    private readonly outbox: EventOutbox,
    private readonly dispatcher: WebhookDispatcher,
    private readonly timings: DeliveryTimings,
    private readonly releaseExists: (name: string) => boolean,
  ) {}

  add(req: { url: string; events: string[]; secret?: string | undefined; release?: string | undefined }): WebhookDoc & { secret: string } {
    const url = validateWebhookUrl(req.url);
    const events = [...new Set(req.events.map((e) => e.trim()).filter(Boolean))];
    if (events.length === 0) throw new FerryError('FERRY_INVALID_INPUT', '--events names no event types', { hint: 'e.g. --events rollout.completed,rollout.halted or --events "rollout.*"' });
    for (const e of events) {
      if (!EVENT_PATTERN.test(e) || !patternMatchesSomeType(e)) {
        throw new FerryError('FERRY_INVALID_INPUT', `"${e}" matches no Ferry event type`, { hint: 'see docs/events.md; globs like rollout.* and * work' });
      }
    }
    if (req.release !== undefined && !this.releaseExists(req.release)) {
      throw new FerryError('FERRY_NOT_FOUND', `release ${req.release} does not exist`, { hint: 'see: ferry release list' });
    }
    if (req.secret !== undefined && req.secret.length < 16) {
      throw new FerryError('FERRY_INVALID_INPUT', 'a webhook secret has at least 16 characters', { hint: 'leave out --secret to get a random one' });
    }
    const secret = req.secret ?? randomBytes(32).toString('base64url');
    // New webhooks receive events from now on, not the backlog.
    const hook = this.store.add({ id: `wh-${randomBytes(4).toString('hex')}`, url: url.href, events, release: req.release ?? null, secret, cursor: this.outbox.lastSeq() });
    this.dispatcher.sync();
    return { ...this.doc(hook), secret };
  }

  list(): WebhookDoc[] {
    return this.store.list().map((h) => this.doc(h));
  }

  remove(id: string): { id: string; removed: true } {
    if (!this.store.remove(id)) throw notFound(id);
    this.dispatcher.sync();
    return { id, removed: true };
  }

  /** POST a `notify.test` event now (outside the event sequence) and report the answer; anything but 2xx is FERRY_DELIVERY_FAILED. */
  async test(id: string): Promise<{ id: string; event: string; ok: boolean; status: number | null; error: string | null; durationMs: number }> {
    const hook = this.store.get(id);
    if (!hook) throw notFound(id);
    const event: FerryEvent = {
      version: EVENT_SCHEMA_VERSION,
      id: randomUUID(),
      seq: 0,
      type: TEST_EVENT_TYPE,
      ts: new Date().toISOString(),
      subject: eventSubject(TEST_EVENT_TYPE),
      data: { webhook: hook.id, message: 'a test event from `ferry notify test`' },
    };
    const r = await postEvent(hook.url, hook.secret, event, { timeoutMs: this.timings.timeoutMs });
    const result = { id: hook.id, event: event.id, ok: r.ok, status: r.status, error: r.error ?? null, durationMs: r.durationMs };
    // thrown, not returned: the router audits a returned reply as ok
    if (!r.ok) {
      throw new FerryError('FERRY_DELIVERY_FAILED', `webhook ${hook.id} did not accept the test event: ${r.error ?? `HTTP ${r.status}`}`, { hint: 'the receiver must answer 2xx', details: result });
    }
    return result;
  }

  /** The webhooks told about a release: scoped to it, or to every release, for its events. */
  communicationPlan(release: string): { id: string; url: string; events: string[]; scope: 'release' | 'all' }[] {
    return this.store
      .list()
      .filter((h) => h.release === release || (h.release === null && h.events.some((p) => RELEASE_SCOPED_TYPES.some((t) => matchesEventPattern(p, t)))))
      .map((h) => ({ id: h.id, url: shownWebhookUrl(h.url), events: h.events, scope: h.release === null ? ('all' as const) : ('release' as const) }));
  }

  private doc(h: Webhook): WebhookDoc {
    const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
    return {
      id: h.id,
      url: shownWebhookUrl(h.url),
      events: h.events,
      release: h.release,
      createdAt: iso(h.createdAt)!,
      delivered: h.delivered,
      failures: h.failures,
      pending: this.store.pending(h),
      lastStatus: h.lastStatus,
      lastError: h.lastError,
      lastAttemptAt: iso(h.lastAttemptAt),
      lastDeliveredAt: iso(h.lastDeliveredAt),
    };
  }
}

export function validateWebhookUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new FerryError('FERRY_INVALID_INPUT', `"${text}" is not a URL`, { hint: 'e.g. https://hooks.example.com/ferry' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new FerryError('FERRY_INVALID_INPUT', `webhook URLs must be http or https, not ${url.protocol.replace(/:$/, '')}`, { hint: 'e.g. https://hooks.example.com/ferry' });
  }
  if (!url.hostname) throw new FerryError('FERRY_INVALID_INPUT', `"${text}" names no host`);
  // Everyone who may read (viewers too) sees webhook URLs: a password in one would be shown.
  // The message does not echo the URL, for the same reason.
  if (url.username || url.password) {
    throw new FerryError('FERRY_INVALID_INPUT', 'webhook URLs must not carry a user name or password (user:pass@host)', {
      hint: 'Ferry signs every delivery with the webhook secret (--secret, or a random one): verify X-Ferry-Signature in the receiver instead',
    });
  }
  return url;
}

/**
 * A webhook URL as it is shown (list, release show, the console): its query and fragment elided,
 * since receivers often take a token there, and any user info left out (a webhook stored before
 * such URLs were refused).
 */
export function shownWebhookUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return '(not a URL)';
  }
  return `${url.protocol}//${url.host}${url.pathname}${url.search ? '?…' : ''}${url.hash ? '#…' : ''}`;
}

function notFound(id: string): FerryError {
  return new FerryError('FERRY_NOT_FOUND', `no webhook ${id}`, { hint: 'see: ferry notify list' });
}
