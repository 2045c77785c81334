// What /healthz and /metrics report for a running server: its database and its NATS connection.
import type { Db } from '../db/open.js';
import type { HealthDoc, OpsProbe } from './http.js';
import { collectMetrics, type MetricsSources } from './metrics.js';

export function serverProbe(sources: MetricsSources): OpsProbe {
  return {
    health: () => {
      const db = checkDb(sources.db);
      const nats = sources.natsConnected() ? 'connected' : 'disconnected';
      const doc: HealthDoc = { status: db === 'ok' && nats === 'connected' ? 'ok' : 'unhealthy', nats, db };
      return doc;
    },
    metrics: () => collectMetrics(sources),
  };
}

function checkDb(db: Db): string {
  try {
    db.prepare('SELECT count(*) FROM meta').get();
    return 'ok';
  } catch (err) {
    return `error: ${(err as Error).message}`;
  }
}
