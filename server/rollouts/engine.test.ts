// The rollout engine, tick by tick (the shape of hawkBit's RolloutManagementFlowTest): a real
// SQLite store, a hand-stepped clock, a desired-state publisher that only records what would be
// sent; feed agent reports, tick once, assert wave and host states after every step.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HostState } from '../../shared/protocol/messages.js';
import Database from 'better-sqlite3';
import { openDatabase, type Db } from '../db/open.js';
import { MIGRATIONS } from '../db/schema.js';
import type { DesiredChange, DesiredStatePublisher } from '../desired/publisher.js';
import type { DmlService } from '../dml/service.js';
import type { ReleaseStore } from '../releases/store.js';
import { RolloutEngine } from './engine.js';
import { RolloutService } from './service.js';
import type { CmdbStore } from '../cmdb/store.js';
import { nextRolloutState, ROLLOUT_TRANSITIONS, transition } from './lifecycle.js';
import { parseFailureThreshold, parseRolloutOptions } from './options.js';
import { RolloutStore, type RolloutOptions } from './store.js';
import { FerryError } from '../../shared/errors.js';
import { ROLLOUT_STATES } from '../../shared/protocol/api.js';

const AGENTS = ['a1', 'a2', 'a3', 'a4', 'a5'];
const BASE: RolloutOptions = { waves: ['1', '100%'], soakMs: 0, maxFailures: '0', onFailure: 'halt', hostTimeoutMs: 60_000, includeOffline: false };

/** What the engine handed to the publisher, in order. */
class RecordingPublisher {
  readonly sent: DesiredChange[] = [];
  prepare(changes: DesiredChange[]): DesiredChange[] {
    return changes;
  }
  async send(docs: DesiredChange[]): Promise<void> {
    this.sent.push(...docs);
  }
  stored(): DesiredChange[] {
    return [];
  }
}

const releases = {
  require: (name: string) => ({ name, packages: [{ name: 'web', version: '2.0.0' }] }),
} as unknown as ReleaseStore;
const dml = {
  get: (name: string, version: string) => ({ name, version, state: 'draft', record: { payload: `${name}@${version}`, signature: 'x', key: 'k' } }),
  require: (name: string, version: string) => ({ name, version, state: 'draft', record: { payload: `${name}@${version}`, signature: 'x', key: 'k' } }),
} as unknown as DmlService;

describe('rollout engine, tick by tick', () => {
  let dir: string;
  let db: Db;
  let store: RolloutStore;
  let desired: RecordingPublisher;
  let engine: RolloutEngine;
  let now: number;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-engine-'));
    db = openDatabase(join(dir, 'ferry.db'));
    const add = db.prepare("INSERT INTO agents (id, nkey, hostname, tags, joined_at) VALUES (?, ?, ?, '{}', 0)");
    for (const a of AGENTS) add.run(a, `U${a}`, `host-${a}`);
    store = new RolloutStore(db);
    desired = new RecordingPublisher();
    now = 1_000_000;
    engine = new RolloutEngine(store, releases, dml, desired as unknown as DesiredStatePublisher, pino({ level: 'silent' }), () => now);
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A running rollout of release `rel` over AGENTS: wave sizes as given, hosts in order. */
  function create(id: string, options: Partial<RolloutOptions>, waveSizes: number[]): void {
    const hosts: { agent: string; wave: number; state: HostState; fromVersions: Record<string, string>; reason: string | null }[] = [];
    let i = 0;
    waveSizes.forEach((size, wave) => {
      for (let k = 0; k < size; k++) hosts.push({ agent: AGENTS[i++]!, wave, state: 'pending', fromVersions: { web: '1.0.0' }, reason: null });
    });
    store.insertRollout({ id, release: 'rel', strategy: 'phased', state: 'running', target: 'all', options: { ...BASE, ...options }, createdAt: now, actor: 'test' }, waveSizes, hosts);
    store.setState(id, 'running', { startedAt: now });
  }

  const report = (id: string, agent: string, state: HostState, error?: string) =>
    engine.applyReport({ agent, ts: now, operation: id, state, installed: {}, ...(error ? { error } : {}) });
  const rollbackReport = (id: string, agent: string, state: HostState) => engine.applyReport({ agent, ts: now, operation: `${id}:rollback`, state, installed: {} });
  const waves = (id: string) => store.waves(id).map((w) => w.state);
  const hosts = (id: string) => Object.fromEntries(store.hosts(id).map((h) => [h.agent, h.state]));
  const rollout = (id: string) => store.get(id)!;

  it('runs wave after wave: canary, judge, next wave, complete', async () => {
    create('r-1', {}, [1, 4]);
    await engine.tick();
    expect(waves('r-1')).toEqual(['running', 'pending']);
    expect(hosts('r-1')).toEqual({ a1: 'sent', a2: 'pending', a3: 'pending', a4: 'pending', a5: 'pending' });
    expect(desired.sent.map((c) => c.agent)).toEqual(['a1']);

    await engine.tick(); // nothing reported: nothing moves, nothing is sent again
    expect(waves('r-1')).toEqual(['running', 'pending']);
    expect(desired.sent).toHaveLength(1);

    expect(report('r-1', 'a1', 'installing')).toBe(true);
    expect(report('r-1', 'a1', 'succeeded')).toBe(true);
    await engine.tick();
    expect(waves('r-1')).toEqual(['completed', 'running']);
    expect(hosts('r-1')).toMatchObject({ a1: 'succeeded', a2: 'sent', a5: 'sent' });
    expect(desired.sent.map((c) => c.agent)).toEqual(['a1', 'a2', 'a3', 'a4', 'a5']);

    for (const a of ['a2', 'a3', 'a4']) report('r-1', a, 'succeeded');
    await engine.tick();
    expect(rollout('r-1').state).toBe('running');
    report('r-1', 'a5', 'succeeded');
    await engine.tick();
    expect(waves('r-1')).toEqual(['completed', 'completed']);
    expect(rollout('r-1')).toMatchObject({ state: 'completed', endedAt: now });
    await engine.tick(); // a completed rollout is left alone
    expect(desired.sent).toHaveLength(5);
  });

  it('soaks a wave for exactly --soak before the next starts', async () => {
    create('r-1', { soakMs: 10_000 }, [1, 4]);
    await engine.tick();
    report('r-1', 'a1', 'succeeded');
    await engine.tick();
    expect(store.waves('r-1')[0]).toMatchObject({ state: 'soaking', soakUntil: now + 10_000 });
    now += 9_999;
    await engine.tick();
    expect(waves('r-1')).toEqual(['soaking', 'pending']);
    now += 1;
    await engine.tick();
    expect(waves('r-1')).toEqual(['completed', 'running']);
  });

  it('halts past --max-failures (a percentage of the wave) and sends nothing more', async () => {
    create('r-1', { maxFailures: '25%' }, [1, 4]);
    await engine.tick();
    report('r-1', 'a1', 'succeeded');
    await engine.tick();
    report('r-1', 'a2', 'failed', 'boom'); // 1 of 4 = 25%: tolerated
    await engine.tick();
    expect(rollout('r-1').state).toBe('running');
    report('r-1', 'a3', 'rolled-back', 'health'); // 2 of 4: past it
    await engine.tick();
    expect(waves('r-1')).toEqual(['completed', 'failed']);
    expect(rollout('r-1')).toMatchObject({ state: 'halted', endedAt: now });
    expect(rollout('r-1').reason).toMatch(/wave 2: 2 host\(s\) failed, more than the 1 allowed by --max-failures 25%/);
  });

  it('--on-failure rollback: halted, then rolling-back (not ended) until every host reported, then rolled-back', async () => {
    create('r-1', { onFailure: 'rollback' }, [1, 4]);
    await engine.tick();
    report('r-1', 'a1', 'succeeded');
    await engine.tick();
    report('r-1', 'a2', 'failed', 'boom');
    await engine.tick();
    expect(rollout('r-1')).toMatchObject({ state: 'rolling-back', endedAt: null });
    const back = desired.sent.filter((c) => c.operation === 'r-1:rollback').map((c) => c.agent).sort();
    expect(back).toEqual(['a1', 'a3', 'a4', 'a5']); // the succeeded canary and the hosts still in flight
    for (const a of ['a1', 'a3', 'a4']) rollbackReport('r-1', a, 'rolled-back');
    await engine.tick();
    expect(rollout('r-1').state).toBe('rolling-back');
    rollbackReport('r-1', 'a5', 'rolled-back');
    await engine.tick();
    expect(rollout('r-1')).toMatchObject({ state: 'rolled-back', endedAt: now });
    expect(hosts('r-1')).toEqual({ a1: 'rolled-back', a2: 'failed', a3: 'rolled-back', a4: 'rolled-back', a5: 'rolled-back' });
    // The hosts the fleet rollback sent back are marked as such (the risk score leaves them out).
    const causes = db.prepare("SELECT agent_id, cause FROM rollout_hosts WHERE rollout_id = 'r-1' ORDER BY agent_id").all() as { agent_id: string; cause: string | null }[];
    expect(causes.map((c) => c.cause)).toEqual(['fleet-rollback', null, 'fleet-rollback', 'fleet-rollback', 'fleet-rollback']);
    expect(store.events('r-1').map((e) => e.action)).toEqual(expect.arrayContaining(['halted', 'rollback-started', 'rolled-back']));
  });

  /** A canary, a wave-2 failure, --on-failure rollback: every host sent back reports but a5. */
  async function rollingBackWithoutA5(hostTimeoutMs: number): Promise<void> {
    create('r-1', { onFailure: 'rollback', hostTimeoutMs }, [1, 4]);
    await engine.tick();
    report('r-1', 'a1', 'succeeded');
    await engine.tick();
    report('r-1', 'a2', 'failed', 'boom');
    await engine.tick();
    expect(rollout('r-1').state).toBe('rolling-back');
    for (const a of ['a1', 'a3', 'a4']) rollbackReport('r-1', a, 'rolled-back');
  }

  it('rolling-back with a host that has not reported: stays open within --host-timeout until an operator aborts it', async () => {
    await rollingBackWithoutA5(3_600_000);
    // a5 does not answer: within --host-timeout the rollout waits (and still holds its hosts)
    for (let i = 0; i < 3; i++) {
      now += 60_000;
      await engine.tick();
      expect(rollout('r-1')).toMatchObject({ state: 'rolling-back', endedAt: null });
    }
    expect(store.rollingBack().map((r) => r.id)).toEqual(['r-1']);
    // The operator stops waiting: aborted (ended), saying how many hosts never reported.
    const cmdb = { hostnames: () => new Map<string, string>() } as unknown as CmdbStore;
    const service = new RolloutService(store, engine, releases, dml, cmdb, () => true, join(dir, 'policy.yaml'));
    const doc = await service.act({ id: 'r-1', action: 'abort', actor: 'alice' } as Parameters<RolloutService['act']>[0]);
    expect(doc).toMatchObject({ state: 'aborted', reason: 'aborted by alice (rollback not reported by 1 host(s))' });
    expect(rollout('r-1').endedAt).not.toBeNull();
    expect(store.rollingBack()).toEqual([]);
    await engine.tick();
    expect(rollout('r-1').state).toBe('aborted');
    expect(hosts('r-1')).toEqual({ a1: 'rolled-back', a2: 'failed', a3: 'rolled-back', a4: 'rolled-back', a5: 'sent' });
    // A rollback reported after all is still recorded; the rollout stays aborted.
    expect(rollbackReport('r-1', 'a5', 'rolled-back')).toBe(true);
    await engine.tick();
    expect(hosts('r-1').a5).toBe('rolled-back');
    expect(rollout('r-1').state).toBe('aborted');
    expect(store.events('r-1').map((e) => e.action)).toEqual(expect.arrayContaining(['rollback-started', 'abort']));
  });

  it('rolling-back with a host that never reports: ends rolled-back after --host-timeout, the host unconfirmed; its later report is still recorded', async () => {
    await rollingBackWithoutA5(30_000);
    now += 30_000; // not past it yet
    await engine.tick();
    expect(rollout('r-1')).toMatchObject({ state: 'rolling-back', endedAt: null });
    now += 1;
    await engine.tick();
    expect(rollout('r-1')).toMatchObject({ state: 'rolled-back', endedAt: now });
    expect(rollout('r-1').reason).toMatch(/\(rollback not confirmed by 1 host\(s\) within 30s\)$/);
    expect(store.host('r-1', 'a5')).toMatchObject({ rollback: 'unconfirmed', state: 'sent' });
    expect(store.host('r-1', 'a5')!.error).toMatch(/did not confirm its rollback within 30s; it goes back to its previous version when it reports again/);
    expect(store.events('r-1').find((e) => e.action === 'rolled-back')?.detail).toBe('rollback not confirmed by 1 host(s) within 30s');
    // It comes back and rolls back: recorded, the error gone; the rollout stays ended.
    expect(rollbackReport('r-1', 'a5', 'rolled-back')).toBe(true);
    await engine.tick();
    expect(store.host('r-1', 'a5')).toMatchObject({ rollback: 'done', state: 'rolled-back', error: null });
    expect(rollout('r-1').state).toBe('rolled-back');
    expect(hosts('r-1')).toEqual({ a1: 'rolled-back', a2: 'failed', a3: 'rolled-back', a4: 'rolled-back', a5: 'rolled-back' });
  });

  it('times out a host after --host-timeout, counted against its wave', async () => {
    create('r-1', { hostTimeoutMs: 30_000 }, [1, 4]);
    await engine.tick();
    now += 30_001;
    await engine.tick();
    expect(hosts('r-1').a1).toBe('failed');
    expect(store.host('r-1', 'a1')!.error).toMatch(/did not finish within 30s/);
    expect(rollout('r-1').state).toBe('halted');
  });

  it("a host held by its maintenance window is timed from the window's deadline; one with no deadline is not timed out", async () => {
    create('r-1', { hostTimeoutMs: 30_000 }, [2, 3]);
    await engine.tick();
    const until = now + 120_000;
    expect(engine.applyReport({ agent: 'a1', ts: now, operation: 'r-1', state: 'sent', installed: {}, waiting: { reason: 'window closed', until } })).toBe(true);
    expect(engine.applyReport({ agent: 'a2', ts: now, operation: 'r-1', state: 'sent', installed: {}, waiting: { reason: 'window closed' } })).toBe(true);
    now += 30_001; // past --host-timeout since they were sent, but held
    await engine.tick();
    expect(hosts('r-1')).toMatchObject({ a1: 'sent', a2: 'sent' });
    now = until + 30_001; // past --host-timeout since the deadline
    await engine.tick();
    expect(hosts('r-1')).toMatchObject({ a1: 'failed', a2: 'sent' });
    expect(store.host('r-1', 'a1')!.error).toMatch(/did not finish within 30s/);
  });

  it('waits outside its window and starts the wave when the window opens', async () => {
    // 1_000_000 ms after the epoch is Thursday 1970-01-01 00:16:40 UTC.
    create('r-1', { window: '00:30-01:00', timeZone: 'UTC' }, [1, 4]);
    await engine.tick();
    expect(rollout('r-1').state).toBe('waiting');
    expect(rollout('r-1').reason).toMatch(/outside the window "00:30-01:00"/);
    expect(waves('r-1')).toEqual(['pending', 'pending']);
    now = 31 * 60_000;
    await engine.tick();
    expect(rollout('r-1').state).toBe('running');
    expect(waves('r-1')).toEqual(['running', 'pending']);
  });

  it('a paused rollout starts nothing, still halts on failures, and resumes where it was', async () => {
    create('r-1', {}, [1, 4]);
    await engine.tick();
    store.setState('r-1', nextRolloutState('r-1', 'running', 'pause'));
    report('r-1', 'a1', 'succeeded');
    await engine.tick();
    expect(waves('r-1')).toEqual(['running', 'pending']); // judged only once resumed
    store.setState('r-1', nextRolloutState('r-1', 'paused', 'resume'));
    await engine.tick();
    expect(waves('r-1')).toEqual(['completed', 'running']);
  });

  it('an aborted rollout ends its waves and skips the hosts never sent; a later fleet rollback still reaches every host it changed', async () => {
    create('r-1', { soakMs: 10_000 }, [1, 2, 2]);
    const cmdb = { hostnames: () => new Map<string, string>() } as unknown as CmdbStore;
    const service = new RolloutService(store, engine, releases, dml, cmdb, () => true, join(dir, 'policy.yaml'));
    const act = (action: 'abort' | 'rollback') => service.act({ id: 'r-1', action, actor: 'alice' } as Parameters<RolloutService['act']>[0]);
    await engine.tick();
    report('r-1', 'a1', 'succeeded');
    await engine.tick(); // wave 1 soaks
    now += 10_000;
    await engine.tick(); // wave 2 starts
    report('r-1', 'a3', 'succeeded'); // a2 is still installing
    const doc = await act('abort');
    expect(doc.state).toBe('aborted');
    expect(waves('r-1')).toEqual(['completed', 'aborted', 'aborted']);
    expect(hosts('r-1')).toEqual({ a1: 'succeeded', a2: 'sent', a3: 'succeeded', a4: 'skipped', a5: 'skipped' });
    expect(doc.hosts.find((h) => h.agent === 'a4')).toMatchObject({ state: 'skipped', reason: 'not sent: the rollout was aborted by alice' });
    expect(doc.waves.map((w) => w.soakUntil === undefined || w.state !== 'soaking')).toEqual([true, true, true]);
    expect(doc.counts).toEqual({ succeeded: 2, sent: 1, skipped: 2 });
    const sent = desired.sent.length;
    now += 60_000;
    await engine.tick(); // an aborted rollout is left alone
    expect(waves('r-1')).toEqual(['completed', 'aborted', 'aborted']);
    expect(desired.sent).toHaveLength(sent);
    // The host still installing when it was aborted finishes, and is recorded.
    expect(report('r-1', 'a2', 'succeeded')).toBe(true);
    // A fleet rollback sends back every host the rollout changed, none it never sent to.
    expect((await act('rollback')).state).toBe('rolling-back');
    expect(desired.sent.slice(sent).map((c) => [c.agent, c.operation])).toEqual([
      ['a1', 'r-1:rollback'],
      ['a2', 'r-1:rollback'],
      ['a3', 'r-1:rollback'],
    ]);
    for (const a of ['a1', 'a2', 'a3']) rollbackReport('r-1', a, 'rolled-back');
    await engine.tick();
    expect(rollout('r-1').state).toBe('rolled-back');
    expect(hosts('r-1')).toEqual({ a1: 'rolled-back', a2: 'rolled-back', a3: 'rolled-back', a4: 'skipped', a5: 'skipped' });
    expect(waves('r-1')).toEqual(['completed', 'aborted', 'aborted']);
    // Sent back by the operator: not failures (wave tallies, rollout status).
    const after = service.status('r-1');
    expect(after.waves.map((w) => w.failed)).toEqual([0, 0, 0]);
    expect(after.hosts.filter((h) => h.cause === 'fleet-rollback').map((h) => h.agent)).toEqual(['a1', 'a2', 'a3']);
  });

  it('a fleet rollback of a halted rollout ends the waves it will never run', async () => {
    create('r-1', {}, [1, 2, 2]);
    await engine.tick();
    report('r-1', 'a1', 'failed', 'boom');
    await engine.tick();
    expect(rollout('r-1').state).toBe('halted');
    expect(waves('r-1')).toEqual(['failed', 'pending', 'pending']); // a retry may still run them
    await engine.rollBack(rollout('r-1'), 'alice', 'rollback requested by alice');
    expect(rollout('r-1').state).toBe('rolled-back'); // nothing to send back: the canary undid itself
    expect(waves('r-1')).toEqual(['failed', 'aborted', 'aborted']);
    expect(hosts('r-1')).toEqual({ a1: 'failed', a2: 'skipped', a3: 'skipped', a4: 'skipped', a5: 'skipped' });
    expect(store.host('r-1', 'a2')!.reason).toBe('not sent: the rollout was rolled back');
  });

  it('a paused rollout in a soak leaves the soaking wave to its resume, past the end of the soak', async () => {
    create('r-1', { soakMs: 10_000 }, [1, 4]);
    await engine.tick();
    report('r-1', 'a1', 'succeeded');
    await engine.tick();
    store.setState('r-1', nextRolloutState('r-1', 'running', 'pause'));
    now += 20_000;
    await engine.tick();
    expect(waves('r-1')).toEqual(['soaking', 'pending']);
    store.setState('r-1', nextRolloutState('r-1', 'paused', 'resume'));
    await engine.tick();
    expect(waves('r-1')).toEqual(['completed', 'running']);
  });

  it('parses the options once per rollout, not on every tick', async () => {
    create('r-1', { maxFailures: '1' }, [1, 4]);
    await engine.tick();
    const first = engine.settings(rollout('r-1'));
    await engine.tick();
    expect(engine.settings(rollout('r-1'))).toBe(first);
    expect(first.maxFailures).toEqual({ kind: 'count', count: 1 });
  });
});

describe('rollouts that ended before their waves were closed (database migration)', () => {
  it('an aborted or rolled-back rollout of before gets its waves ended and its hosts never sent skipped; a halted one keeps them for a retry', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-engine-migrate-'));
    const file = join(dir, 'ferry.db');
    try {
      const before = MIGRATIONS.findIndex((m) => m.includes("UPDATE waves SET state = 'aborted'"));
      expect(before).toBeGreaterThan(0);
      const old = new Database(file);
      for (let v = 0; v < before; v++) old.exec(MIGRATIONS[v]!);
      old.pragma(`user_version = ${before}`);
      const rollout = old.prepare("INSERT INTO rollouts (id, release, strategy, state, options, target, created_at, started_at, ended_at, actor) VALUES (?, 'rel', 'phased', ?, '{}', 'all', 1000, 1000, ?, 'test')");
      const wave = old.prepare('INSERT INTO waves (rollout_id, idx, state, size, soak_until) VALUES (?, ?, ?, 1, ?)');
      const host = old.prepare("INSERT INTO rollout_hosts (rollout_id, agent_id, wave, state, updated_at) VALUES (?, ?, ?, ?, 1000)");
      for (const [id, state] of [['r-ab', 'aborted'], ['r-rb', 'rolled-back'], ['r-ha', 'halted']] as const) {
        rollout.run(id, state, 5000);
        wave.run(id, 0, state === 'halted' ? 'failed' : 'soaking', 9000);
        wave.run(id, 1, 'pending', null);
        host.run(id, 'a1', 0, state === 'rolled-back' ? 'rolled-back' : 'succeeded');
        host.run(id, 'a2', 1, 'pending');
      }
      old.close();
      const db = openDatabase(file);
      try {
        const store = new RolloutStore(db);
        for (const id of ['r-ab', 'r-rb']) {
          expect(store.waves(id).map((w) => [w.state, w.endedAt])).toEqual([
            ['aborted', 5000],
            ['aborted', 5000],
          ]);
          expect(store.host(id, 'a2')).toMatchObject({ state: 'skipped', reason: 'not sent: the rollout ended before its wave', finishedAt: 5000 });
        }
        expect(store.host('r-ab', 'a1')!.state).toBe('succeeded');
        expect(store.waves('r-ha').map((w) => w.state)).toEqual(['failed', 'pending']);
        expect(store.host('r-ha', 'a2')!.state).toBe('pending');
      } finally {
        db.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('rollout lifecycle table', () => {
  it('has a row for every contract state, and every target is a state', () => {
    expect(Object.keys(ROLLOUT_TRANSITIONS).sort()).toEqual([...ROLLOUT_STATES].sort());
    for (const row of Object.values(ROLLOUT_TRANSITIONS)) for (const to of Object.values(row)) expect(ROLLOUT_STATES).toContain(to);
  });

  it('rolling back is a state between the decision and the end', () => {
    expect(transition('running', 'rollback')).toBe('rolling-back');
    expect(transition('completed', 'rollback')).toBe('rolling-back');
    expect(transition('halted', 'rollback')).toBe('rolling-back');
    expect(transition('rolling-back', 'rollback-done')).toBe('rolled-back');
    expect(transition('rolling-back', 'rollback')).toBeUndefined();
  });

  it('a rolling-back rollout can be aborted (a host may never report), and nothing else but finish', () => {
    expect(ROLLOUT_TRANSITIONS['rolling-back']).toEqual({ 'rollback-done': 'rolled-back', abort: 'aborted' });
    expect(transition('rolling-back', 'abort')).toBe('aborted');
    // aborted is not final: a fleet rollback may be asked for again
    expect(transition('aborted', 'rollback')).toBe('rolling-back');
    let err: FerryError | undefined;
    try {
      nextRolloutState('r-9', 'rolling-back', 'pause');
    } catch (e) {
      err = e as FerryError;
    }
    expect(err?.toLine()).toBe('FERRY_CONFLICT: cannot pause rollout r-9: it is rolling-back — hint: a rolling-back rollout allows: abort (ferry rollout abort r-9)');
  });

  it('the hint names only what an operator can run, with the right article', () => {
    const hint = (id: string, state: Parameters<typeof nextRolloutState>[1], action: Parameters<typeof nextRolloutState>[2]) => {
      try {
        nextRolloutState(id, state, action);
      } catch (e) {
        return (e as FerryError).hint;
      }
      throw new Error(`${action} of a ${state} rollout was allowed`);
    };
    // no `halt` (the engine's), which no command runs
    expect(hint('r-9', 'paused', 'pause')).toBe('a paused rollout allows: resume, abort, rollback (ferry rollout ACTION r-9)');
    expect(hint('r-9', 'aborted', 'abort')).toBe('an aborted rollout allows: rollback (ferry rollout rollback r-9)');
    expect(hint('r-9', 'running', 'resume')).toBe('a running rollout allows: pause, abort, rollback (ferry rollout ACTION r-9)');
    expect(hint('r-9', 'rolled-back', 'rollback')).toBe('a rolled-back rollout is final');
  });

  it('refuses what the table does not allow, with FERRY_CONFLICT naming the rollout and its state', () => {
    const err = (() => {
      try {
        nextRolloutState('r-9', 'rolled-back', 'rollback');
      } catch (e) {
        return e as FerryError;
      }
    })();
    expect(err).toBeInstanceOf(FerryError);
    expect(err!.code).toBe('FERRY_CONFLICT');
    expect(err!.message).toBe('cannot rollback rollout r-9: it is rolled-back');
    expect(() => nextRolloutState('r-9', 'completed', 'pause')).toThrow(/it is completed/);
    expect(() => nextRolloutState('r-9', 'halted', 'resume')).toThrow(/it is halted/);
  });
});

describe('rollout options, parsed once', () => {
  it('takes --max-failures as a count or a percentage of a wave', () => {
    expect(parseFailureThreshold('3')).toEqual({ kind: 'count', count: 3 });
    expect(parseFailureThreshold('12.5%')).toEqual({ kind: 'percent', percent: 12.5 });
  });

  it.each([
    [{ maxFailures: '150%' }, /--max-failures 150% is more than 100% of a wave/],
    [{ maxFailures: 'lots' }, /--max-failures "lots" is not a count or percentage/],
    [{ waves: ['1', '50%'] }, /the last wave must be 100%/],
    [{ waves: ['50%', '10%', '100%'] }, /waves must not shrink/],
    [{ waves: ['1', '150%', '100%'] }, /between 0% and 100%/],
    [{ window: 'Mon-Fry 22:00-05:00', timeZone: 'UTC' }, /./],
  ] as [Partial<RolloutOptions>, RegExp][])('refuses %j', (bad, message) => {
    let err: unknown;
    try {
      parseRolloutOptions({ ...BASE, ...bad });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).code).toMatch(/FERRY_INVALID_INPUT|FERRY_USAGE/);
    expect((err as FerryError).message).toMatch(message);
    expect((err as FerryError).toLine()).not.toContain('\n');
  });
});
