// connectNats retries a daemon's first connection forever — unless the daemon is told to stop.
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createUser } from '@nats-io/nkeys';
import { connectNats } from './connect.js';

/** A port nothing listens on: taken, then closed. */
async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('connectNats', () => {
  it('a daemon waiting for NATS gives up when told to stop: AbortError, no more retries', async () => {
    const url = `nats://127.0.0.1:${await deadPort()}`;
    const stop = new AbortController();
    const retries: number[] = [];
    const connecting = connectNats({
      url,
      creds: { jwt: 'unused', seed: new TextDecoder().decode(createUser().getSeed()) },
      name: 'connect-test',
      reconnectForever: true,
      onRetry: (_err, attempt) => {
        retries.push(attempt);
        if (attempt === 2) stop.abort();
      },
      signal: stop.signal,
    });
    await expect(connecting).rejects.toMatchObject({ name: 'AbortError' });
    expect(retries).toEqual([1, 2]);
  }, 60_000);
});
