// The evented DML and release store on a real SQLite file: authorize, retire and approve record
// exactly one event each, valid against the schema, and none when nothing changed or the change
// was refused.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ferryEventSchema } from '../../shared/protocol/events.js';
import { openDatabase, type Db } from '../db/open.js';
import type { DmlService } from '../dml/service.js';
import { EventedDmlService, EventedReleaseStore } from './catalog-events.js';
import { EventOutbox, toEvent } from './outbox.js';

type DmlArgs = ConstructorParameters<typeof DmlService>;

describe('evented DML and releases', () => {
  let dir: string;
  let db: Db;
  let outbox: EventOutbox;
  let dml: EventedDmlService;
  let releases: EventedReleaseStore;
  const events = () => outbox.after(0, 1000).map((r) => toEvent(r));

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-catalog-events-'));
    db = openDatabase(join(dir, 'ferry.db'));
    const manifest = JSON.stringify({ format: 1, name: 'web', version: '1.0.0', files: [] });
    db.prepare("INSERT INTO packages (name, version, sha256, size, object, manifest, record, state, created_at) VALUES ('web', '1.0.0', ?, 1, 'web@1.0.0', ?, '{}', 'draft', 0)").run('0'.repeat(64), manifest);
    outbox = new EventOutbox(db);
    // Authorize, retire and approve touch only SQLite: no NATS connection or keys are needed.
    dml = new EventedDmlService(outbox, db, undefined as unknown as DmlArgs[1], undefined as unknown as DmlArgs[2], dir);
    releases = new EventedReleaseStore(outbox, db, dml);
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('records release.created (install order, owner) and one release.approved per approver', () => {
    releases.create({ name: 'rel-1', packages: ['web@1.0.0'], rfc: 'CHG-1', owner: 'alice' });
    releases.approve('rel-1', 'bob', 'CAB');
    releases.approve('rel-1', 'bob'); // again: the first approval stands, no second event
    releases.approve('rel-1', 'carol');
    const evs = events();
    for (const e of evs) expect(ferryEventSchema.safeParse(e).success).toBe(true);
    expect(evs.map((e) => e.type)).toEqual(['release.created', 'release.approved', 'release.approved']);
    expect(evs[0]!.data).toMatchObject({ release: 'rel-1', packages: [{ name: 'web', version: '1.0.0' }], rfc: 'CHG-1', owner: 'alice' });
    expect(evs[1]!.data).toMatchObject({ release: 'rel-1', actor: 'bob', comment: 'CAB', approvals: 1 });
    expect(evs[2]!.data).toMatchObject({ actor: 'carol', approvals: 2 });
  });

  it('records dml.authorized and dml.retired once, and nothing for a refused change', () => {
    dml.authorize('web', '1.0.0', 'alice', 'r-1234abcd');
    dml.authorize('web', '1.0.0', 'alice'); // idempotent
    dml.retire('web', '1.0.0', 'bob', 'CVE-2026-1');
    dml.retire('web', '1.0.0', 'bob'); // idempotent
    expect(() => dml.authorize('web', '1.0.0', 'alice')).toThrow(/retired and cannot be authorized/);
    expect(() => releases.create({ name: 'rel-2', packages: ['web@1.0.0'] })).toThrow(/retired/);
    const evs = events();
    expect(evs.map((e) => e.type)).toEqual(['dml.authorized', 'dml.retired']);
    expect(evs[0]!.data).toMatchObject({ package: 'web', version: '1.0.0', actor: 'alice', evidence: 'r-1234abcd' });
    expect(evs[1]!.data).toMatchObject({ package: 'web', version: '1.0.0', actor: 'bob', reason: 'CVE-2026-1' });
    expect(db.prepare('SELECT COUNT(*) AS n FROM releases').get()).toEqual({ n: 0 });
  });
});
