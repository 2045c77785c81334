// Connecting to NATS with an nkey identity, the same way for the server, the CLI and agents.
import { connect, usernamePasswordAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { nativeNkeyAuthenticator } from './nkey-auth.js';
import { readFileSync } from 'node:fs';
import { FerryError } from '../errors.js';

export type { NatsConnection };

export interface ConnectOptions {
  url: string;
  /** nkey seed (S…) as text */
  seed?: string;
  /** or a user and password (only the enrolment user logs in that way) */
  user?: { name: string; password: string };
  name: string;
  inboxPrefix?: string;
  /** keep reconnecting forever (daemons) or give up quickly (CLI) */
  reconnectForever?: boolean;
  timeoutMs?: number;
  /** CA certificate (PEM file) that signed the server's TLS certificate; enables TLS */
  tlsCaFile?: string | undefined;
  /** how many times a refused or timed-out first connection is retried (default 8) */
  attempts?: number;
  onRetry?: (err: unknown, attempt: number) => void;
}

/**
 * Connect; an authorization error is retried a few times, because nats-server 2.9 can refuse a
 * valid nkey while it reloads its configuration (which it does each time an agent joins).
 */
export async function connectNats(opts: ConnectOptions): Promise<NatsConnection> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await connectOnce(opts);
    } catch (err) {
      // A daemon waits for its server however long it takes; a CLI gives up after a few tries.
      const transient = opts.reconnectForever || (err instanceof FerryError && /refused the credentials|: timeout/.test(err.message));
      if (!transient || (!opts.reconnectForever && attempt >= (opts.attempts ?? 8))) throw err;
      opts.onRetry?.(err, attempt);
      await new Promise((r) => setTimeout(r, Math.min(opts.reconnectForever ? 5000 : 2000, 100 * 2 ** attempt) * (0.5 + Math.random())));
    }
  }
}

async function connectOnce(opts: ConnectOptions): Promise<NatsConnection> {
  try {
    return await connect({
      servers: opts.url,
      name: opts.name,
      authenticator: opts.user ? usernamePasswordAuthenticator(opts.user.name, opts.user.password) : nativeNkeyAuthenticator(opts.seed ?? '').authenticator,
      ...(opts.inboxPrefix ? { inboxPrefix: opts.inboxPrefix } : {}),
      timeout: opts.timeoutMs ?? 5000,
      maxReconnectAttempts: opts.reconnectForever ? -1 : 10,
      reconnectTimeWait: 500,
      // The first connection is retried by connectNats; later reconnects by the client, which
      // keeps trying through transient authorization errors (see connectNats).
      ignoreAuthErrorAbort: opts.reconnectForever ?? false,
      pingInterval: 10_000,
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

export function readSeedFile(file: string): string {
  try {
    const seed = readFileSync(file, 'utf8').trim();
    if (!/^S[A-Z2-7]{57}$/.test(seed)) throw new Error('not an nkey seed');
    return seed;
  } catch (err) {
    throw new FerryError('FERRY_NOT_INITIALIZED', `cannot read credentials ${file}: ${(err as Error).message}`, {
      hint: 'run `ferry init` first, or pass --creds FILE with an nkey seed',
    });
  }
}
