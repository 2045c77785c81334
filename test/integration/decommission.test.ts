// `ferry agents decommission` end to end with real agent processes: --purge uninstalls the
// host's packages (hooks run), the agent acknowledges, deletes its seed and exits 0; its NATS
// identity no longer connects; it leaves `agents list` and rollout plans but keeps its CMDB
// history. An agent decommissioned while offline is refused by NATS when it comes back.
// Requires the compiled dist/ (`npx tsc -p .`) and nats-server on PATH.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats } from '../../shared/nats/connect.js';
import type { NatsCreds } from '../../shared/nats/creds.js';
import { cleanupFleet, createToken, initServer, joinAgent, listAgents, pollAgents, runAgentCli, runFerry, startAgents, waitFor, type AgentHandle, type JoinedAgent, type PackageSpec, type ServerHandle } from '../helpers/fleet.js';
import { readCurrent, waitExit } from '../helpers/faults.js';
import { buildAll, publishAll, startAndWait } from '../helpers/rollouts.js';

afterAll(cleanupFleet, 60_000);

const PKG: PackageSpec = {
  name: 'dcp',
  version: '1.0.0',
  files: { VERSION: 'dcp 1.0.0\n', 'hooks/postremove.sh': '#!/bin/sh\necho "$FERRY_VERSION" > "$FERRY_ROOT/postremove-$FERRY_PACKAGE"\n' },
  hooks: { postremove: 'hooks/postremove.sh' },
};

/** Can this agent's identity (its JWT and seed) log in to NATS? Resolves true, or the refusal's message. */
async function canConnect(url: string, creds: NatsCreds): Promise<true | string> {
  try {
    const nc = await connectNats({ url, creds, name: 'decommission-test', attempts: 1, timeoutMs: 15_000 });
    await nc.close();
    return true;
  } catch (err) {
    return (err as Error).message;
  }
}

describe('decommissioning agents: one server, three agents', () => {
  let server: ServerHandle;
  let home: string;
  let handles: AgentHandle[] = [];
  let joined: JoinedAgent[] = [];

  beforeAll(async () => {
    const start = async () => {
      const s = await initServer();
      const token = await createToken(s.home, { uses: 3 });
      const list: JoinedAgent[] = [];
      for (let i = 1; i <= 3; i++) list.push(await joinAgent(s.home, `dc-${i}`, { token }));
      return { s, list };
    };
    const [{ s, list }, files] = await Promise.all([start(), buildAll([PKG, { ...PKG, version: '1.1.0', files: { ...PKG.files, VERSION: 'dcp 1.1.0\n' } }])]);
    server = s;
    home = s.home;
    joined = list;
    handles = await startAgents(list);
    await publishAll(home, files, [
      { name: 'dcp-r', packages: ['dcp@1.0.0'] },
      { name: 'dcp-r2', packages: ['dcp@1.1.0'] },
    ]);
    const { code, result } = await startAndWait(home, 'dcp-r', []);
    if (code !== 0) throw new Error(`baseline rollout failed:\n${result.stdout}\n${result.stderr}`);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(handles.map((a) => a.stop()));
    await server?.stop();
  }, 120_000);

  it('--purge removes the packages, the agent exits 0 without its credentials, and the host leaves lists and targets but keeps its history', async () => {
    const [target, , other] = joined as [JoinedAgent, JoinedAgent, JoinedAgent];
    const handle = handles[0]!;
    const seed = { seed: readFileSync(join(target.stateDir, 'agent.nk'), 'utf8').trim(), jwt: (JSON.parse(readFileSync(join(target.stateDir, 'identity.json'), 'utf8')) as { jwt: string }).jwt };
    expect(await canConnect(server.url, seed)).toBe(true);

    const doc = (await runFerry(home, ['agents', 'decommission', target.id, '--purge', '--json'])).json<{
      id: string;
      stopped: boolean;
      revoked: boolean;
      purge: { package: string; version: string; result: string }[];
    }>();
    expect(doc).toMatchObject({ id: target.id, stopped: true, revoked: true, purge: [{ package: 'dcp', version: '1.0.0', result: 'removed' }] });

    // The package went through a real removal first.
    expect(readCurrent(target.installRoot, 'dcp')).toBeUndefined();
    expect(existsSync(join(target.installRoot, 'dcp'))).toBe(false);
    expect(readFileSync(join(target.installRoot, 'postremove-dcp'), 'utf8')).toBe('1.0.0\n');

    // The daemon exits by itself, cleanly, and its seed is gone.
    expect(await waitExit(handle.child, 60_000)).toEqual({ code: 0, signal: null });
    expect(handle.logs()).toMatch(/decommissioned by the server; credentials deleted; exiting/);
    expect(existsSync(join(target.stateDir, 'agent.nk'))).toBe(false);
    const status = (await runAgentCli(target.stateDir, ['status', '--json'])).json<{ decommissioned: boolean; running: boolean }>();
    expect(status).toMatchObject({ decommissioned: true, running: false });
    const rerun = await runAgentCli(target.stateDir, ['run'], { allowFail: true, timeoutMs: 15_000 });
    expect(rerun.code).toBe(5);
    expect(rerun.stderr).toMatch(/^FERRY_NOT_JOINED: this agent \(.+\) was decommissioned at/);

    // Its identity is revoked in NATS: the old seed is refused.
    expect(await canConnect(server.url, seed)).toMatch(/refused the credentials.*[Aa]uthorization [Vv]iolation/);

    // Gone from lists (and online counts) and from rollout targets; still in the CMDB.
    expect((await listAgents(home)).map((a) => a.id)).not.toContain(target.id);
    const all = (await runFerry(home, ['agents', 'list', '--all', '--json'])).json<{ id: string; state: string }[]>();
    expect(all.find((a) => a.id === target.id)?.state).toBe('decommissioned');
    expect(all.find((a) => a.id === other.id)?.state).toBe('active');
    const plan = (await runFerry(home, ['rollout', 'start', '--remove', 'dcp', '--dry-run', '--json'])).json<{ hosts: { agent: string }[] }>();
    expect(plan.hosts.map((h) => h.agent)).not.toContain(target.id);
    expect(plan.hosts.map((h) => h.agent)).toContain(other.id);
    const cmdb = (await runFerry(home, ['cmdb', 'show', target.hostname, '--json'])).json<{ state: string; history: { kind: string; package: string | null; result: string | null }[] }>();
    expect(cmdb.state).toBe('decommissioned');
    expect(cmdb.history.map((h) => [h.kind, h.package, h.result])).toEqual(
      expect.arrayContaining([
        ['decommissioned', null, null],
        ['remove', 'dcp', 'succeeded'],
        ['install', 'dcp', 'succeeded'],
        ['joined', null, null],
      ]),
    );
    expect(cmdb.history[0]!.kind).toBe('decommissioned');

    // Once is enough; unknown agents are named as such.
    const again = await runFerry(home, ['agents', 'decommission', target.id], { allowFail: true });
    expect(again.code).toBe(4);
    expect(again.stderr.trim()).toMatch(/^FERRY_CONFLICT: agent .+ was already decommissioned at \S+$/);
    const unknown = await runFerry(home, ['agents', 'decommission', 'no-such-host'], { allowFail: true });
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toMatch(/^FERRY_NOT_FOUND: no agent "no-such-host"/);
  }, 180_000);

  it('an agent decommissioned while offline is revoked anyway: when it comes back NATS refuses it and it logs why', async () => {
    const target = joined[1]!;
    await handles[1]!.stop();
    await waitFor(async () => (await pollAgents(home)).find((a) => a.id === target.id)?.online === false, 20_000, { message: 'the stopped agent never showed offline' });

    // A rollout that includes the offline host waits for it...
    const pending = (await runFerry(home, ['rollout', 'start', 'dcp-r2', '--include-offline', '--json'])).json<{ id: string }>().id;
    const waiting = await waitFor(async () => {
      const st = (await runFerry(home, ['rollout', 'status', pending, '--json'])).json<{ state: string; hosts: { agent: string; state: string }[] }>();
      return st.hosts.find((h) => h.agent === joined[2]!.id)?.state === 'succeeded' ? st : undefined;
    }, 30_000);
    expect(waiting.state).toBe('running');
    expect(waiting.hosts.find((h) => h.agent === target.id)?.state).toBe('sent');

    const doc = (await runFerry(home, ['agents', 'decommission', target.hostname, '--json'])).json<{ id: string; stopped: boolean; revoked: boolean }>();
    expect(doc).toMatchObject({ id: target.id, stopped: false, revoked: true });
    // ...and no longer does once it is decommissioned: the host is skipped and the rollout completes.
    const done = await waitFor(async () => {
      const st = (await runFerry(home, ['rollout', 'status', pending, '--json'])).json<{ state: string; hosts: { agent: string; state: string; error?: string }[] }>();
      return st.state === 'completed' ? st : undefined;
    }, 20_000, { message: 'the rollout kept waiting for the decommissioned host' });
    expect(done.hosts.find((h) => h.agent === target.id)).toMatchObject({ state: 'skipped', error: expect.stringMatching(/^decommissioned by /) });
    expect((await listAgents(home)).map((a) => a.id)).not.toContain(target.id);

    // It still has its seed (it never heard the command), but the identity is dead.
    const [back] = await startAgents([target], { waitOnline: false });
    handles.push(back!);
    await waitFor(() => /refused the credentials \(.*[Aa]uthorization [Vv]iolation/.test(back!.logs()), 20_000, { message: () => `no authorization refusal logged:\n${back!.logs()}` });
    expect(readCurrent(target.installRoot, 'dcp')).toBe('1.0.0'); // not purged: nothing was asked of it
    await back!.stop();

    // The remaining host is unaffected.
    const rest = await listAgents(home);
    expect(rest.map((a) => [a.id, a.online])).toEqual([[joined[2]!.id, true]]);
  }, 180_000);
});
