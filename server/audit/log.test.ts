import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openDatabase, type Db } from '../db/open.js';
import { AuditLog } from './log.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-audit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
let db: Db;
let audit: AuditLog;
let clock: number;

beforeEach(() => {
  db = openDatabase(join(dir, `server-${n++}.db`));
  audit = new AuditLog(db);
  clock = Date.parse('2026-11-20T10:00:00.000Z');
  vi.spyOn(Date, 'now').mockImplementation(() => clock);
});

afterEach(() => {
  vi.restoreAllMocks();
  db.close();
});

/** Record an ok action at the current fake time, then move the clock one second on. */
function record(action: string, actor = 'alice', args: Record<string, unknown> = {}, target: string | null = null): void {
  audit.record({ actor, action, target, args });
  clock += 1000;
}

describe('AuditLog.record and list', () => {
  it('stores an entry and reads it back with every field', () => {
    audit.record({ actor: 'alice', action: 'release.create', target: 'rel-1', args: { name: 'rel-1', packages: ['web@1.0.0'] } });
    expect(audit.list({ limit: 10 })).toEqual([
      {
        id: 1,
        at: '2026-11-20T10:00:00.000Z',
        actor: 'alice',
        action: 'release.create',
        target: 'rel-1',
        args: { name: 'rel-1', packages: ['web@1.0.0'] },
        result: 'ok',
        error: null,
      },
    ]);
  });

  it('persists to the database file', () => {
    record('release.create');
    const file = db.name;
    db.close();
    db = openDatabase(file);
    expect(new AuditLog(db).list({ limit: 10 }).map((e) => e.action)).toEqual(['release.create']);
  });

  it('lists oldest first and keeps the newest `limit` entries', () => {
    for (const a of ['a.1', 'a.2', 'a.3', 'a.4', 'a.5']) record(a);
    expect(audit.list({ limit: 100 }).map((e) => e.action)).toEqual(['a.1', 'a.2', 'a.3', 'a.4', 'a.5']);
    expect(audit.list({ limit: 2 }).map((e) => e.action)).toEqual(['a.4', 'a.5']);
  });

  it('returns nothing from an empty log', () => {
    expect(audit.list({ limit: 10 })).toEqual([]);
  });

  it('records a failed action with result error and the code and message', () => {
    audit.record({ actor: 'bob', action: 'rollout.start', target: 'rel-1', args: { release: 'rel-1' }, error: { code: 'FERRY_POLICY_DENIED', message: 'env=prod needs 1 approval(s)' } });
    const [e] = audit.list({ limit: 1 });
    expect(e!.result).toBe('error');
    expect(e!.error).toBe('FERRY_POLICY_DENIED: env=prod needs 1 approval(s)');
  });
});

describe('AuditLog.list filters', () => {
  beforeEach(() => {
    record('release.create', 'alice'); // 10:00:00
    record('rollout.start', 'bob'); // 10:00:01
    record('rollout.abort', 'alice'); // 10:00:02
    record('rollouts.purge', 'carol'); // 10:00:03
    record('dml.authorize', 'bob'); // 10:00:04
  });

  const actions = (q: Parameters<AuditLog['list']>[0]) => audit.list(q).map((e) => e.action);

  it('since keeps entries at or after the time', () => {
    expect(actions({ since: Date.parse('2026-11-20T10:00:02.000Z'), limit: 10 })).toEqual(['rollout.abort', 'rollouts.purge', 'dml.authorize']);
    expect(actions({ since: Date.parse('2026-11-20T10:00:02.001Z'), limit: 10 })).toEqual(['rollouts.purge', 'dml.authorize']);
  });

  it('actor matches exactly', () => {
    expect(actions({ actor: 'bob', limit: 10 })).toEqual(['rollout.start', 'dml.authorize']);
    expect(actions({ actor: 'bo', limit: 10 })).toEqual([]);
  });

  it('an action without `*` matches exactly', () => {
    expect(actions({ action: 'rollout.start', limit: 10 })).toEqual(['rollout.start']);
    expect(actions({ action: 'rollout', limit: 10 })).toEqual([]);
  });

  it('`rollout.*` matches the prefix `rollout.` only', () => {
    expect(actions({ action: 'rollout.*', limit: 10 })).toEqual(['rollout.start', 'rollout.abort']);
  });

  it('combines filters and applies the limit after them', () => {
    expect(actions({ actor: 'alice', action: 'rollout.*', limit: 10 })).toEqual(['rollout.abort']);
    expect(actions({ action: 'rollout*', limit: 2 })).toEqual(['rollout.abort', 'rollouts.purge']);
  });

  it('treats % and _ in a prefix literally', () => {
    record('x%y.run');
    record('x_y.run');
    record('xay.run');
    expect(actions({ action: '%*', limit: 10 })).toEqual([]);
    expect(actions({ action: 'x_y.*', limit: 10 })).toEqual(['x_y.run']);
    expect(actions({ action: 'x%*', limit: 10 })).toEqual(['x%y.run']);
    expect(actions({ action: 'x\\*', limit: 10 })).toEqual([]);
  });

  it('a lone `*` matches every action', () => {
    expect(actions({ action: '*', limit: 10 })).toHaveLength(5);
  });
});

describe('AuditLog redaction', () => {
  it('redacts keys containing secret, token, password or seed, in any case', () => {
    audit.record({
      actor: 'alice',
      action: 'agent.enroll',
      target: null,
      args: { name: 'web-1', secret: 's1', tokenId: 't1', adminPassword: 'p1', SEED: 'x', clientSecretHash: 'h', ttlMs: 1000 },
    });
    const [e] = audit.list({ limit: 1 });
    expect(e!.args).toEqual({ name: 'web-1', secret: '[redacted]', tokenId: '[redacted]', adminPassword: '[redacted]', SEED: '[redacted]', clientSecretHash: '[redacted]', ttlMs: 1000 });
    const raw = db.prepare('SELECT args FROM audit').get() as { args: string };
    for (const s of ['s1', 't1', 'p1', '"x"', '"h"']) expect(raw.args).not.toContain(s);
  });

  it('does not duplicate the actor into args', () => {
    audit.record({ actor: 'alice', action: 'release.approve', target: 'rel-1', args: { actor: 'alice', release: 'rel-1' } });
    const [e] = audit.list({ limit: 1 });
    expect(e!.actor).toBe('alice');
    expect(e!.args).toEqual({ release: 'rel-1' });
  });
});

describe('the audit table is append-only', () => {
  beforeEach(() => record('release.create'));

  it('refuses UPDATE', () => {
    expect(() => db.prepare("UPDATE audit SET actor = 'mallory'").run()).toThrow(/append-only/);
    expect(audit.list({ limit: 1 })[0]!.actor).toBe('alice');
  });

  it('refuses DELETE', () => {
    expect(() => db.prepare('DELETE FROM audit').run()).toThrow(/append-only/);
    expect(() => db.prepare('DELETE FROM audit WHERE id = 1').run()).toThrow(/append-only/);
    expect(audit.list({ limit: 10 })).toHaveLength(1);
  });
});
