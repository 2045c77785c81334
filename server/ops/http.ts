// The operations endpoint of `ferry server` (node:http, on a local address given with
// --metrics-listen): GET /healthz answers 200 with {status:'ok', nats:'connected', db:'ok'}, or
// 503 while the server is starting, NATS is disconnected or the database fails; GET /metrics
// answers Prometheus text. Nothing else is served, and nothing here changes state.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { FerryError } from '../../shared/errors.js';

export interface HealthDoc {
  status: 'ok' | 'starting' | 'unhealthy';
  nats: 'connected' | 'disconnected' | 'unknown';
  db: string;
}

export interface OpsProbe {
  health(): HealthDoc;
  metrics(): string;
}

/** Until the server is ready: unhealthy, and no metrics yet. */
export const STARTING_PROBE: OpsProbe = {
  health: () => ({ status: 'starting', nats: 'unknown', db: 'unknown' }),
  metrics: () => '',
};

export interface OpsHttp {
  /** http://HOST:PORT, with the port actually bound */
  url: string;
  setProbe(probe: OpsProbe): void;
  close(): Promise<void>;
}

export function parseMetricsListen(listen: string): { host: string; port: number } {
  const m = /^(.+):(\d{1,5})$/.exec(listen.trim());
  if (!m || Number(m[2]) > 65535) throw new FerryError('FERRY_INVALID_INPUT', `--metrics-listen "${listen}" is not HOST:PORT`, { hint: 'e.g. --metrics-listen 127.0.0.1:9464' });
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

export async function startOpsHttp(listen: string, log: Logger): Promise<OpsHttp> {
  const { host, port } = parseMetricsListen(listen);
  let probe = STARTING_PROBE;
  const server: Server = createServer((req, res) => handle(req, res, probe, log));
  server.headersTimeout = 5000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new FerryError(err.code === 'EADDRINUSE' ? 'FERRY_CONFLICT' : 'FERRY_INVALID_INPUT', `cannot serve metrics on ${listen}: ${err.code ?? err.message}`, { hint: 'choose another --metrics-listen address' })),
    );
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  log.info({ url }, 'serving /healthz and /metrics');
  return {
    url,
    setProbe: (p) => {
      probe = p;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function handle(req: IncomingMessage, res: ServerResponse, probe: OpsProbe, log: Logger): void {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n', { allow: 'GET, HEAD' });
  try {
    if (path === '/healthz') {
      const doc = probe.health();
      return send(res, doc.status === 'ok' ? 200 : 503, 'application/json', JSON.stringify(doc) + '\n');
    }
    if (path === '/metrics') return send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', probe.metrics());
    return send(res, 404, 'text/plain', 'not found: try /healthz or /metrics\n');
  } catch (err) {
    log.error({ err: String(err), path }, 'operations endpoint failed');
    return send(res, 500, 'text/plain', 'internal error\n');
  }
}

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
