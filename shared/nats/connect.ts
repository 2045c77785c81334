// Connecting to NATS with a user JWT and its nkey (decentralised auth), the same way for the
// server, the CLI, enrolment and agents.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { nativeAuthenticator } from './nkey-auth.js';
import type { NatsCreds } from './creds.js';
import { FerryError } from '../errors.js';

export type { NatsConnection };

export interface ConnectOptions {
  /** one URL, or several separated by commas (the members of a cluster: any one will do) */
  url: string;
  /** the user JWT and the nkey seed it was issued for */
  creds: NatsCreds;
  name: string;
  inboxPrefix?: string;
  /** keep reconnecting forever (daemons) or give up quickly (CLI) */
  reconnectForever?: boolean;
  timeoutMs?: number;
  /** CA certificate (PEM file) that signed the server's TLS certificate; enables TLS */
  tlsCaFile?: string | undefined;
  /** try the URLs in the order given (an agent at a site: its leafnode first, the hub as fallback) */
  inOrder?: boolean;
  /** how many times a refused or timed-out first connection is retried (default 8) */
  attempts?: number;
  /**
   * A daemon that keeps reconnecting forever once connected, but gives up on its first connection
   * after `attempts` tries (and at once on refused credentials): an external NATS named on the
   * command line that never answered is a wrong URL, not a server still starting.
   */
  failFirstConnect?: boolean;
  onRetry?: (err: unknown, attempt: number) => void;
  /** stop retrying (a daemon told to stop before it ever connected): rejects with an AbortError */
  signal?: AbortSignal;
}

/**
 * Connect; a timeout (a busy server) is retried a few times. An authorization error is final for
 * a CLI (no reloads any more: a JWT is valid or it is not); a daemon keeps trying, since its
 * server may be restoring its accounts.
 */
export async function connectNats(opts: ConnectOptions): Promise<NatsConnection> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await connectOnce(opts);
    } catch (err) {
      // A daemon waits for its server however long it takes; a CLI gives up after a few tries.
      const timeout = err instanceof FerryError && /: timeout/.test(err.message);
      const refused = err instanceof FerryError && /refused the credentials/.test(err.message);
      const persistent = opts.reconnectForever && !opts.failFirstConnect;
      const transient = persistent || timeout || (opts.failFirstConnect === true && !refused);
      if (!transient || (!persistent && attempt >= (opts.attempts ?? 8))) throw err;
      opts.signal?.throwIfAborted();
      opts.onRetry?.(err, attempt);
      await sleep(Math.min(opts.reconnectForever ? 5000 : 2000, 100 * 2 ** attempt) * (0.5 + Math.random()), undefined, opts.signal ? { signal: opts.signal } : {});
    }
  }
}

/** `nats://a:4222,nats://b:4222` → the list the client wants (it tries them in turn). */
export function splitUrls(url: string): string[] {
  return url.split(',').map((u) => u.trim()).filter((u) => u.length > 0);
}

async function connectOnce(opts: ConnectOptions): Promise<NatsConnection> {
  try {
    return await connect({
      servers: splitUrls(opts.url),
      ...(opts.inOrder ? { noRandomize: true } : {}),
      name: opts.name,
      authenticator: nativeAuthenticator(opts.creds.seed, opts.creds.jwt),
      ...(opts.inboxPrefix ? { inboxPrefix: opts.inboxPrefix } : {}),
      timeout: opts.timeoutMs ?? 5000,
      maxReconnectAttempts: opts.reconnectForever ? -1 : 10,
      reconnectTimeWait: 500,
      // The first connection is retried by connectNats; later reconnects by the client. A daemon
      // keeps trying through authorization errors (a revoked agent is stopped by its server).
      ignoreAuthErrorAbort: opts.reconnectForever ?? false,
      pingInterval: 10_000,
      // No Error (with its stack) made up front for every request: our errors say what failed.
      noAsyncTraces: true,
      ...(opts.tlsCaFile ? { tls: { caFile: opts.tlsCaFile } } : {}),
    });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (/authoriz|authentic/i.test(message)) {
      throw new FerryError('FERRY_SERVER_UNREACHABLE', `NATS at ${opts.url} refused the credentials (${message})`, {
        hint: 'check the credentials file, or whether this identity was revoked',
        cause: err,
      });
    }
    if (/certificate|tls|ssl/i.test(message)) {
      throw new FerryError('FERRY_SERVER_UNREACHABLE', `TLS with NATS at ${opts.url} failed: ${message}`, {
        hint: 'the server serves TLS: pass --tls-ca FILE with the CA (or self-signed certificate) it uses',
        cause: err,
      });
    }
    throw new FerryError('FERRY_SERVER_UNREACHABLE', `cannot reach NATS at ${opts.url}: ${message}`, {
      hint: 'is `ferry server` running? start it with: ferry server',
      cause: err,
    });
  }
}
