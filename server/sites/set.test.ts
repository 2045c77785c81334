import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../db/open.js';
import type { MirrorConsumers } from './mirror-consumers.js';
import { setSite } from './set.js';
import { SiteStore } from './store.js';

describe('site.set', () => {
  let dir: string;
  let db: Db;
  let sites: SiteStore;
  const applied: string[] = [];
  const consumers = { applyRate: (site: string) => (applied.push(site), Promise.resolve('updated' as const)) } as unknown as MirrorConsumers;
  const site = (name: string, mirrorApi: string | null) => ({ name, agentUrl: `nats://${name}:4222`, listen: '0.0.0.0:4222', hubUrl: 'nats-leaf://hub:7422', linkNkey: 'U'.padEnd(56, 'A'), maxRateBps: null, mirrorApi });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-site-set-'));
    db = openDatabase(join(dir, 'ferry.db'));
    sites = new SiteStore(db);
    applied.length = 0;
  });

  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores the rate, gives the running consumer the new one; the same rate again changes nothing', async () => {
    sites.insert(site('lyon', 'ferry.mirror.lyon'));
    expect(await setSite({ sites, consumers }, { name: 'lyon', maxRateBps: 5 * 1024 * 1024, actor: 'ada' })).toEqual({ name: 'lyon', maxRateBps: 5 * 1024 * 1024, previousMaxRateBps: null, consumer: 'updated' });
    expect(sites.get('lyon')!.maxRateBps).toBe(5 * 1024 * 1024);
    expect(await setSite({ sites, consumers }, { name: 'lyon', maxRateBps: 5 * 1024 * 1024, actor: 'ada' })).toMatchObject({ consumer: 'none' });
    expect(await setSite({ sites, consumers }, { name: 'lyon', maxRateBps: null, actor: 'ada' })).toMatchObject({ maxRateBps: null, consumer: 'updated' });
    expect(applied).toEqual(['lyon', 'lyon']);
  });

  it('an unknown site: FERRY_NOT_FOUND; a site from before per-site prefixes cannot be paced (FERRY_CONFLICT), nothing stored', async () => {
    await expect(setSite({ sites, consumers }, { name: 'nowhere', maxRateBps: 1024, actor: 'ada' })).rejects.toMatchObject({ code: 'FERRY_NOT_FOUND' });
    sites.insert(site('old', null));
    await expect(setSite({ sites, consumers }, { name: 'old', maxRateBps: 1024, actor: 'ada' })).rejects.toMatchObject({ code: 'FERRY_CONFLICT', message: expect.stringMatching(/added before sites had rates/) as unknown });
    expect(sites.get('old')!.maxRateBps).toBeNull();
    // Saying "none" to it is harmless.
    expect(await setSite({ sites, consumers }, { name: 'old', maxRateBps: null, actor: 'ada' })).toMatchObject({ consumer: 'none' });
    expect(applied).toEqual([]);
  });

  it('the last mirror consumer made for a site is kept by name and config', () => {
    sites.insert(site('lyon', 'ferry.mirror.lyon'));
    expect(sites.mirrorConsumer('lyon')).toBeUndefined();
    sites.setMirrorConsumer('lyon', { name: 'c1', config: { deliver_subject: '$JS.M.x', rate_limit_bps: 8192 } });
    expect(sites.mirrorConsumer('lyon')).toEqual({ name: 'c1', config: { deliver_subject: '$JS.M.x', rate_limit_bps: 8192 } });
  });
});
