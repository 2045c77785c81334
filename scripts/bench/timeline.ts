// Where a benchmarked rollout's wall time goes (FERRY_BENCH_TIMELINE=1): per-second CPU of every
// process involved, and, read afterwards from the server's database and each simulated agent's
// journal, when each host was sent its desired state, when its agent started and finished the
// install, and when the server recorded the result. Printed to stderr; the figures are unchanged.
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export const timelineWanted = (): boolean => process.env.FERRY_BENCH_TIMELINE === '1';

/**
 * Samples the CPU seconds of the named processes (and the whole machine) once a second until
 * stop(), from a child process: the simulated agents may share this process's event loop and
 * starve a timer here for many seconds.
 */
export function sampleCpu(pids: Record<string, number[]>): { stop(): { t: number; busy: Record<string, number> }[] } {
  const rows: { t: number; busy: Record<string, number> }[] = [];
  const child = spawn(process.execPath, ['--input-type=module', '-e', SAMPLER, JSON.stringify(pids)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      rows.push(JSON.parse(buf.slice(0, i)) as { t: number; busy: Record<string, number> });
      buf = buf.slice(i + 1);
    }
  });
  return {
    stop: () => {
      child.kill();
      return rows;
    },
  };
}

// user nice system irq softirq steal of /proc/stat's first line: every process's CPU ('machine'),
// to tell an idle machine from one that other work keeps busy. USER_HZ is 100 on Linux.
const SAMPLER = `
import { readFileSync } from 'node:fs';
const pids = JSON.parse(process.argv[1]);
const proc = (p) => { try { const f = readFileSync('/proc/' + p + '/stat', 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) / 100; } catch { return 0; } };
const machine = () => { const f = readFileSync('/proc/stat', 'utf8').split('\\n')[0].trim().split(/\\s+/).slice(1).map(Number); return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / 100; };
const read = () => ({ ...Object.fromEntries(Object.entries(pids).map(([k, ps]) => [k, ps.reduce((s, p) => s + proc(p), 0)])), machine: machine() });
let last = read(), lastT = Date.now();
setInterval(() => {
  const now = read(), t = Date.now();
  process.stdout.write(JSON.stringify({ t, busy: Object.fromEntries(Object.keys(now).map((k) => [k, (now[k] - last[k]) / ((t - lastT) / 1000)])) }) + '\\n');
  last = now; lastT = t;
}, 1000);
`;

/** What the fleet costs doing nothing (heartbeats): the CPU of each process over `ms`, before any rollout. */
export async function printIdleCpu(pids: Record<string, number[]>, ms: number): Promise<void> {
  const cpu = sampleCpu(pids);
  await new Promise((r) => setTimeout(r, ms));
  const rows = cpu.stop();
  const names = rows.length ? Object.keys(rows[0]!.busy) : [];
  const mean = (k: string) => rows.reduce((s, r) => s + r.busy[k]!, 0) / rows.length;
  process.stderr.write(`## idle fleet (${rows.length} s before the rollouts): cores busy ${names.map((k) => `${k} ${mean(k).toFixed(2)}`).join(', ')}\n`);
}

interface HostTimes {
  sent: number | null;
  agentStart?: number;
  agentDone?: number;
  finished: number | null;
}

/** Print the rollout's phases (seconds since its start) and a per-second table of events and CPU. */
export function printTimeline(label: string, serverHome: string, simDir: string | undefined, rolloutId: string, cpu: { t: number; busy: Record<string, number> }[], operation = rolloutId, since?: number): void {
  const db = new Database(join(serverHome, 'ferry.db'), { readonly: true, fileMustExist: true });
  const r = db.prepare('SELECT started_at, ended_at FROM rollouts WHERE id = ?').get(rolloutId) as { started_at: number; ended_at: number | null };
  const hosts = new Map<string, HostTimes>();
  for (const h of db.prepare('SELECT agent_id, sent_at, finished_at FROM rollout_hosts WHERE rollout_id = ?').all(rolloutId) as { agent_id: string; sent_at: number | null; finished_at: number | null }[]) {
    hosts.set(h.agent_id, { sent: h.sent_at, finished: h.finished_at });
  }
  // One event per host state change the server recorded (each from an agent's report). Published
  // events are pruned from the outbox every minute: on a long run these counts are a lower bound.
  const events = db.prepare("SELECT type, count(*) AS n FROM event_outbox WHERE type LIKE 'host.%' AND json_extract(data, '$.rollout') = ? AND ts >= ? GROUP BY type").all(rolloutId, since ?? r.started_at) as { type: string; n: number }[];
  db.close();
  const agentStarts: number[] = [];
  const agentDones: number[] = [];
  for (const journal of simDir ? journals(simDir) : []) {
    const j = new Database(journal, { readonly: true, fileMustExist: true });
    try {
      const ops = j.prepare("SELECT started_at, updated_at, step FROM operations WHERE operation = ? ORDER BY id").all(operation) as { started_at: number; updated_at: number; step: string }[];
      if (ops.length) {
        agentStarts.push(ops[0]!.started_at);
        agentDones.push(ops[ops.length - 1]!.updated_at);
      }
    } finally {
      j.close();
    }
  }
  const t0 = since ?? r.started_at;
  const sents = [...hosts.values()].map((h) => h.sent).filter((x): x is number => x !== null);
  const finishes = [...hosts.values()].map((h) => h.finished).filter((x): x is number => x !== null);
  const q = (xs: number[]) => {
    if (!xs.length) return 'none';
    const s = [...xs].sort((a, b) => a - b);
    const at = (p: number) => ((s[Math.min(s.length - 1, Math.floor(p * s.length))]! - t0) / 1000).toFixed(1);
    return `first ${at(0)} p50 ${at(0.5)} p90 ${at(0.9)} last ${at(1)} (${s.length})`;
  };
  const out = [
    `## timeline: ${label} (${rolloutId}; seconds since its start; ended at ${r.ended_at ? ((r.ended_at - t0) / 1000).toFixed(1) : '—'})`,
    `  sent (server)          ${q(sents)}`,
    `  install started (agent) ${q(agentStarts)}`,
    `  install done (agent)    ${q(agentDones)}`,
    `  recorded (server)      ${q(finishes)}`,
    `  host state changes (events left in the outbox) ${events.map((e) => `${e.type.slice(5)} ${e.n}`).join(', ')}`,
  ];
  const bucket = (xs: number[], s: number) => xs.filter((x) => Math.floor((x - t0) / 1000) === s).length;
  const end = Math.ceil(((r.ended_at ?? Date.now()) - t0) / 1000);
  const names = cpu.length ? Object.keys(cpu[0]!.busy) : [];
  out.push(`  s    sent  started  done  recorded  cpu(${names.join(' ')})`);
  for (let s = 0; s <= end; s++) {
    const c = cpu.find((row) => Math.floor((row.t - t0) / 1000) === s);
    const cells = [bucket(sents, s), bucket(agentStarts, s), bucket(agentDones, s), bucket(finishes, s)].map((n) => String(n).padStart(6));
    out.push(`  ${String(s).padStart(4)} ${cells.join(' ')}  ${c ? names.map((n) => c.busy[n]!.toFixed(2)).join(' ') : ''}`);
  }
  process.stderr.write(`${out.join('\n')}\n`);
}

function journals(simDir: string): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const p = join(dir, e.name);
      if (existsSync(join(p, 'journal.db'))) found.push(join(p, 'journal.db'));
      else if (depth < 2) walk(p, depth + 1);
    }
  };
  walk(simDir, 0);
  return found;
}
