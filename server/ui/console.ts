// The web console as one unit for the server to start and stop: sessions checked against the
// operator registry, live updates from the event outbox, and the HTTP(S) listener whose reads
// and actions go through the admin API router as the signed-in operator.
import type { Logger } from 'pino';
import type { ApiRouter } from '../api/router.js';
import type { OperatorRegistry } from '../operators/registry.js';
import { startConsoleHttp, type ConsoleHttp } from './http.js';
import { LiveEvents } from './live.js';
import { ConsoleSessions } from './session.js';

export interface ConsoleDeps {
  listen: string;
  tls?: { cert: string; key: string } | undefined;
  /** the event outbox's notification of newly recorded events */
  onEvents: (listener: () => void) => () => void;
  router: Pick<ApiRouter, 'call'>;
  operators: Pick<OperatorRegistry, 'get'>;
  log: Logger;
}

export async function startConsole(d: ConsoleDeps): Promise<ConsoleHttp> {
  const sessions = new ConsoleSessions((name) => {
    const op = d.operators.get(name);
    return op && !op.revokedAt ? { name: op.name, role: op.role } : undefined;
  });
  const live = new LiveEvents();
  const http = await startConsoleHttp({ listen: d.listen, tls: d.tls, sessions, call: (caller, verb, body) => d.router.call(verb, body, caller), live, log: d.log });
  live.start(d.onEvents);
  return http;
}

export type { ConsoleHttp } from './http.js';
