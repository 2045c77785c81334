// The operations endpoint on a real socket with a real SQLite database; NATS state is a switch.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/log.js';
import { openDatabase, type Db } from '../db/open.js';
import { startOpsHttp, type OpsHttp } from './http.js';
import { serverProbe } from './probe.js';

describe('ops HTTP endpoint', () => {
  let dir: string;
  let db: Db;
  let ops: OpsHttp;
  let natsUp = true;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-ops-'));
    db = openDatabase(join(dir, 'ferry.db'));
    const now = Date.now();
    const addAgent = db.prepare('INSERT INTO agents (id, nkey, hostname, tags, joined_at, last_seen, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
    addAgent.run('a1', 'N1', 'h1', '{}', now, now, null);
    addAgent.run('a2', 'N2', 'h2', '{}', now, now - 3_600_000, null);
    addAgent.run('a3', 'N3', 'h3', '{}', now, now, now); // revoked
    const addRollout = db.prepare("INSERT INTO rollouts (id, release, strategy, state, options, target, created_at, actor) VALUES (?, 'r', 'big-bang', ?, '{}', 'all', 0, 'admin')");
    addRollout.run('r1', 'completed');
    addRollout.run('r2', 'completed');
    addRollout.run('r3', 'halted');
    const addHistory = db.prepare("INSERT INTO history (agent_id, ts, kind, package, version, result) VALUES ('a1', 0, ?, 'p', '1.0.0', ?)");
    for (const [kind, result] of [['install', 'succeeded'], ['install', 'failed'], ['install', 'rolled-back'], ['install', 'succeeded'], ['rollback', 'succeeded']]) addHistory.run(kind, result);
    ops = await startOpsHttp('127.0.0.1:0', silentLogger);
  });

  afterAll(async () => {
    await ops.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('says "starting" (503) until the server hands it a probe', async () => {
    const res = await fetch(`${ops.url}/healthz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'starting', nats: 'unknown', db: 'unknown' });
    ops.setProbe(serverProbe({ db, isOnline: (t) => t !== null && Date.now() - t < 60_000, natsConnected: () => natsUp, startedAt: Date.now() - 5000, reportsRefused: () => ({ unsigned: 3, 'bad-signature': 0, stale: 1, duplicate: 2 }) }));
  });

  it('serves Prometheus text computed from the database', async () => {
    const res = await fetch(`${ops.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const lines = text.split('\n');
    for (const expected of [
      'ferry_hosts_total 2',
      'ferry_hosts_online 1',
      'ferry_rollouts{state="completed"} 2',
      'ferry_rollouts{state="halted"} 1',
      'ferry_rollouts{state="running"} 0',
      'ferry_installs_total 4',
      'ferry_install_failures_total 2',
      'ferry_nats_connected 1',
      'ferry_reports_refused_total{reason="unsigned"} 3',
      'ferry_reports_refused_total{reason="bad-signature"} 0',
      '# TYPE ferry_reports_refused_total counter',
      '# TYPE ferry_installs_total counter',
      '# TYPE ferry_hosts_online gauge',
    ]) expect(lines).toContain(expected);
    expect(Number(/^ferry_uptime_seconds (\S+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(5);
    // every sample line is NAME{labels} VALUE
    for (const l of lines.filter((x) => x && !x.startsWith('#'))) expect(l).toMatch(/^[a-z_]+(\{[a-z]+="[^"]*"\})? -?\d+(\.\d+)?$/);
  });

  it('is healthy with NATS and the database, 503 without NATS', async () => {
    let res = await fetch(`${ops.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', nats: 'connected', db: 'ok' });
    natsUp = false;
    res = await fetch(`${ops.url}/healthz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'unhealthy', nats: 'disconnected', db: 'ok' });
    expect((await (await fetch(`${ops.url}/metrics`)).text()).split('\n')).toContain('ferry_nats_connected 0');
    natsUp = true;
  });

  it('serves only GET /healthz and /metrics', async () => {
    expect((await fetch(`${ops.url}/`)).status).toBe(404);
    expect((await fetch(`${ops.url}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('refuses a taken or malformed address with a stable code', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    await expect(startOpsHttp(`127.0.0.1:${port}`, silentLogger)).rejects.toMatchObject({ code: 'FERRY_CONFLICT' });
    blocker.close();
    await expect(startOpsHttp('localhost', silentLogger)).rejects.toMatchObject({ code: 'FERRY_INVALID_INPUT' });
  });

  it('is unhealthy (503) when the database fails', async () => {
    db.close();
    const res = await fetch(`${ops.url}/healthz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: 'unhealthy', nats: 'connected', db: expect.stringMatching(/^error: /) });
  });
});
