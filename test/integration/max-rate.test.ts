// `rollout start --max-rate` (issue 17, part 2), with a real server and agent: the agent paces its
// download so a WAN link is not saturated. Asserted as a lower bound (a busy machine only makes it
// slower); `npm run bench` measures the rate itself.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRelease, publishPackage, startRollout, waitRolloutEnd } from '../helpers/faults.js';
import { cleanupFleet, initServer, joinAgent, runFerry, startAgent, type AgentHandle, type ServerHandle } from '../helpers/fleet.js';

afterAll(cleanupFleet, 60_000);

const MiB = 1024 * 1024;

describe('rollout start --max-rate', () => {
  let server: ServerHandle;
  let agent: AgentHandle;
  let agentId: string;

  beforeAll(async () => {
    server = await initServer();
    const joined = await joinAgent(server.home, 'rate-1');
    agentId = joined.id;
    agent = await startAgent(joined);
    // Random bytes do not compress: the package is about 4 MiB, four 1 MiB chunks in the DML.
    await publishPackage(server.home, { name: 'bulky', version: '1.0.0', files: { 'data/blob.bin': randomBytes(4 * MiB) } });
    await createRelease(server.home, 'bulky-1', ['bulky@1.0.0']);
  }, 120_000);

  afterAll(async () => {
    await agent?.stop();
  });

  it('paces the download to the rate (and says so in the rollout status)', async () => {
    const size = (await runFerry(server.home, ['dml', 'show', 'bulky@1.0.0', '--json'])).json<{ size: number }>().size;
    expect(size).toBeGreaterThan(4 * MiB);
    const started = Date.now();
    const id = await startRollout(server.home, 'bulky-1', `id=${agentId}`, ['--max-rate', '1MiB/s']);
    const end = await waitRolloutEnd(server.home, id, 90_000);
    const elapsed = Date.now() - started;
    expect(end.state).toBe('completed');
    // Chunk i (1 MiB) is asked for no earlier than i seconds after the download began.
    const chunks = Math.ceil(size / MiB);
    expect(elapsed).toBeGreaterThanOrEqual((chunks - 1) * 1000);
    const status = (await runFerry(server.home, ['rollout', 'status', id, '--json'])).json<{ options: { maxRateBps?: number } }>();
    expect(status.options.maxRateBps).toBe(MiB);
  }, 120_000);

  it('a rate that is not one is refused in one line, exit 2', async () => {
    const r = await runFerry(server.home, ['rollout', 'start', 'bulky-1', '--max-rate', 'fast'], { allowFail: true });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^FERRY_INVALID_INPUT: --max-rate "fast" is not a rate — hint: /);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
