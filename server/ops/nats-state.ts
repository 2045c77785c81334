// Whether the server's own NATS connection is up, from the client's status events.
import type { NatsConnection } from '@nats-io/transport-node';

export interface NatsState {
  connected(): boolean;
}

export function trackNatsConnection(nc: NatsConnection): NatsState {
  let up = !nc.isClosed();
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'close') up = false;
      else if (s.type === 'reconnect') up = true;
    }
  })().catch(() => {
    up = false;
  });
  return { connected: () => up && !nc.isClosed() };
}
