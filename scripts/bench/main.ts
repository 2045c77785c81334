// `npm run bench [-- --quick] [names...]`: runs the benchmarks (names: fetch, install, delta, fanout,
// footprint, agent, control-plane, joins, cluster, reports; default all), prints one table of figures with their same-run
// baselines and ratios, and writes it to docs/benchmarks.md with the machine and the command.
import { cpus, totalmem } from 'node:os';
import { execFileSync } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './harness.js';
import type { BenchResult } from './result.js';
import { loadTracker } from './util.js';

type Module = { run(opts: { quick: boolean }): Promise<BenchResult[]> };
const MODULES: Record<string, () => Promise<Module>> = {
  fetch: () => import('./fetch.js'),
  install: () => import('./install.js'),
  delta: () => import('./delta.js'),
  fanout: () => import('./fanout.js'),
  footprint: () => import('./footprint.js'),
  agent: () => import('./agent.js'),
  'control-plane': () => import('./control-plane.js'),
  joins: () => import('./joins.js'),
  cluster: () => import('./cluster.js'),
  reports: () => import('./reports.js'),
};

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const wanted = args.filter((a) => !a.startsWith('--'));
  const names = wanted.length ? wanted : Object.keys(MODULES);
  const all: BenchResult[] = [];
  const t0 = Date.now();
  for (const n of names) {
    const load = MODULES[n];
    if (!load) throw new Error(`unknown benchmark ${n}; known: ${Object.keys(MODULES).join(', ')}`);
    const t = Date.now();
    const tracker = loadTracker();
    let results: BenchResult[];
    try {
      results = await (await load()).run({ quick });
    } catch (err) {
      // One benchmark failing (e.g. timeouts on an overloaded machine) is reported, not fatal:
      // the others still run and the report says what failed and why.
      const message = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ');
      process.stderr.write(`# ${n} FAILED: ${message}\n`);
      results = [{ name: `${n} benchmark`, metric: 'failed', value: Number.NaN, unit: '', met: false, note: `failed: ${message}` }];
    }
    const loadSeen = tracker.stop();
    for (const r of results) r.load ??= loadSeen;
    process.stderr.write(`# ${n}: ${((Date.now() - t) / 1000).toFixed(1)} s\n`);
    all.push(...results);
  }
  printTable(all);
  const busy = all.filter((r) => r.load?.busy).length;
  if (busy) process.stdout.write(`\n${busy} of ${all.length} figures were taken on a busy machine (1-minute load above the ${all[0]!.load!.cores} cores): treat them as noisy\n`);
  const seconds = ((Date.now() - t0) / 1000).toFixed(1);
  process.stdout.write(`\n${quick ? 'quick' : 'full'} mode, ${seconds} s total\n`);
  if (wanted.length === 0) writeReport(all, quick, seconds);
}

function writeReport(rows: BenchResult[], quick: boolean, seconds: string): void {
  const nats = (() => {
    try {
      return execFileSync('nats-server', ['--version'], { encoding: 'utf8' }).trim();
    } catch {
      return execFileSync('/usr/sbin/nats-server', ['--version'], { encoding: 'utf8' }).trim();
    }
  })();
  const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));
  const lines = [
    '# Benchmarks',
    '',
    `Measured ${new Date().toISOString()} by \`npm run bench${quick ? ' -- --quick' : ''}\` (${seconds} s), on ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${nats}.`,
    'Every ratio compares with a baseline measured in the same run. Re-run with `npm run bench` (full) or `npm run bench -- --quick`.',
    'What changed because of these measurements, and why the goals that are missed are missed: [performance.md](performance.md).',
    '',
    'Load is the highest 1-minute load average while the figure was measured (the benchmark\'s own processes included); **busy** marks a load above the core count, where other work competed with the figure.',
    '',
    '| Benchmark | Metric | Value | Baseline | Ratio | Goal | Met | Load |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map((r) =>
      [
        r.name,
        r.metric,
        Number.isNaN(r.value) ? '—' : `${fmt(r.value)} ${r.unit}`,
        r.baseline ? `${fmt(r.baseline.value)} ${r.unit} — ${r.baseline.name}` : '',
        r.ratio !== undefined ? `${fmt(r.ratio)}×` : '',
        r.goal ?? '',
        r.met === undefined ? '' : r.met ? 'yes' : '**no**',
        loadCell(r, true),
      ].join(' | ').replace(/^/, '| ').replace(/$/, ' |'),
    ),
    '',
    '## Notes',
    '',
    ...rows.filter((r) => r.note).map((r) => `- ${r.name} (${r.metric}): ${r.note}`),
    '',
  ];
  mkdirSync(join(ROOT, 'docs'), { recursive: true });
  writeFileSync(join(ROOT, 'docs', 'benchmarks.md'), lines.join('\n'));
  process.stdout.write('wrote docs/benchmarks.md\n');
}

function loadCell(r: BenchResult, markdown: boolean): string {
  if (!r.load) return '';
  return `${r.load.max.toFixed(1)}/${r.load.cores}${r.load.busy ? (markdown ? ' **busy**' : ' BUSY') : ''}`;
}

function printTable(rows: BenchResult[]): void {
  const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));
  const cells = rows.map((r) => [
    r.name,
    r.metric,
    Number.isNaN(r.value) ? '—' : `${fmt(r.value)} ${r.unit}`,
    r.baseline ? `${fmt(r.baseline.value)} ${r.unit} (${r.baseline.name})` : '',
    r.ratio !== undefined ? `${fmt(r.ratio)}×` : '',
    r.goal ?? '',
    r.met === undefined ? '' : r.met ? 'yes' : 'NO',
    loadCell(r, false),
  ]);
  const head = ['benchmark', 'metric', 'value', 'baseline', 'ratio', 'goal', 'met', 'load'];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => x.padEnd(widths[i]!)).join(' | ');
  process.stdout.write(`${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('-|-')}\n`);
  for (const c of cells) process.stdout.write(`${line(c)}\n`);
  const notes = rows.filter((r) => r.note);
  if (notes.length) {
    process.stdout.write('\nnotes:\n');
    for (const r of notes) process.stdout.write(`- ${r.name} / ${r.metric}: ${r.note}\n`);
  }
}

const onSignal = () => process.exit(130); // the 'exit' hooks stop nats-server and remove temp data
// A benchmark that failed may leave requests behind that reject later (connections it closed):
// say so, and let the remaining benchmarks run.
process.on('unhandledRejection', (err) => process.stderr.write(`# unhandled rejection after a failure: ${err instanceof Error ? err.message : String(err)}\n`));
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
