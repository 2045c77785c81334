// Key rotation end to end: a real `ferry server`, a real `ferry-agent run` process, and the real
// `ferry keys rotate` CLI. Each step builds on the previous one (one server, one agent):
//   v1 (init) → v2 (new online key) → v3 (new root) → v4 (renewed, expires in 3 s) → v5 (renewed).
// Requires the compiled dist/ (`npx tsc -p .`) and nats-server on PATH.
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest, cleanupFleet, createToken, initServer, joinAgent, listAgents, runAgentCli, runFerry, startAgent, tempDir, waitFor, type AgentHandle, type JoinedAgent, type ServerHandle } from '../helpers/fleet.js';
import { agentStatus, createRelease, publishPackage, readCurrent, rolloutStatus, startRollout, waitRolloutEnd, type RolloutDoc } from '../helpers/faults.js';

interface RotateDoc {
  version: number;
  expiresAt: string;
  rootFingerprint: string;
  signingFingerprint: string;
  rotated: ('signing' | 'root')[];
  serverReloaded: boolean;
  server: { trustVersion: number; resigned: { records: number; states: number } } | null;
}

interface TrustDocOnDisk {
  version: number;
  expiresAt: string;
  root: { publicKey: string };
  keys: { publicKey: string; roles: string[] }[];
}

afterAll(cleanupFleet);

/** The trust document the agent saved in its state directory (what it currently trusts). */
function agentTrust(agent: JoinedAgent): TrustDocOnDisk {
  const signed = JSON.parse(readFileSync(join(agent.stateDir, 'trust.json'), 'utf8')) as { payload: string };
  return JSON.parse(signed.payload) as TrustDocOnDisk;
}

function serverTrustFile(home: string): string {
  return join(home, 'keys', 'trust.json');
}

describe('ferry keys rotate: end to end with a running server and agent', () => {
  let server: ServerHandle;
  let home: string;
  let agent: JoinedAgent;
  let handle: AgentHandle;
  let target: string;
  /** created under the v1/v2 root, used after the root rotation */
  let tokenBeforeRootRotation: string;
  let v2: RotateDoc;
  let rollout110 = '';
  let n = 0;

  const pkg = (version: string) => ({ name: 'app', version, files: { 'VERSION.txt': `${version}\n`, 'bin/app.sh': `#!/bin/sh\necho app ${version}\n` }, executable: ['bin/app.sh'] });
  const current = () => {
    const c = readCurrent(agent.installRoot, 'app');
    return c === undefined ? undefined : basename(c);
  };
  /** release + rollout of app@version to the one agent; returns the final rollout document. */
  async function ship(version: string): Promise<RolloutDoc> {
    const release = `app-${version}-${++n}`;
    await createRelease(home, release, [`app@${version}`]);
    const id = await startRollout(home, release, target);
    return waitRolloutEnd(home, id, 30_000);
  }
  async function rotate(args: string[]): Promise<RotateDoc> {
    return (await runFerry(home, ['keys', 'rotate', ...args, '--json'])).json<RotateDoc>();
  }

  beforeAll(async () => {
    server = await initServer();
    home = server.home;
    [agent, tokenBeforeRootRotation] = await Promise.all([joinAgent(home, 'keys-host'), createToken(home), publishPackage(home, pkg('1.0.0'))]);
    target = `id=${agent.id}`;
    // The agent reads a new trust document on its next poll of the desired state: each rotation
    // below waits for that, so it polls every 500 ms (2 s in the other tests).
    handle = await startAgent(agent, { env: { FERRY_DESIRED_POLL_MS: '500' } });
  }, 120_000);

  afterAll(async (ctx) => {
    if (ctx.tasks?.some?.((t) => t.result?.state === 'fail')) console.error(`--- agent output:\n${handle?.logs().slice(-6000)}\n--- server output:\n${server?.logs().slice(-6000)}`);
  });

  it('v1: app@1.0.0 rolls out', async () => {
    expect(agentTrust(agent).version).toBe(1);
    const r = await ship('1.0.0');
    expect(r.state, JSON.stringify(r)).toBe('completed');
    expect(current()).toBe('1.0.0');
  });

  it('v2: a new online key; the agent accepts it, a package added after the rotation installs, and the pre-rotation release can still be rolled back to', async () => {
    const oldSigning = agentTrust(agent).keys[0]!.publicKey;
    v2 = await rotate([]);
    expect(v2).toMatchObject({ version: 2, rotated: ['signing'], serverReloaded: true });
    expect(v2.server?.trustVersion).toBe(2);
    expect(v2.server?.resigned.records).toBeGreaterThanOrEqual(1); // app@1.0.0's record, signed by the old key
    // The agent reads the new document on its next poll.
    await waitFor(() => agentTrust(agent).version === 2, 15_000, { message: () => `agent still trusts ${JSON.stringify(agentTrust(agent))}` });
    const trusted = agentTrust(agent);
    expect(trusted.keys.map((k) => k.publicKey)).not.toContain(oldSigning);

    // Signed with the new key.
    await publishPackage(home, pkg('1.1.0'));
    const r = await ship('1.1.0');
    expect(r.state, JSON.stringify(r)).toBe('completed');
    expect(current()).toBe('1.1.0');
    rollout110 = r.id;

    // app@1.0.0's record was signed by the retired key and re-signed by the server: the agent
    // (which no longer trusts the old key) accepts the explicit, signed fleet rollback to it.
    await runFerry(home, ['rollout', 'rollback', rollout110, '--json']);
    let last: RolloutDoc | undefined;
    const back = await waitFor(
      async () => {
        last = await apiRequest(home, 'rollout.status', { id: rollout110 });
        return last.state === 'rolled-back' && last.endedAt ? last : undefined;
      },
      30_000,
      { message: () => `rollout ${rollout110} was not rolled back: ${JSON.stringify(last)}` },
    );
    expect(back.hosts.find((h) => h.agent === agent.id)?.state).toBe('rolled-back');
    expect(current()).toBe('1.0.0');
    await waitFor(async () => (await agentStatus(agent.stateDir)).installed.app === '1.0.0', 10_000);
  });

  it('v3: a new root, signed by the old and the new root; the agent follows it and installs', async () => {
    const oldRootKey = agentTrust(agent).root.publicKey;
    const v3 = await rotate(['--root']);
    expect(v3.version).toBe(3);
    expect(v3.rotated).toContain('root');
    expect(v3.rotated).toContain('signing');
    expect(v3.serverReloaded).toBe(true);
    expect(v3.rootFingerprint).not.toBe(v2.rootFingerprint);
    const newRoot = JSON.parse(readFileSync(join(home, 'keys', 'root.json'), 'utf8')) as { publicKey: string };
    expect(newRoot.publicKey).not.toBe(oldRootKey);

    await waitFor(() => agentTrust(agent).version === 3, 15_000, { message: () => `agent still trusts ${JSON.stringify(agentTrust(agent))}` });
    expect(agentTrust(agent).root.publicKey).toBe(newRoot.publicKey);

    await publishPackage(home, pkg('1.2.0'));
    const r = await ship('1.2.0');
    expect(r.state, JSON.stringify(r)).toBe('completed');
    expect(current()).toBe('1.2.0');
  });

  it('a join token created before the root rotation is refused by the joining agent (FERRY_UNTRUSTED_KEY)', async () => {
    // Documented behaviour: a join token pins the root key's fingerprint at the time it was
    // created. After `ferry keys rotate --root` the server hands out a trust document under the
    // new root, which the joining agent cannot link to the pinned (old) root — it has never seen
    // the chain of documents in between — so it refuses the server as a possible impostor.
    // Operators must create new tokens after a root rotation; old ones become useless.
    // (The server refuses such a token before it enrols anything: see the test below.)
    const stateDir = tempDir('ferry-agent-oldtoken-');
    const r = await runAgentCli(stateDir, ['join', '--token', tokenBeforeRootRotation, '--json'], { allowFail: true, env: { FERRY_HOSTNAME: 'late-host' } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('FERRY_UNTRUSTED_KEY');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(join(stateDir, 'identity.json'))).toBe(false);
    expect(existsSync(join(stateDir, 'trust.json'))).toBe(false);
    expect(existsSync(join(stateDir, 'agent.nk'))).toBe(false);

    // A token created now pins the new root and works.
    const fresh = await joinAgent(home, 'fresh-host');
    expect(agentTrust(fresh).version).toBe(3);
  });

  // Regression: a join with a pre-rotation token used to leave a ghost host behind.
  it('a join refused because of a pre-rotation token leaves no enrolled host behind on the server', async () => {
    const listed = await listAgents(home);
    expect(listed.map((a) => a.hostname)).toContain('fresh-host'); // the list is current
    expect(listed.map((a) => a.hostname)).not.toContain('late-host');
  });

  it('an expired trust document stops new installs (FERRY_TRUST_EXPIRED) until it is renewed', async () => {
    const short = await runFerry(home, ['keys', 'rotate', '--renew-only', '--expires', '3s', '--json']);
    const v4 = short.json<RotateDoc>();
    // said on stderr (stdout stays one document): how soon it runs out, and that older backups are now unusable
    expect(short.stderr).toContain('note: the trust document expires in 3s; after that agents refuse every command and desired state');
    expect(short.stderr).toContain('take a new backup (ferry backup FILE)');
    expect(v4).toMatchObject({ version: 4, rotated: [], serverReloaded: true });
    const expiresAt = Date.parse(v4.expiresAt);
    expect(expiresAt - Date.now()).toBeLessThanOrEqual(3000);
    await waitFor(() => agentTrust(agent).version === 4, 15_000);
    // (The package is added while the document runs out: its record is signed by the same key.)
    await Promise.all([publishPackage(home, pkg('1.3.0')), new Promise((r) => setTimeout(r, Math.max(0, expiresAt + 1000 - Date.now())))]);
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt + 1000);
    const failed = await ship('1.3.0');
    const host = failed.hosts.find((h) => h.agent === agent.id);
    expect(host?.state, JSON.stringify(failed)).toBe('failed');
    expect(host?.error).toContain('FERRY_TRUST_EXPIRED');
    expect(failed.state).toBe('halted');
    expect(current()).toBe('1.2.0');
    expect((await agentStatus(agent.stateDir)).installed.app).toBe('1.2.0');

    const v5 = await rotate(['--renew-only']);
    expect(v5).toMatchObject({ version: 5, rotated: [], serverReloaded: true });
    expect(Date.parse(v5.expiresAt) - Date.now()).toBeGreaterThan(364 * 86_400_000);
    const ok = await ship('1.3.0');
    expect(ok.state, JSON.stringify(ok)).toBe('completed');
    expect(current()).toBe('1.3.0');
    expect(agentTrust(agent).version).toBe(5);
  });

  it('rotating with a --root-key that is not the current root fails with FERRY_UNTRUSTED_KEY and changes nothing', async () => {
    // The root retired by the --root rotation (v2's root): no longer allowed to sign.
    const retired = join(home, 'keys', 'retired', 'root-v2.json');
    expect(existsSync(retired)).toBe(true);
    const offline = join(tempDir('ferry-offline-root-'), 'root.json');
    copyFileSync(retired, offline);
    const before = readFileSync(serverTrustFile(home), 'utf8');
    const signingBefore = readFileSync(join(home, 'keys', 'signing.json'), 'utf8');
    const r = await runFerry(home, ['keys', 'rotate', '--root-key', offline], { allowFail: true });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('FERRY_UNTRUSTED_KEY');
    // --root with --renew-only asks for two opposite things: refused before anything is read
    const both = await runFerry(home, ['keys', 'rotate', '--root', '--renew-only'], { allowFail: true });
    expect([both.code, both.stderr.trim()]).toEqual([2, expect.stringMatching(/^FERRY_USAGE: --root replaces the root key and --renew-only keeps every key: give one of them/)]);
    expect(readFileSync(serverTrustFile(home), 'utf8')).toBe(before);
    expect(readFileSync(join(home, 'keys', 'signing.json'), 'utf8')).toBe(signingBefore);
    expect(handle.child.exitCode).toBeNull();
  });
});
