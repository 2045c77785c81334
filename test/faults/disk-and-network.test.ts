// Faults on the install path that come from the machine, with the real CLIs:
// - the install root runs out of space *during* extraction (a real ENOSPC from a small tmpfs,
//   past the free-space pre-check): the install fails cleanly, nothing of it is left behind,
//   the previous version stays, and the agent keeps working;
// - the embedded nats-server is SIGKILLed mid-download: the server restarts it on the same port,
//   the agent retries the download with backoff and the rollout completes with the right bytes.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupFleet, createToken, initServer, runAgentCli, startAgent, tempDir, waitFor, joinAgent, type AgentHandle, type JoinedAgent, type PackageSpec, type ServerHandle } from '../helpers/fleet.js';
import {
  agentStatus,
  appliedGeneration,
  createRelease,
  downloadLeftovers,
  layoutLeftovers,
  publishPackage,
  readCurrent,
  startRollout,
  versionDirProblems,
  versionDirs,
  waitAgentSettled,
  waitRolloutEnd,
} from '../helpers/faults.js';

const AGENT_ENV = { FERRY_DESIRED_POLL_MS: '1000', FERRY_HEARTBEAT_MS: '500' };
const PAGE = 4096;

afterAll(async () => {
  await cleanupFleet();
});

// ---------------------------------------------------------------------------------------------
// A small tmpfs as the install root (needs root / CAP_SYS_ADMIN)

function tryMountTmpfs(): { dir: string; skip?: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-enospc-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0755', 'tmpfs', dir], { stdio: 'pipe' });
    return { dir };
  } catch (err) {
    rmdirSync(dir);
    return { dir, skip: `cannot mount a tmpfs (needs root): ${(err as Error).message.split('\n')[0]}` };
  }
}

const tmpfs = tryMountTmpfs();
if (tmpfs.skip) console.warn(`skipping the ENOSPC test: ${tmpfs.skip}`);

function freeBytes(dir: string): number {
  const st = statfsSync(dir);
  return st.bavail * st.bsize;
}

describe.skipIf(!!tmpfs.skip)('running out of space during extraction', () => {
  const root = tmpfs.dir;
  const filler = join(root, 'filler');
  let server: ServerHandle;
  let agent: JoinedAgent;
  let handle: AgentHandle | undefined;

  const V1: PackageSpec = { name: 'diskapp', version: '1.0.0', files: { 'bin/app': '#!/bin/sh\necho v1\n', 'etc/app.conf': 'version=1\n' }, executable: ['bin/app'] };
  // 1 MiB of random data plus 400 one-byte files: the manifest adds up to ~1 MiB, which the
  // pre-check compares with the free space, but on tmpfs every file takes at least a 4 KiB
  // page, so extracting it really needs ~2.6 MiB. No requires.diskMB.
  const many: Record<string, string> = {};
  for (let i = 0; i < 400; i++) many[`many/f${String(i).padStart(3, '0')}`] = 'x';
  const V2: PackageSpec = { name: 'diskapp', version: '2.0.0', files: { 'bin/app': '#!/bin/sh\necho v2\n', 'data/blob': randomBytes(1024 * 1024), ...many }, executable: ['bin/app'] };
  const V3: PackageSpec = { name: 'diskapp', version: '3.0.0', files: { 'bin/app': '#!/bin/sh\necho v3\n', 'etc/app.conf': 'version=3\n' }, executable: ['bin/app'] };
  const manifestBytes = Object.values(V2.files).reduce((n, c) => n + (Buffer.isBuffer(c) ? c.length : Buffer.byteLength(c)), 0);

  beforeAll(async () => {
    server = await initServer();
    await Promise.all([V1, V2, V3].map((s) => publishPackage(server.home, s)));
    for (const s of [V1, V2, V3]) await createRelease(server.home, `disk-${s.version}`, [`${s.name}@${s.version}`]);
    // joinAgent cannot pass --install-root: join by hand.
    const token = await createToken(server.home);
    const stateDir = tempDir('ferry-agent-disk-');
    const doc = (
      await runAgentCli(stateDir, ['join', '--token', token, '--json', '--install-root', root, '--tag', 'case=enospc'], { env: { FERRY_HOSTNAME: 'disk-1' } })
    ).json<{ agentId: string; installRoot: string; tags: Record<string, string> }>();
    agent = { home: server.home, hostname: 'disk-1', id: doc.agentId, stateDir, installRoot: doc.installRoot, tags: doc.tags };
    expect(agent.installRoot).toBe(root);
    handle = await startAgent(agent, { env: AGENT_ENV });
    const id = await startRollout(server.home, 'disk-1.0.0', 'case=enospc');
    const final = await waitRolloutEnd(server.home, id, 30_000);
    expect(final.hosts[0]?.state, JSON.stringify(final)).toBe('succeeded');
    expect(readCurrent(root, 'diskapp')).toBe('1.0.0');
  }, 120_000);

  afterAll(async () => {
    await handle?.stop();
    await server?.stop();
    try {
      execFileSync('umount', [root], { stdio: 'pipe' });
    } catch {
      execFileSync('umount', ['-l', root], { stdio: 'pipe' });
    }
    rmdirSync(root);
  });

  it('fails the install cleanly with ENOSPC, leaves nothing behind, and the agent keeps working', async () => {
    // Leave free just a bit more than the manifest adds up to: the pre-check passes, the
    // extraction cannot fit.
    const target = Math.ceil((manifestBytes + 512 * 1024) / PAGE) * PAGE;
    writeFileSync(filler, Buffer.alloc(freeBytes(root) - target));
    expect(freeBytes(root)).toBe(target);

    const before = appliedGeneration(agent.stateDir);
    const id = await startRollout(server.home, 'disk-2.0.0', 'case=enospc');
    const final = await waitRolloutEnd(server.home, id, 30_000);
    await waitAgentSettled(server.home, agent, before, 20_000);
    const host = final.hosts[0]!;
    expect(host.state, JSON.stringify(final)).toBe('failed');
    // A real ENOSPC from the extraction, not the pre-check's "not enough free space".
    console.log(`host error: ${host.error}`);
    expect(host.error ?? '', JSON.stringify(host)).toMatch(/ENOSPC|no space left/i);

    expect(readCurrent(root, 'diskapp')).toBe('1.0.0');
    expect(versionDirProblems(root, V1)).toEqual([]);
    expect(versionDirs(root, 'diskapp')).toEqual(['1.0.0']);
    expect(existsSync(join(root, 'diskapp', '2.0.0'))).toBe(false);
    expect(layoutLeftovers(root, 'diskapp')).toEqual([]);
    expect(downloadLeftovers(agent.stateDir)).toEqual([]);
    expect(readdirSync(root).sort()).toEqual(['diskapp', 'filler']);
    // The partial extraction was removed: the space is free again.
    expect(freeBytes(root)).toBe(target);
    expect((await agentStatus(agent.stateDir)).installed).toEqual({ diskapp: '1.0.0' });
    expect(handle!.child.exitCode).toBeNull();

    // Space back: the agent still installs.
    rmSync(filler);
    const before3 = appliedGeneration(agent.stateDir);
    const id3 = await startRollout(server.home, 'disk-3.0.0', 'case=enospc');
    const final3 = await waitRolloutEnd(server.home, id3, 30_000);
    expect(final3.hosts[0]?.state, JSON.stringify(final3)).toBe('succeeded');
    await waitAgentSettled(server.home, agent, before3, 20_000);
    expect(readCurrent(root, 'diskapp')).toBe('3.0.0');
    expect(versionDirProblems(root, V3)).toEqual([]);
    expect(layoutLeftovers(root, 'diskapp')).toEqual([]);
    expect(handle!.child.exitCode).toBeNull();
  }, 120_000);
});

// ---------------------------------------------------------------------------------------------
// NATS killed mid-download

function natsPid(home: string): number {
  const out = execFileSync('pgrep', ['-f', join(home, 'nats', 'nats.conf')], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  if (out.length !== 1) throw new Error(`expected one nats-server for ${home}, found: ${JSON.stringify(out)}`);
  return Number(out[0]);
}

describe('the embedded NATS dies mid-download', () => {
  let server: ServerHandle;
  let agent: JoinedAgent;
  let handle: AgentHandle;

  beforeAll(async () => {
    server = await initServer();
    agent = await joinAgent(server.home, 'net-1', { tags: { case: 'natskill' } });
    handle = await startAgent(agent, { env: AGENT_ENV });
  }, 120_000);

  afterAll(async () => {
    await handle?.stop();
    await server?.stop();
  });

  /**
   * Roll out `version` with `mib` MiB of random payload, its download paced to 4 MiB/s
   * (`--max-rate`) so that it is still in progress when the test looks, however busy the machine;
   * kill NATS once 4 MiB of it is downloaded.
   */
  async function attempt(version: string, mib: number): Promise<{ killed: boolean; sha: string; rollout: string; before: number; pid: number }> {
    const payload = randomBytes(mib * 1024 * 1024);
    const sha = createHash('sha256').update(payload).digest('hex');
    const t0 = Date.now();
    await publishPackage(server.home, { name: 'bigapp', version, files: { 'data/payload.bin': payload } });
    await createRelease(server.home, `big-${version}`, [`bigapp@${version}`]);
    console.log(`bigapp ${version} (${mib} MiB) built and published in ${Date.now() - t0} ms`);
    const pid = natsPid(server.home);
    const staging = join(agent.stateDir, 'staging');
    const before = appliedGeneration(agent.stateDir);
    const rollout = await startRollout(server.home, `big-${version}`, 'case=natskill', ['--max-rate', '4MiB/s']);
    // Poll fast for the download in progress (the test process reads the directory itself).
    let killed = false;
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      // Wait for chunks to arrive (the .part file exists before the object's metadata is read).
      const parts = existsSync(staging) ? readdirSync(staging).filter((e) => e.endsWith('.part')) : [];
      const size = parts.length > 0 ? (statSync(join(staging, parts[0]!), { throwIfNoEntry: false })?.size ?? 0) : 0;
      if (size >= 4 * 1024 * 1024) {
        process.kill(pid, 'SIGKILL');
        killed = true;
        console.log(`killed nats-server ${pid} with ${(size / 1048576).toFixed(1)} of ${mib} MiB downloaded`);
        break;
      }
      if (readCurrent(agent.installRoot, 'bigapp') === version) break; // too late: already installed
      await new Promise((r) => setTimeout(r, 10));
    }
    return { killed, sha, rollout, before, pid };
  }

  it('the server restarts NATS, the agent retries the download and the rollout completes', async () => {
    const run = await attempt('1.0.0', 32);
    expect(run.killed, 'NATS was killed in the middle of the paced download').toBe(true);

    const final = await waitRolloutEnd(server.home, run.rollout, 60_000);
    const wanted = '1.0.0';
    expect(final.hosts[0]?.state, `${JSON.stringify(final)}\nagent log:\n${handle.logs()}`).toBe('succeeded');
    await waitAgentSettled(server.home, agent, run.before, 30_000);
    expect(readCurrent(agent.installRoot, 'bigapp')).toBe(wanted);
    const got = createHash('sha256').update(readFileSync(join(agent.installRoot, 'bigapp', wanted, 'data', 'payload.bin'))).digest('hex');
    expect(got).toBe(run.sha);
    expect(handle.logs()).toMatch(/download interrupted; retrying|reconnected/);
    expect(downloadLeftovers(agent.stateDir)).toEqual([]);
    expect(layoutLeftovers(agent.installRoot, 'bigapp')).toEqual([]);
    // NATS is back (a new process, same port) and the agent is still running.
    const newPid = await waitFor(() => natsPid(server.home), 10_000);
    expect(newPid).not.toBe(run.pid);
    console.log(`agent retries:\n${handle.logs().split('\n').filter((l) => /retrying|reconnected/.test(l)).join('\n')}`);
    expect(handle.child.exitCode).toBeNull();
  }, 240_000);
});
