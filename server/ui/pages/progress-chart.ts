// The rollout page's "hosts finished over time": a step line of every host that reached an end
// (succeeded, failed or rolled back) and one of the failed ones, from the rollout's start to its
// end (or now). SVG with classes only: the console's CSP allows no inline styles.
import { html, type Html } from './html.js';

const FINISHED = new Set(['succeeded', 'failed', 'rolled-back']);
const FAILED = new Set(['failed', 'rolled-back']);

export interface ProgressInput {
  startedAt?: string | undefined;
  endedAt?: string | undefined;
  hosts: { state: string; finishedAt?: string | undefined }[];
}

export interface ProgressSeries {
  /** hosts the rollout sends to (skipped hosts are not counted) */
  total: number;
  spanMs: number;
  /** [ms after the start, hosts finished by then], one point per finished host, in time order */
  finished: [number, number][];
  failed: [number, number][];
}

/** The chart's data: cumulative counts of finished and failed hosts against time since the start. */
export function progressSeries(input: ProgressInput, now = Date.now()): ProgressSeries | undefined {
  if (!input.startedAt) return undefined;
  const start = Date.parse(input.startedAt);
  const end = input.endedAt ? Date.parse(input.endedAt) : now;
  const total = input.hosts.filter((h) => h.state !== 'skipped').length;
  const ends = input.hosts
    .filter((h) => FINISHED.has(h.state) && h.finishedAt)
    .map((h) => ({ at: Math.max(0, Date.parse(h.finishedAt!) - start), failed: FAILED.has(h.state) }))
    .sort((a, b) => a.at - b.at);
  const cumulative = (list: typeof ends): [number, number][] => list.map((e, i) => [e.at, i + 1]);
  const lastEnd = ends.length ? ends[ends.length - 1]!.at : 0;
  return { total, spanMs: Math.max(1, end - start, lastEnd), finished: cumulative(ends), failed: cumulative(ends.filter((e) => e.failed)) };
}

const W = 100;
const H = 30;

function stepLine(points: [number, number][], s: ProgressSeries): string {
  const x = (ms: number) => ((ms / s.spanMs) * W).toFixed(2);
  const y = (n: number) => (H - (n / Math.max(1, s.total)) * H).toFixed(2);
  let d = `0,${H}`;
  let prev = 0;
  for (const [ms, n] of points) {
    d += ` ${x(ms)},${y(prev)} ${x(ms)},${y(n)}`;
    prev = n;
  }
  return `${d} ${W},${y(prev)}`;
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m ${s % 60}s` : `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

export function progressChart(input: ProgressInput, now = Date.now()): Html {
  const s = progressSeries(input, now);
  if (!s || s.total === 0) return html``;
  const done = s.finished.length;
  const failed = s.failed.length;
  const label = `${done} of ${s.total} hosts finished (${failed} failed) over ${duration(s.spanMs)}`;
  return html`<section aria-labelledby="progress"><h2 id="progress">Hosts finished over time</h2>
<figure class="progress-chart"><svg class="chart" viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img" aria-label="${label}">
<polyline class="line-finished" points="${stepLine(s.finished, s)}" vector-effect="non-scaling-stroke"></polyline>
${failed ? html`<polyline class="line-failed" points="${stepLine(s.failed, s)}" vector-effect="non-scaling-stroke"></polyline>` : ''}
</svg><figcaption><span class="key k-finished">finished</span> ${done} of ${s.total} · <span class="key k-failed">failed</span> ${failed} · 0 → ${duration(s.spanMs)}</figcaption></figure></section>`;
}
