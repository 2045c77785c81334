// A site whose hub is a 3-node NATS cluster: `ferry nats config --leaf-port` gives every node a
// leafnodes block and the JetStream domain `hub`; `ferry site add --hub-url` lists the three; the
// site's mirror fills from the R3 DML and the site's agents install from it.
// Requires the compiled dist/ (`npx tsc -p .`) and nats-server on PATH.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePortRange, startCluster, type TestCluster } from '../helpers/cluster.js';
import { createRelease, publishPackage, startRollout, waitRolloutEnd } from '../helpers/faults.js';
import { cleanupFleet, joinAgent, runFerry, startAgents, startServer, tempDir, type AgentHandle, type ServerHandle } from '../helpers/fleet.js';
import { startSite, waitSite, type TestSite } from '../helpers/site.js';

afterAll(cleanupFleet, 60_000);

describe('a site of a clustered hub', () => {
  let home: string;
  let cluster: TestCluster;
  let server: ServerHandle;
  let site: TestSite;
  let agents: AgentHandle[] = [];

  beforeAll(async () => {
    home = tempDir('ferry-home-');
    await runFerry(home, ['init']);
    const leafBase = await freePortRange(3);
    cluster = await startCluster(home, 3, ['--leaf-port', String(leafBase)]);
    server = await startServer(home, { args: ['--nats', cluster.urls.join(',')], env: { FERRY_SITE_CHECK_MS: '1000' } });
    const hubUrl = [0, 1, 2].map((i) => `nats-leaf://127.0.0.1:${leafBase + i}`).join(',');
    site = await startSite(home, 'lyon', { hubUrl });
    const token = (await runFerry(home, ['token', 'create', '--site', 'lyon', '--uses', '2', '--json'])).json<{ token: string }>().token;
    const joined = [await joinAgent(home, 'lyon-1', { token }), await joinAgent(home, 'lyon-2', { token })];
    agents = await startAgents(joined, { timeoutMs: 60_000, env: { FERRY_LOG_LEVEL: 'info' } });
  }, 180_000);

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await server?.stop();
    await site?.stop();
    await cluster?.stop();
  }, 120_000);

  afterEach((ctx) => {
    if (ctx.task.result?.state !== 'fail' || !server) return;
    process.stderr.write(['--- ferry server (tail) ---', server.logs().slice(-6000), '--- site (tail) ---', site?.logs().slice(-4000) ?? '', ...agents.map((a) => `--- ${a.agent.hostname} ---\n${a.logs().slice(-2000)}`), ''].join('\n'));
  });

  it('the mirror fills from the R3 DML and the site\'s agents install from it', async () => {
    await publishPackage(home, { name: 'clustered', version: '1.0.0', files: { 'data/blob.bin': randomBytes(3 * 1024 * 1024) } });
    await createRelease(home, 'clustered-1', ['clustered@1.0.0']);
    const doc = await waitSite(home, 'lyon', (s) => s.linked && s.mirror !== null && s.mirror.messages > 0 && s.behind?.objects === 0, 60_000, () => 'the mirror did not catch up');
    expect(doc.agents.map((a) => a.hostname).sort()).toEqual(['lyon-1', 'lyon-2']);
    const id = await startRollout(home, 'clustered-1', 'site=lyon');
    const end = await waitRolloutEnd(home, id, 120_000);
    expect(end.state, JSON.stringify(end)).toBe('completed');
    for (const a of agents) expect(a.logs()).toMatch(/"object":"clustered@1\.0\.0","source":"site lyon","msg":"package downloaded"/);
  }, 180_000);

  it('site set on a clustered hub: the mirror consumer (on the DML\'s stream leader) takes the new rate in place', async () => {
    const r = (await runFerry(home, ['site', 'set', 'lyon', '--max-rate', '2MiB/s', '--json'])).json<{ maxRateBps: number; consumer: string }>();
    process.stdout.write(`sites-cluster: site set --max-rate 2MiB/s: consumer ${r.consumer}\n`);
    expect(r).toMatchObject({ maxRateBps: 2 * 1024 * 1024, consumer: 'updated' });
    // The mirror still takes what the hub adds (paced now).
    await publishPackage(home, { name: 'clustered', version: '2.0.0', files: { 'data/blob.bin': randomBytes(256 * 1024) } });
    await waitSite(home, 'lyon', (s) => s.behind?.objects === 0, 60_000, () => 'the paced mirror did not catch up');
  }, 120_000);
});
