// Connect, run, close: how every command reaches the server. The NATS client and the reply
// schemas (./client.ts) are loaded when a command connects, not when the CLI starts, so
// `--help`, `--version` and the local commands never read them (docs/performance.md).
import type { AdminClient, ConnectionFlags } from './client.js';

export async function withClient<T>(flags: ConnectionFlags, fn: (c: AdminClient) => Promise<T>): Promise<T> {
  const { AdminClient } = await import('./client.js');
  const client = await AdminClient.connect(flags);
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}
