// `rollout start --max-rate` (issue 17, part 2), with a real server and agent: the agent paces its
// download so a WAN link is not saturated — a whole package, and a delta install's many small
// contents together (one pacer per install). Asserted as lower bounds (a busy machine only makes
// it slower); `npm run bench` measures the rate itself.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRelease, publishPackage, readCurrent, startRollout, waitRolloutEnd } from '../helpers/faults.js';
import { cleanupFleet, initServer, joinAgent, runFerry, startAgent, type AgentHandle, type JoinedAgent, type PackageSpec, type ServerHandle } from '../helpers/fleet.js';

afterAll(cleanupFleet, 60_000);

const MiB = 1024 * 1024;
const KiB = 1024;

// A delta of many small files: 1.0.1 changes all forty 32 KiB files and keeps the 2 MiB one.
const SMALL = 32 * KiB;
const smallFiles = () => Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`data/small-${i}.bin`, randomBytes(SMALL)]));
const kept = randomBytes(2 * MiB);
const SMALLS_V1: PackageSpec = { name: 'smalls', version: '1.0.0', files: { 'data/kept.bin': kept, ...smallFiles() } };
const SMALLS_V2: PackageSpec = { name: 'smalls', version: '1.0.1', files: { 'data/kept.bin': kept, ...smallFiles() } };

/** The agent's 'delta' log lines (pino JSON), parsed. */
function deltaLines(agent: AgentHandle): Array<Record<string, unknown>> {
  return agent
    .logs()
    .split('\n')
    .filter((l) => l.includes('"msg":"delta: fetched only'))
    .map((l) => JSON.parse(l.slice(l.indexOf('{'))) as Record<string, unknown>);
}

describe('rollout start --max-rate', () => {
  let server: ServerHandle;
  let agent: AgentHandle;
  let agentId: string;
  let joined: JoinedAgent;

  beforeAll(async () => {
    server = await initServer();
    joined = await joinAgent(server.home, 'rate-1');
    agentId = joined.id;
    agent = await startAgent(joined, { env: { FERRY_LOG_LEVEL: 'info' } });
    // Random bytes do not compress: the package is about 4 MiB, four 1 MiB chunks in the DML.
    await publishPackage(server.home, { name: 'bulky', version: '1.0.0', files: { 'data/blob.bin': randomBytes(4 * MiB) } });
    await createRelease(server.home, 'bulky-1', ['bulky@1.0.0']);
    await publishPackage(server.home, SMALLS_V1);
    await publishPackage(server.home, SMALLS_V2);
    await createRelease(server.home, 'smalls-1', ['smalls@1.0.0']);
    await createRelease(server.home, 'smalls-2', ['smalls@1.0.1']);
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
    // `rollout show` is `rollout status` (what `release show` and `agents show` lead one to type)
    expect((await runFerry(server.home, ['rollout', 'show', id, '--json'])).json()).toEqual(status);
  }, 120_000);

  it('paces a delta of many small files as a whole: every content is one chunk, yet the install keeps to the rate', async () => {
    const first = await startRollout(server.home, 'smalls-1', `id=${agentId}`);
    expect((await waitRolloutEnd(server.home, first, 90_000)).state).toBe('completed');
    const rate = 128 * KiB;
    const id = await startRollout(server.home, 'smalls-2', `id=${agentId}`, ['--max-rate', '128KiB/s']);
    const end = await waitRolloutEnd(server.home, id, 120_000);
    expect(end.state, JSON.stringify(end)).toBe('completed');
    expect(readCurrent(joined.installRoot, 'smalls')).toBe('1.0.1');
    const changed = SMALLS_V2.files['data/small-7.bin'] as Buffer;
    expect(readFileSync(join(joined.installRoot, 'smalls', '1.0.1', 'data/small-7.bin')).equals(changed)).toBe(true);
    const lines = deltaLines(agent).filter((l) => l.package === 'smalls' && l.version === '1.0.1');
    expect(lines).toHaveLength(1);
    const line = lines[0] as { fetch: number; fetchBytes: number; ms: number };
    expect(line).toMatchObject({ fetch: 40, fetchBytes: 40 * SMALL });
    // One pacer for the install: the last content is asked for only once the others are paid for
    // at the rate (each 32 KiB content alone is one chunk, which a per-read pacer never delayed).
    expect(line.ms).toBeGreaterThanOrEqual(((line.fetchBytes - SMALL) * 1000) / rate);
  }, 240_000);

  it('a rate that is not one is refused in one line, exit 2', async () => {
    const r = await runFerry(server.home, ['rollout', 'start', 'bulky-1', '--max-rate', 'fast'], { allowFail: true });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^FERRY_INVALID_INPUT: --max-rate "fast" is not a rate — hint: /);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
