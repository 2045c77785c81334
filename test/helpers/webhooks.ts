// A webhook receiver for tests: a real node:http server that checks every delivery's signature
// on its own (node:crypto, not Ferry's code), records it, and answers 200 — or 500 for the next
// `failNext` requests. It can be stopped and started again on the same port (receiver outage).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ferryEventSchema, type FerryEvent } from '../../shared/protocol/events.js';

export interface Delivery {
  headers: IncomingHttpHeaders;
  body: string;
  event: FerryEvent;
  /** the HMAC in X-Ferry-Signature matches `<X-Ferry-Timestamp>.<body>` under the secret */
  signatureOk: boolean;
  /** the timestamp is within 5 minutes of now (replay window) */
  fresh: boolean;
  /** what this receiver answered */
  status: number;
}

/** Verify a delivery the way docs/events.md tells receivers to. */
export function verifySignature(secret: string, headers: IncomingHttpHeaders, body: string): { ok: boolean; fresh: boolean } {
  const ts = String(headers['x-ferry-timestamp'] ?? '');
  const sig = String(headers['x-ferry-signature'] ?? '');
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex')}`);
  const got = Buffer.from(sig);
  const ok = got.length === expected.length && timingSafeEqual(got, expected);
  const fresh = /^\d+$/.test(ts) && Math.abs(Date.now() / 1000 - Number(ts)) < 300;
  return { ok, fresh };
}

export class WebhookReceiver {
  readonly deliveries: Delivery[] = [];
  /** answer 500 to this many of the next requests */
  failNext = 0;
  secret = '';
  port = 0;
  private server?: Server;

  get url(): string {
    return `http://127.0.0.1:${this.port}/ferry`;
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  /** Listen (on the same port as before, after a stop). */
  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const { ok, fresh } = verifySignature(this.secret, req.headers, body);
        const status = this.failNext > 0 ? 500 : 200;
        if (this.failNext > 0) this.failNext--;
        this.deliveries.push({ headers: req.headers, body, event: ferryEventSchema.parse(JSON.parse(body)), signatureOk: ok, fresh, status });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stop listening and drop kept-alive connections: the sender sees "connection refused". */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Events answered 2xx (what the receiver accepted), in arrival order. */
  accepted(): FerryEvent[] {
    return this.deliveries.filter((d) => d.status < 300).map((d) => d.event);
  }
}
