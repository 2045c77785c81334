// File-level deltas (issue 17, part 1) with a real server and real agents: an agent that keeps
// 1.0.0 installs 1.0.1 by fetching only the files it does not have; the tree it builds is
// byte-identical to a full install of 1.0.1 on an agent with nothing kept; a kept file modified on
// disk is not reused (its content is fetched instead); a crash in the middle of a delta install
// ends, after restart, on the previous version with nothing left behind, and the next try works.
import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCredsFile } from '../../shared/nats/creds.js';
import { nativeAuthenticator } from '../../shared/nats/nkey-auth.js';
import { appliedGeneration, createRelease, layoutLeftovers, versionDirProblems, publishPackage, readCurrent, startCrashingAgent, startRollout, waitAgentSettled, waitExit, waitRolloutEnd } from '../helpers/faults.js';
import { cleanupFleet, initServer, joinAgent, runFerry, startAgent, startAgents, waitFor, type AgentHandle, type JoinedAgent, type PackageSpec, type ServerHandle } from '../helpers/fleet.js';

afterAll(cleanupFleet, 60_000);

const PKG = 'deltapp';
const KiB = 1024;
const blobs = Array.from({ length: 8 }, () => randomBytes(256 * KiB));
const shared = randomBytes(64 * KiB);

function spec(version: string, changes: Record<string, string | Buffer | null> = {}): PackageSpec {
  const files: Record<string, string | Buffer> = {
    'bin/app': `#!/bin/sh\necho ${PKG}\n`,
    'etc/empty.conf': '',
    'share/a/copy-1.bin': shared,
    'share/a/copy-2.bin': shared,
    ...Object.fromEntries(blobs.map((b, i) => [`data/blob-${i}.bin`, b])),
  };
  for (const [path, content] of Object.entries(changes)) {
    if (content === null) delete files[path];
    else files[path] = content;
  }
  return { name: PKG, version, files, executable: ['bin/app'] };
}

const V1 = spec('1.0.0');
// One file changed, one added, one removed, one that moved (same content, new path).
const V2 = spec('1.0.1', {
  'data/blob-3.bin': randomBytes(256 * KiB),
  'data/new.bin': randomBytes(16 * KiB),
  'data/blob-7.bin': null,
  'moved/blob-7.bin': blobs[7]!,
});
const CHANGED_BYTES = 256 * KiB + 16 * KiB;

const LOG_ENV = { FERRY_LOG_LEVEL: 'info' };

/** Every entry under dir: relative path → kind, mode and (for files) content, for a byte-for-byte comparison. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const e of readdirSync(join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${e}` : e;
      const st = lstatSync(join(dir, r));
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out[r] = `dir ${mode}`;
        walk(r);
      } else if (st.isFile()) out[r] = `file ${mode} ${readFileSync(join(dir, r)).toString('base64')}`;
      else out[r] = `other ${mode}`;
    }
  };
  walk('');
  return out;
}

/** The agent's 'delta' log lines (pino JSON), parsed. */
function deltaLines(agent: AgentHandle): Array<Record<string, unknown>> {
  return agent
    .logs()
    .split('\n')
    .filter((l) => l.includes('"msg":"delta: fetched only'))
    .map((l) => JSON.parse(l.slice(l.indexOf('{'))) as Record<string, unknown>);
}

/** The DML bucket as an attacker with write access to it would see it (the server's admin credentials). */
async function withDmlBucket(home: string, fn: (store: ObjectStore) => Promise<void>): Promise<void> {
  const natsUrl = (JSON.parse(readFileSync(join(home, 'server.json'), 'utf8')) as { natsUrl: string }).natsUrl;
  const admin = readCredsFile(join(home, 'keys', 'admin.creds'));
  const nc = await connect({ servers: natsUrl, authenticator: nativeAuthenticator(admin.seed, admin.jwt) });
  try {
    await fn(await new Objm(nc).open('ferry-dml'));
  } finally {
    await nc.close();
  }
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function rollout(home: string, release: string, agent: JoinedAgent): Promise<void> {
  const id = await startRollout(home, release, `id=${agent.id}`);
  const end = await waitRolloutEnd(home, id, 90_000);
  expect(end.state, JSON.stringify(end)).toBe('completed');
}

describe('file-level deltas', () => {
  let server: ServerHandle;
  let full: JoinedAgent; // nothing kept: installs 1.0.1 from the whole package
  let delta: JoinedAgent; // keeps 1.0.0: installs 1.0.1 from a delta
  let tampered: JoinedAgent; // keeps 1.0.0 with one file modified on disk
  let crash: JoinedAgent; // keeps 1.0.0; crashes in the middle of the delta install
  let rotate: JoinedAgent; // keeps 1.0.0; trusts only the key after a rotation
  const handles = new Map<string, AgentHandle>();
  let fullTree: Record<string, string>;

  beforeAll(async () => {
    server = await initServer();
    const kept = { tags: { kept: '1.0.0' } };
    const fleet = (async () => {
      [full, delta, tampered, crash, rotate] = await Promise.all([
        joinAgent(server.home, 'delta-full'),
        ...['delta-kept', 'delta-tampered', 'delta-crash', 'delta-rotate'].map((h) => joinAgent(server.home, h, kept)),
      ]);
      for (const h of await startAgents([full, delta, tampered, crash, rotate], { env: LOG_ENV })) handles.set(h.agent.id, h);
    })();
    await Promise.all([
      fleet,
      // 1.0.0 first: a version gets its file index only when the DML holds another one (server/dml/content.ts)
      publishPackage(server.home, V1).then(() => publishPackage(server.home, V2)).then(() =>
        Promise.all([createRelease(server.home, 'delta-v1', [`${PKG}@1.0.0`]), createRelease(server.home, 'delta-v2', [`${PKG}@1.0.1`])]),
      ),
    ]);
    // Every agent but the first keeps 1.0.0: one rollout for them all.
    const end = await waitRolloutEnd(server.home, await startRollout(server.home, 'delta-v1', 'kept=1.0.0'), 90_000);
    expect(end.state, JSON.stringify(end)).toBe('completed');
  }, 180_000);

  afterAll(async () => {
    await Promise.all([...handles.values()].map((h) => h.stop()));
  });

  it('with no version kept, an agent installs the whole package (the fallback)', async () => {
    await rollout(server.home, 'delta-v2', full);
    expect(readCurrent(full.installRoot, PKG)).toBe('1.0.1');
    expect(deltaLines(handles.get(full.id)!)).toEqual([]);
    fullTree = snapshot(join(full.installRoot, PKG, '1.0.1'));
    expect(Object.keys(fullTree)).toContain('moved/blob-7.bin');
  }, 120_000);

  it('an agent that keeps 1.0.0 fetches only the changed files, and builds a byte-identical tree', async () => {
    expect(readCurrent(delta.installRoot, PKG)).toBe('1.0.0');
    await rollout(server.home, 'delta-v2', delta);
    expect(readCurrent(delta.installRoot, PKG)).toBe('1.0.1');
    const lines = deltaLines(handles.get(delta.id)!);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ version: '1.0.1', fetch: 2, fetchBytes: CHANGED_BYTES });
    expect(snapshot(join(delta.installRoot, PKG, '1.0.1'))).toEqual(fullTree);
    // The kept version is untouched (a rollback target).
    expect(readFileSync(join(delta.installRoot, PKG, '1.0.0', 'data/blob-3.bin')).equals(blobs[3]!)).toBe(true);
  }, 180_000);

  it('a kept file modified on disk is not reused: its content is fetched instead', async () => {
    expect(readCurrent(tampered.installRoot, PKG)).toBe('1.0.0');
    const victim = join(tampered.installRoot, PKG, '1.0.0', 'data/blob-5.bin');
    const evil = Buffer.from(blobs[5]!);
    evil.write('tampered', 1000);
    writeFileSync(victim, evil); // same size, different bytes
    await rollout(server.home, 'delta-v2', tampered);
    const agent = handles.get(tampered.id)!;
    expect(deltaLines(agent)).toHaveLength(1);
    await waitFor(() => agent.logs().includes('kept files did not match their hashes'), 10_000);
    expect(agent.logs()).toMatch(/"refetched":\["data\/blob-5\.bin"\]/);
    expect(snapshot(join(tampered.installRoot, PKG, '1.0.1'))).toEqual(fullTree);
  }, 180_000);

  it('a crash in the middle of a delta install ends on a whole version with nothing left behind; the next try is a delta again', async () => {
    const a = crash;
    expect(readCurrent(a.installRoot, PKG)).toBe('1.0.0');
    await handles.get(a.id)!.stop();
    const before = appliedGeneration(a.stateDir);
    // Killed right after 'stage' was saved: the contents were fetched, the version not yet assembled.
    const crashing = await startCrashingAgent(a, 'install:stage', LOG_ENV);
    const id = await startRollout(server.home, 'delta-v2', `id=${a.id}`, ['--include-offline']);
    const exit = await waitExit(crashing.child, 60_000);
    expect(exit.signal, crashing.logs()).toBe('SIGKILL');
    expect(deltaLines(crashing)).toHaveLength(1); // it was a delta
    expect(readCurrent(a.installRoot, PKG)).toBe('1.0.0');
    const again = await startAgent(a, { waitOnline: false, env: LOG_ENV });
    handles.set(a.id, again);
    // Recovery fails the interrupted install (1.0.0 stays active); the agent may then try again.
    await waitRolloutEnd(server.home, id, 60_000);
    await waitAgentSettled(server.home, a, before, 60_000);
    if (readCurrent(a.installRoot, PKG) !== '1.0.1') await rollout(server.home, 'delta-v2', a);
    expect(readCurrent(a.installRoot, PKG)).toBe('1.0.1');
    expect(deltaLines(again).length).toBeGreaterThanOrEqual(1);
    expect(snapshot(join(a.installRoot, PKG, '1.0.1'))).toEqual(fullTree);
    expect(layoutLeftovers(a.installRoot, PKG)).toEqual([]);
    expect(readdirSync(join(a.stateDir, 'staging'))).toEqual([]);
  }, 240_000);

  it('a forged file index or a swapped content in the DML is refused; the agent installs the whole package instead', async () => {
    const agent = handles.get(delta.id)!; // keeps 1.0.1 and 1.0.0
    const changed = randomBytes(256 * KiB);
    const V3 = spec('1.0.2', { 'data/blob-0.bin': changed });
    const V4 = spec('1.0.3', { 'data/blob-1.bin': randomBytes(256 * KiB) });
    await Promise.all([V3, V4].map((v) => publishPackage(server.home, v)));
    await Promise.all([createRelease(server.home, 'delta-v3', [`${PKG}@1.0.2`]), createRelease(server.home, 'delta-v4', [`${PKG}@1.0.3`])]);
    const evil = Buffer.from(changed);
    evil.write('evil', 0);
    await withDmlBucket(server.home, async (store) => {
      // The index of 1.0.2 names the attacker's content (which it also stores); the signature no longer matches.
      const envelope = JSON.parse(Buffer.from((await store.getBlob(`index/${PKG}@1.0.2`))!).toString('utf8')) as { payload: string };
      const index = JSON.parse(envelope.payload) as { manifest: { files: { path: string; sha256: string }[] } };
      index.manifest.files.find((f) => f.path === 'data/blob-0.bin')!.sha256 = sha256(evil);
      envelope.payload = JSON.stringify(index);
      await store.putBlob({ name: `sha256/${sha256(evil)}` }, evil);
      await store.putBlob({ name: `index/${PKG}@1.0.2` }, Buffer.from(JSON.stringify(envelope)));
      // The content 1.0.3 needs is replaced by other bytes.
      await store.putBlob({ name: `sha256/${sha256(V4.files['data/blob-1.bin'] as Buffer)}` }, evil);
    });
    const warnings = () => agent.logs().split('\n').filter((l) => l.includes('delta download failed'));

    await rollout(server.home, 'delta-v3', delta);
    expect(readCurrent(delta.installRoot, PKG)).toBe('1.0.2');
    expect(versionDirProblems(delta.installRoot, V3)).toEqual([]);
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toContain('FERRY_SIGNATURE_INVALID');

    await rollout(server.home, 'delta-v4', delta);
    expect(readCurrent(delta.installRoot, PKG)).toBe('1.0.3');
    expect(versionDirProblems(delta.installRoot, V4)).toEqual([]);
    expect(warnings()).toHaveLength(2);
    expect(warnings()[1]).toContain('FERRY_DIGEST_MISMATCH');
    expect(deltaLines(agent)).toHaveLength(1); // only the 1.0.1 install was a delta
  }, 180_000);

  it('after a key rotation the file indexes are signed again, so an agent that trusts only the new key still gets deltas', async () => {
    const a = rotate;
    const agent = handles.get(a.id)!;
    expect(readCurrent(a.installRoot, PKG)).toBe('1.0.0');
    const indexKey = async () => {
      let key = '';
      await withDmlBucket(server.home, async (store) => {
        key = (JSON.parse(Buffer.from((await store.getBlob(`index/${PKG}@1.0.1`))!).toString('utf8')) as { key: string }).key;
      });
      return key;
    };
    const before = await indexKey();
    const trustVersion = () => (JSON.parse((JSON.parse(readFileSync(join(a.stateDir, 'trust.json'), 'utf8')) as { payload: string }).payload) as { version: number }).version;
    const v = trustVersion();
    await runFerry(server.home, ['keys', 'rotate', '--json']);
    await waitFor(async () => (await indexKey()) !== before, 30_000, { message: 'the file index of 1.0.1 was not signed again' });
    await waitFor(() => trustVersion() > v, 30_000, { message: 'the agent did not take the new trust document' });
    await rollout(server.home, 'delta-v2', a);
    expect(deltaLines(agent)).toHaveLength(1);
    expect(snapshot(join(a.installRoot, PKG, '1.0.1'))).toEqual(fullTree);
  }, 180_000);
});
