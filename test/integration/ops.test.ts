// /healthz and /metrics of a real `ferry server --metrics-listen` (here via FERRY_METRICS_LISTEN,
// port 0: the bound address is recorded in server.json): the values follow an agent joining and a
// rollout finishing, and /healthz turns 503 when the embedded nats-server dies, then 200 again
// once the server restarted it and reconnected.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupFleet, initServer, joinAgent, runFerry, startAgent, waitFor, type ServerHandle } from '../helpers/fleet.js';
import { publishPackage } from '../helpers/faults.js';
import { startAndWait } from '../helpers/rollouts.js';

function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  if (!line) throw new Error(`no ${series} in:\n${text}`);
  return Number(line.slice(series.length + 1));
}

describe('server /healthz and /metrics', () => {
  let server: ServerHandle;
  let url: string;
  const scrape = async () => (await fetch(`${url}/metrics`)).text();

  beforeAll(async () => {
    server = await initServer({ env: { FERRY_METRICS_LISTEN: '127.0.0.1:0' } });
    url = (JSON.parse(readFileSync(join(server.home, 'server.json'), 'utf8')) as { metricsUrl: string }).metricsUrl;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.logs()).toContain(`— metrics ${url}`);
  }, 120_000);

  afterAll(async () => {
    await cleanupFleet();
  });

  it('is healthy and counts hosts, rollouts and installs as they happen', async () => {
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok', nats: 'connected', db: 'ok' });
    let m = await scrape();
    expect([sample(m, 'ferry_hosts_total'), sample(m, 'ferry_hosts_online'), sample(m, 'ferry_installs_total'), sample(m, 'ferry_nats_connected')]).toEqual([0, 0, 0, 1]);
    expect(sample(m, 'ferry_rollouts{state="completed"}')).toBe(0);

    await publishPackage(server.home, { name: 'metered', version: '1.0.0', files: { 'VERSION': '1\n' } });
    await runFerry(server.home, ['release', 'create', 'metered-1', '--package', 'metered@1.0.0', '--json']);
    await startAgent(await joinAgent(server.home, 'm-1'));
    m = await scrape();
    expect([sample(m, 'ferry_hosts_total'), sample(m, 'ferry_hosts_online'), sample(m, 'ferry_dml_packages')]).toEqual([1, 1, 1]);

    const run = await startAndWait(server.home, 'metered-1', []);
    expect(run.code, run.result.stderr).toBe(0);
    m = await waitFor(async () => {
      const text = await scrape();
      return sample(text, 'ferry_installs_total') === 1 ? text : undefined;
    }, 60_000, { message: 'ferry_installs_total did not reach 1' });
    expect(sample(m, 'ferry_install_failures_total')).toBe(0);
    expect(sample(m, 'ferry_rollouts{state="completed"}')).toBe(1);
  }, 120_000);

  it('answers 503 while NATS is down and recovers when the embedded nats-server is back', async () => {
    // The nats-server this test's server started (its child), and nothing else.
    const natsPid = Number(execFileSync('ps', ['-o', 'pid=', '--ppid', String(server.child.pid)], { encoding: 'utf8' }).trim().split(/\s+/)[0]);
    expect(natsPid).toBeGreaterThan(0);
    process.kill(natsPid, 'SIGKILL');
    const down = await waitFor(async () => {
      const res = await fetch(`${url}/healthz`);
      return res.status === 503 ? ((await res.json()) as unknown) : undefined;
    }, 10_000, { intervalMs: 20, message: '/healthz never reported the NATS outage' });
    expect(down).toEqual({ status: 'unhealthy', nats: 'disconnected', db: 'ok' });
    await waitFor(async () => (await fetch(`${url}/healthz`)).status === 200, 30_000, { message: '/healthz did not recover' });
    expect(sample(await scrape(), 'ferry_nats_connected')).toBe(1);
  }, 120_000);
});
