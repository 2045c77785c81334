// Child process of the footprint benchmark: loads the agent daemon's modules, connects to NATS,
// installs one package with an InstallMachine wired like the agent's, samples its own RSS every
// 50 ms, and prints one JSON line: { ok, error?, ms, idleRss, peakRss, vmHwm, steps, peakByStep }
// (bytes, ms). Started with --expose-gc (FERRY_BENCH_CHILD_NODE_ARGS=--expose-gc) it collects
// garbage before every sample, which shows live memory instead of what the GC has not reclaimed.
// Usage: node footprint-child.js '{"url":…,"bucket":…,"record":{…},"dir":…}'
import { readFileSync } from 'node:fs';
import { connect } from '@nats-io/transport-node';
import type { DmlRecord } from '../../shared/protocol/messages.js';
import { installOnce, newInstaller, stepBreakdown } from './pkg.js';

interface Config {
  url: string;
  bucket: string;
  record: DmlRecord;
  dir: string;
}

/** The kernel's own high-water mark of this process's RSS, in bytes. */
function vmHwm(): number {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2] ?? '') as Config;
  // Load the agent daemon's module graph (not run it), so "idle" is close to a real agent's.
  await import('../../agent/runtime.js');
  const nc = await connect({ servers: cfg.url, name: 'bench-footprint' });
  const inst = newInstaller(nc, cfg.bucket, cfg.dir);
  // Let start-up garbage settle so "idle" means connected and ready.
  await new Promise((r) => setTimeout(r, 200));
  const idleRss = process.memoryUsage().rss;
  let peakRss = idleRss;
  const byStep: Record<string, number> = {};
  const gc = (globalThis as { gc?: () => void }).gc;
  const sample = () => {
    gc?.();
    const rss = process.memoryUsage().rss;
    peakRss = Math.max(peakRss, rss);
    const step = inst.steps.at(-1)?.step ?? 'start';
    byStep[step] = Math.max(byStep[step] ?? 0, rss);
  };
  const timer = setInterval(sample, 50);
  const t0 = performance.now();
  let error: string | undefined;
  try {
    await installOnce(inst, cfg.record);
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  }
  const end = performance.now();
  clearInterval(timer);
  sample();
  inst.close();
  await nc.close();
  process.stdout.write(
    `${JSON.stringify({ ok: !error, error, ms: end - t0, idleRss, peakRss, vmHwm: vmHwm(), steps: stepBreakdown(inst.steps, end), peakByStep: byStep })}\n`,
  );
}

main().catch((err: unknown) => {
  process.stdout.write(`${JSON.stringify({ ok: false, error: err instanceof Error ? err.message : String(err) })}\n`);
  process.exitCode = 1;
});
