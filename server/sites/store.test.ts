import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../db/open.js';
import { MIGRATIONS } from '../db/schema.js';
import { MAX_MIRROR_CONSUMERS_PER_SITE, SiteStore } from './store.js';

const site = (name: string) => ({ name, agentUrl: `nats://${name}:4222`, listen: '0.0.0.0:4222', hubUrl: 'nats-leaf://hub:7422', linkNkey: 'U'.padEnd(56, 'A'), systemNkey: null, maxRateBps: null, mirrorApi: `ferry.mirror.${name}` });
const consumer = (name: string, jsCreated: string | null = null) => ({ name, config: { deliver_subject: `$JS.M.${name}` }, jsCreated });

describe('SiteStore: the mirror consumers made for a site', () => {
  let dir: string;
  let db: Db;
  let sites: SiteStore;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-site-store-'));
    db = openDatabase(join(dir, 'ferry.db'));
    sites = new SiteStore(db);
  });

  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('every one is kept, oldest first, by name (the same name again replaces its record); one can be forgotten or updated', () => {
    sites.insert(site('lyon'));
    sites.insert(site('paris'));
    expect(sites.mirrorConsumers('lyon')).toEqual([]);
    expect(sites.addMirrorConsumer('lyon', consumer('m1', '2024-01-01T00:00:01Z'), 1000)).toBe(true);
    expect(sites.addMirrorConsumer('lyon', consumer('x1'), 2000)).toBe(true);
    expect(sites.addMirrorConsumer('paris', consumer('p1'), 1500)).toBe(true);
    expect(sites.mirrorConsumers('lyon')).toEqual([consumer('m1', '2024-01-01T00:00:01Z'), consumer('x1')]);
    expect(sites.addMirrorConsumer('lyon', { ...consumer('m1'), config: { deliver_subject: '$JS.M.again' } }, 3000)).toBe(true);
    expect(sites.mirrorConsumers('lyon').map((c) => [c.name, c.config.deliver_subject])).toEqual([['x1', '$JS.M.x1'], ['m1', '$JS.M.again']]);
    sites.updateMirrorConsumer('lyon', { name: 'x1', config: { rate_limit_bps: 8192 }, jsCreated: '2024-01-01T00:00:02Z' });
    expect(sites.mirrorConsumers('lyon')[0]).toEqual({ name: 'x1', config: { rate_limit_bps: 8192 }, jsCreated: '2024-01-01T00:00:02Z' });
    sites.dropMirrorConsumer('lyon', 'x1');
    expect(sites.mirrorConsumers('lyon').map((c) => c.name)).toEqual(['m1']);
    expect(sites.mirrorConsumers('paris').map((c) => c.name)).toEqual(['p1']);
  });

  it(`at most ${MAX_MIRROR_CONSUMERS_PER_SITE} per site: one more is refused, nothing written (a known name is still replaced); none for an unknown site; removing the site forgets them`, () => {
    sites.insert(site('lyon'));
    sites.insert(site('paris'));
    for (let i = 0; i < MAX_MIRROR_CONSUMERS_PER_SITE; i++) expect(sites.addMirrorConsumer('lyon', consumer(`c${i}`), i)).toBe(true);
    expect(sites.addMirrorConsumer('lyon', consumer('one-more'), 100)).toBe(false);
    expect(sites.mirrorConsumers('lyon')).toHaveLength(MAX_MIRROR_CONSUMERS_PER_SITE);
    expect(sites.addMirrorConsumer('lyon', consumer('c0', 'now'), 100)).toBe(true);
    expect(sites.mirrorConsumers('lyon').at(-1)).toEqual(consumer('c0', 'now'));
    // Another site's count is its own.
    expect(sites.addMirrorConsumer('paris', consumer('p1'))).toBe(true);
    expect(sites.addMirrorConsumer('nowhere', consumer('n1'))).toBe(false);
    sites.remove('lyon');
    expect(sites.mirrorConsumers('lyon')).toEqual([]);
    expect(db.prepare('SELECT site, name FROM site_mirror_consumers').all()).toEqual([{ site: 'paris', name: 'p1' }]);
  });
});

describe('migration: the single mirror_consumer column of before', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-site-migrate-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('a data directory from before: its recorded consumer is imported (no JetStream time), odd values are skipped, the column goes', () => {
    const file = join(dir, 'ferry.db');
    const old = new Database(file);
    // The schema as the version before this one left it.
    const before = MIGRATIONS.findIndex((m) => m.includes('CREATE TABLE site_mirror_consumers'));
    expect(before).toBeGreaterThan(0);
    for (let v = 0; v < before; v++) old.exec(MIGRATIONS[v]!);
    old.pragma(`user_version = ${before}`);
    const add = old.prepare('INSERT INTO sites (name, agent_url, listen, hub_url, link_nkey, created_at, mirror_api, mirror_consumer) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    add.run('lyon', 'nats://lyon:4222', '0.0.0.0:4222', 'nats-leaf://hub:7422', 'U'.padEnd(56, 'A'), 1234, 'ferry.mirror.lyon', JSON.stringify({ name: 'Ab12Cd34', config: { deliver_subject: '$JS.M.tok', rate_limit_bps: 8192 } }));
    add.run('paris', 'nats://paris:4222', '0.0.0.0:4222', 'nats-leaf://hub:7422', 'U'.padEnd(56, 'B'), 1234, 'ferry.mirror.paris', null);
    add.run('lille', 'nats://lille:4222', '0.0.0.0:4222', 'nats-leaf://hub:7422', 'U'.padEnd(56, 'C'), 1234, 'ferry.mirror.lille', 'not json');
    add.run('nice', 'nats://nice:4222', '0.0.0.0:4222', 'nats-leaf://hub:7422', 'U'.padEnd(56, 'D'), 1234, 'ferry.mirror.nice', JSON.stringify({ name: 'N1ce0000' }));
    old.close();

    const db = openDatabase(file);
    try {
      const sites = new SiteStore(db);
      expect(sites.mirrorConsumers('lyon')).toEqual([{ name: 'Ab12Cd34', config: { deliver_subject: '$JS.M.tok', rate_limit_bps: 8192 }, jsCreated: null }]);
      expect(sites.mirrorConsumers('paris')).toEqual([]);
      expect(sites.mirrorConsumers('lille')).toEqual([]);
      expect(sites.mirrorConsumers('nice')).toEqual([{ name: 'N1ce0000', config: {}, jsCreated: null }]);
      expect((db.prepare('PRAGMA table_info(sites)').all() as { name: string }[]).map((c) => c.name)).not.toContain('mirror_consumer');
      expect(sites.list().map((s) => s.name)).toEqual(['lille', 'lyon', 'nice', 'paris']);
      expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    } finally {
      db.close();
    }
  });
});
