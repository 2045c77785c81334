// Live updates for the console: the server's event outbox (every state change records an event
// there, in its own transaction, and the publisher drains it onto ferry.events.<type>) tells this
// hub when events were committed; every open /events page then gets a server-sent "change" event
// and fetches itself again. In process, so the server's NATS user needs no subscription for it.
import type { ServerResponse } from 'node:http';

const CHANGE = 'event: change\ndata: {}\n\n';

export class LiveEvents {
  private readonly clients = new Set<ServerResponse>();
  /** How many bursts of changes were broadcast: a page is rendered at one, and names it when it listens. */
  private broadcasts = 0;
  private unsubscribe?: () => void;
  private keepAlive?: NodeJS.Timeout;

  /** onRecord: the outbox's "events were recorded" notification (EventOutbox.onRecord). */
  start(onRecord: (listener: () => void) => () => void): void {
    this.unsubscribe = onRecord(() => this.broadcast());
    // A comment line now and then keeps proxies from closing an idle stream.
    this.keepAlive = setInterval(() => this.clients.forEach((res) => res.write(': keep-alive\n\n')), 15_000);
    this.keepAlive.unref();
  }

  /** What a page rendered now is up to date with (`since` when it listens). */
  get generation(): string {
    return String(this.broadcasts);
  }

  /**
   * Hold this response open as an event stream until the client goes away. A page rendered at
   * another generation than the current one (changes came between its render and now, or the
   * server restarted) gets a change at once.
   */
  attach(res: ServerResponse, since?: string): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write('retry: 2000\n\n');
    if (since !== undefined && since !== this.generation) res.write(CHANGE);
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
  }

  broadcast(): void {
    this.broadcasts++;
    for (const res of this.clients) res.write(CHANGE);
  }

  stop(): void {
    this.unsubscribe?.();
    clearInterval(this.keepAlive);
    for (const res of this.clients) res.end();
    this.clients.clear();
  }
}
