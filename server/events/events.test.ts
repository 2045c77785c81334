// The event outbox and the evented rollout store on a real SQLite file, plus the pure parts of
// webhook delivery (patterns, scoping, backoff, signature).
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EVENT_PATTERN, EVENT_TYPES, ferryEventSchema, matchesEventPattern, patternMatchesSomeType } from '../../shared/protocol/events.js';
import { openDatabase, type Db } from '../db/open.js';
import { retryDelay, webhookWants } from '../notify/dispatcher.js';
import { webhookSignature } from '../notify/deliver.js';
import { validateWebhookUrl } from '../notify/service.js';
import { WebhookStore } from '../notify/store.js';
import { EventOutbox, toEvent } from './outbox.js';
import { EventedRolloutStore } from './rollout-events.js';
import type { RolloutOptions } from '../rollouts/store.js';

const OPTIONS: RolloutOptions = { waves: ['1', '100%'], soakMs: 0, maxFailures: '0', onFailure: 'halt', hostTimeoutMs: 60_000, includeOffline: false };

describe('evented rollout store', () => {
  let dir: string;
  let db: Db;
  let outbox: EventOutbox;
  let store: EventedRolloutStore;
  const types = () => outbox.after(0, 1000).map((r) => r.type);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-events-'));
    db = openDatabase(join(dir, 'ferry.db'));
    db.prepare("INSERT INTO agents (id, nkey, hostname, tags, joined_at) VALUES ('a1', 'UKEY1', 'web-1', '{}', 0), ('a2', 'UKEY2', 'web-2', '{}', 0)").run();
    outbox = new EventOutbox(db);
    store = new EventedRolloutStore(db, outbox);
    store.insertRollout({ id: 'r-1', release: 'rel', strategy: 'phased', state: 'running', target: 'all', options: OPTIONS, createdAt: Date.now(), actor: 'admin' }, [1, 1], [
      { agent: 'a1', wave: 0, state: 'pending', fromVersions: {}, reason: null },
      { agent: 'a2', wave: 1, state: 'pending', fromVersions: {}, reason: null },
    ]);
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('records one event per state change, none for a repeated state, each valid against the schema', () => {
    store.setState('r-1', 'running', { startedAt: Date.now() });
    store.setWave('r-1', 0, 'running', { startedAt: Date.now() });
    store.setHost('r-1', 'a1', 'sent', { sentAt: Date.now() });
    store.setHost('r-1', 'a1', 'sent', { error: 'same state again' });
    store.setHost('r-1', 'a1', 'succeeded', { finishedAt: Date.now() });
    store.setWave('r-1', 0, 'completed');
    store.setState('r-1', 'paused', { reason: 'paused by ops' });
    store.setState('r-1', 'paused', { reason: 'still paused' });
    store.setState('r-1', 'running', { reason: 'resumed by ops' });
    store.setState('r-1', 'halted', { reason: 'boom' });
    store.setState('r-1', 'halted', { endedAt: Date.now() });
    expect(types()).toEqual(['rollout.created', 'rollout.started', 'wave.started', 'host.sent', 'host.succeeded', 'wave.completed', 'rollout.paused', 'rollout.resumed', 'rollout.halted']);
    for (const row of outbox.after(0, 1000)) expect(() => ferryEventSchema.parse(toEvent(row))).not.toThrow();
    const host = toEvent(outbox.after(0, 1000)[4]!);
    expect(host.data).toMatchObject({ rollout: 'r-1', release: 'rel', agent: 'a1', hostname: 'web-1', wave: 0, state: 'succeeded', previous: 'sent' });
    expect(outbox.after(0, 1000).every((r) => r.release === 'rel')).toBe(true);
  });

  it('an event exists exactly when its change committed', () => {
    expect(() =>
      store.transaction(() => {
        store.setHost('r-1', 'a2', 'failed', { error: 'x' });
        throw new Error('the rest of the step failed');
      }),
    ).toThrow('the rest of the step failed');
    expect(store.host('r-1', 'a2')!.state).toBe('pending');
    expect(types()).toEqual(['rollout.created']);
  });

  it('an aborted rollout ends its waves and skips its hosts never sent: wave.aborted, host.skipped, after rollout.aborted', () => {
    store.setState('r-1', 'running', { startedAt: Date.now() });
    store.setWave('r-1', 0, 'running', { startedAt: Date.now() });
    store.setHost('r-1', 'a1', 'sent', { sentAt: Date.now() });
    store.transaction(() => {
      store.setState('r-1', 'aborted', { endedAt: Date.now(), reason: 'aborted by ops' });
      store.closeWaves('r-1', 'not sent: the rollout was aborted by ops');
    });
    expect(types()).toEqual(['rollout.created', 'rollout.started', 'wave.started', 'host.sent', 'rollout.aborted', 'wave.aborted', 'wave.aborted', 'host.skipped']);
    for (const row of outbox.after(0, 1000)) expect(() => ferryEventSchema.parse(toEvent(row))).not.toThrow();
    expect(toEvent(outbox.after(0, 1000)[7]!).data).toMatchObject({ agent: 'a2', state: 'skipped', previous: 'pending' });
    expect(store.host('r-1', 'a1')!.state).toBe('sent'); // in flight: it may still report
    store.closeWaves('r-1', 'again');
    expect(types()).toHaveLength(8); // safe to repeat
  });

  it('a finished rollout reopened for a fleet rollback is rolling-back until it is rolled back', () => {
    store.setState('r-1', 'completed', { endedAt: Date.now() });
    store.beginRollback('r-1', 'rollback requested by ops');
    expect(store.get('r-1')).toMatchObject({ state: 'rolling-back', endedAt: null });
    store.setState('r-1', 'rolled-back', { endedAt: Date.now() });
    expect(types()).toEqual(['rollout.created', 'rollout.completed', 'rollout.rolling-back', 'rollout.rolled-back']);
  });

  it('sequence numbers only grow, and pruning keeps what a webhook still needs', () => {
    store.setState('r-1', 'running', { startedAt: Date.now() });
    store.setState('r-1', 'completed', { endedAt: Date.now() });
    const rows = outbox.after(0, 10);
    const hooks = new WebhookStore(db);
    hooks.add({ id: 'wh-1', url: 'http://x/', events: ['rollout.*'], release: null, secret: 's'.repeat(16), cursor: rows[0]!.seq });
    for (const r of rows) outbox.markPublished(r.seq);
    expect(hooks.pending(hooks.get('wh-1')!)).toBe(2);
    expect(outbox.prune(86_400_000)).toBe(1); // only the first: the webhook has not had the others
    expect(outbox.after(0, 10).map((r) => r.seq)).toEqual(rows.slice(1).map((r) => r.seq));
    hooks.delivered('wh-1', rows[2]!.seq, 200);
    outbox.prune(86_400_000);
    expect(outbox.after(0, 10)).toEqual([]);
    store.setState('r-1', 'aborted');
    expect(outbox.lastSeq()).toBeGreaterThan(rows[2]!.seq); // AUTOINCREMENT: never reused after a prune
  });
});

describe('webhook matching and delivery pieces', () => {
  it('matches exact types and globs', () => {
    expect(matchesEventPattern('rollout.completed', 'rollout.completed')).toBe(true);
    expect(matchesEventPattern('rollout.completed', 'rollout.completed.x')).toBe(false);
    expect(matchesEventPattern('rollout.*', 'rollout.halted')).toBe(true);
    expect(matchesEventPattern('rollout.*', 'wave.started')).toBe(false);
    expect(matchesEventPattern('*.failed', 'host.failed')).toBe(true);
    expect(matchesEventPattern('*', 'dml.added')).toBe(true);
    expect(EVENT_TYPES.filter((t) => matchesEventPattern('wave.*', t))).toEqual(['wave.started', 'wave.soaking', 'wave.completed', 'wave.failed', 'wave.aborted']);
    for (const bad of ['rollout.[a]', 'rollout.?', 'Rollout.*', 'a b', '', 'rollout..x']) expect(EVENT_PATTERN.test(bad), bad).toBe(false);
    expect(patternMatchesSomeType('rolout.*')).toBe(false);
  });

  it('scopes a webhook to one release', () => {
    const hook = { events: ['*'], release: 'web' };
    expect(webhookWants(hook, { type: 'rollout.completed', release: 'web' })).toBe(true);
    expect(webhookWants(hook, { type: 'rollout.completed', release: 'db' })).toBe(false);
    expect(webhookWants(hook, { type: 'dml.added', release: null })).toBe(false);
    expect(webhookWants({ events: ['dml.*'], release: null }, { type: 'dml.added', release: null })).toBe(true);
  });

  it('backs off exponentially with jitter, up to the cap', () => {
    const t = { retryBaseMs: 1000, retryCapMs: 300_000 };
    expect(retryDelay(1, t, () => 0.5)).toBe(1000);
    expect(retryDelay(4, t, () => 0.5)).toBe(8000);
    expect(retryDelay(50, t, () => 0.5)).toBe(300_000);
    expect(retryDelay(3, t, () => 0)).toBe(3000);
    expect(retryDelay(3, t, () => 0.999)).toBeLessThanOrEqual(5000);
  });

  it('signs `<timestamp>.<body>` with HMAC-SHA256', () => {
    const body = '{"id":"e1"}';
    expect(webhookSignature('secret-secret-secret', '1700000000', body)).toBe(`sha256=${createHmac('sha256', 'secret-secret-secret').update(`1700000000.${body}`).digest('hex')}`);
    expect(webhookSignature('secret-secret-secret', '1700000001', body)).not.toBe(webhookSignature('secret-secret-secret', '1700000000', body));
  });

  it('accepts only http and https URLs', () => {
    expect(validateWebhookUrl('https://hooks.example.com/x?y=1').href).toBe('https://hooks.example.com/x?y=1');
    for (const bad of ['ftp://x/', 'file:///etc/passwd', 'javascript:alert(1)', 'hooks.example.com', '']) expect(() => validateWebhookUrl(bad), bad).toThrow(/FERRY|URL|http/);
  });
});
