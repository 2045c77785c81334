// Prometheus metrics of the server, in the text exposition format (version 0.0.4), computed from
// the database on each scrape: the CMDB and rollout tables are the truth, and counting from them
// keeps the counters right across server restarts. Hand-written: a handful of gauges and
// counters do not justify a metrics library.
import { ROLLOUT_STATES } from '../../shared/protocol/api.js';
import type { Db } from '../db/open.js';

export interface MetricsSources {
  db: Db;
  isOnline: (lastSeen: number | null) => boolean;
  natsConnected: () => boolean;
  /** epoch ms when the server process started */
  startedAt: number;
  /** reports refused since the process started, by reason (server/cmdb/report-auth.ts) */
  reportsRefused?: () => Record<string, number>;
}

type Sample = [labels: Record<string, string> | undefined, value: number];

interface Family {
  name: string;
  help: string;
  type: 'gauge' | 'counter';
  samples: Sample[];
}

export function collectMetrics(s: MetricsSources): string {
  const agents = s.db.prepare('SELECT last_seen FROM agents WHERE revoked_at IS NULL').all() as { last_seen: number | null }[];
  const byState = new Map((s.db.prepare('SELECT state, count(*) AS n FROM rollouts GROUP BY state').all() as { state: string; n: number }[]).map((r) => [r.state, r.n]));
  const installs = s.db.prepare("SELECT count(*) AS n, coalesce(sum(result IN ('failed', 'rolled-back')), 0) AS failed FROM history WHERE kind = 'install'").get() as { n: number; failed: number };
  const packages = (s.db.prepare('SELECT count(*) AS n FROM packages').get() as { n: number }).n;
  const families: Family[] = [
    { name: 'ferry_hosts_total', help: 'Enrolled agents (not revoked).', type: 'gauge', samples: [[undefined, agents.length]] },
    { name: 'ferry_hosts_online', help: 'Agents that reported within the offline threshold.', type: 'gauge', samples: [[undefined, agents.filter((a) => s.isOnline(a.last_seen)).length]] },
    { name: 'ferry_rollouts', help: 'Rollouts by state.', type: 'gauge', samples: ROLLOUT_STATES.map((state) => [{ state }, byState.get(state) ?? 0] as Sample) },
    { name: 'ferry_installs_total', help: 'Installs finished on agents, any outcome (rate() gives installs per second).', type: 'counter', samples: [[undefined, installs.n]] },
    { name: 'ferry_install_failures_total', help: 'Installs that failed or were rolled back on the agent.', type: 'counter', samples: [[undefined, installs.failed]] },
    { name: 'ferry_dml_packages', help: 'Packages in the Definitive Media Library.', type: 'gauge', samples: [[undefined, packages]] },
    {
      name: 'ferry_reports_refused_total',
      help: 'Agent reports refused since the server started: unsigned or badly signed for an agent that signs (forged), stale or duplicate (replayed or redelivered).',
      type: 'counter',
      samples: Object.entries(s.reportsRefused?.() ?? {}).map(([reason, n]) => [{ reason }, n] as Sample),
    },
    { name: 'ferry_nats_connected', help: '1 while the server is connected to NATS, else 0.', type: 'gauge', samples: [[undefined, s.natsConnected() ? 1 : 0]] },
    { name: 'ferry_uptime_seconds', help: 'Seconds since the server process started.', type: 'gauge', samples: [[undefined, Math.max(0, (Date.now() - s.startedAt) / 1000)]] },
    { name: 'process_start_time_seconds', help: 'Start time of the process since unix epoch in seconds.', type: 'gauge', samples: [[undefined, s.startedAt / 1000]] },
    { name: 'process_resident_memory_bytes', help: 'Resident memory size in bytes.', type: 'gauge', samples: [[undefined, process.memoryUsage().rss]] },
  ];
  return families.map(render).join('');
}

function render(f: Family): string {
  const lines = [`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`];
  for (const [labels, value] of f.samples) lines.push(`${f.name}${labels ? `{${Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}` : ''} ${formatValue(value)}`);
  return lines.join('\n') + '\n';
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatValue(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(3);
}
