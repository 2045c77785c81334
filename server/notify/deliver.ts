// One signed HTTP POST of one event to one webhook. The body is the event's JSON; the signature
// is HMAC-SHA256 over `<timestamp>.<body>` with the webhook's secret (docs/events.md shows how
// to verify it). Only a 2xx answer counts as delivered; redirects are not followed.
import { createHmac } from 'node:crypto';
import { signedPayload, WEBHOOK_HEADERS, type FerryEvent } from '../../shared/protocol/events.js';

export interface DeliveryResult {
  ok: boolean;
  /** the HTTP status, or null when no answer came (refused, timed out, …) */
  status: number | null;
  error?: string;
  durationMs: number;
}

export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(signedPayload(timestamp, body)).digest('hex')}`;
}

export async function postEvent(url: string, secret: string, event: FerryEvent, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<DeliveryResult> {
  const body = JSON.stringify(event);
  const timestamp = String(Math.floor(Date.now() / 1000));
  const started = Date.now();
  const signal = opts.signal ? AbortSignal.any([opts.signal, AbortSignal.timeout(opts.timeoutMs)]) : AbortSignal.timeout(opts.timeoutMs);
  try {
    const res = await fetch(url, {
      method: 'POST',
      redirect: 'manual',
      signal,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'ferry-notify/1',
        [WEBHOOK_HEADERS.event]: event.type,
        [WEBHOOK_HEADERS.delivery]: event.id,
        [WEBHOOK_HEADERS.timestamp]: timestamp,
        [WEBHOOK_HEADERS.signature]: webhookSignature(secret, timestamp, body),
      },
      body,
    });
    await res.body?.cancel().catch(() => undefined);
    const ok = res.status >= 200 && res.status < 300;
    return { ok, status: res.status, ...(ok ? {} : { error: `HTTP ${res.status}` }), durationMs: Date.now() - started };
  } catch (err) {
    return { ok: false, status: null, error: describeFetchError(err, opts.timeoutMs), durationMs: Date.now() - started };
  }
}

/** A short reason without the URL (it may carry a token). */
function describeFetchError(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  if (e.name === 'AbortError') return 'aborted';
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}
