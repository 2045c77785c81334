// Live updates for the console: the server's event outbox (every state change records an event
// there, in its own transaction, and the publisher drains it onto ferry.events.<type>) tells this
// hub when events were committed; every open /events page then gets a server-sent "change" event
// and fetches itself again. In process, so the server's NATS user needs no subscription for it.
import type { ServerResponse } from 'node:http';

export class LiveEvents {
  private readonly clients = new Set<ServerResponse>();
  private unsubscribe?: () => void;
  private keepAlive?: NodeJS.Timeout;

  /** onRecord: the outbox's "events were recorded" notification (EventOutbox.onRecord). */
  start(onRecord: (listener: () => void) => () => void): void {
    this.unsubscribe = onRecord(() => this.broadcast());
    // A comment line now and then keeps proxies from closing an idle stream.
    this.keepAlive = setInterval(() => this.clients.forEach((res) => res.write(': keep-alive\n\n')), 15_000);
    this.keepAlive.unref();
  }

  /** Hold this response open as an event stream until the client goes away. */
  attach(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write('retry: 2000\n\n');
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
  }

  broadcast(): void {
    const line = `event: change\ndata: {}\n\n`;
    for (const res of this.clients) res.write(line);
  }

  stop(): void {
    this.unsubscribe?.();
    clearInterval(this.keepAlive);
    for (const res of this.clients) res.end();
    this.clients.clear();
  }
}
