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
  const site = (name: string, mirrorApi: string | null) => ({ name, agentUrl: `nats://${name}:4222`, listen: '0.0.0.0:4222', hubUrl: 'nats-leaf://hub:7422', linkNkey: 'U'.padEnd(56, 'A'), systemNkey: null, maxRateBps: null, mirrorApi });

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

describe('MirrorConsumers: which site asks, and its rate', () => {
  let dir: string;
  let db: Db;
  let sites: SiteStore;
  const site = (name: string, mirrorApi: string | null, maxRateBps: number | null) => ({ name, agentUrl: `nats://${name}:4222`, listen: '0.0.0.0:4222', hubUrl: 'nats-leaf://hub:7422', linkNkey: 'U'.padEnd(56, 'A'), systemNkey: null, maxRateBps, mirrorApi });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-site-consumers-'));
    db = openDatabase(join(dir, 'ferry.db'));
    sites = new SiteStore(db);
  });

  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A MirrorConsumers on a fake connection: what it asks JetStream, what it answers the mirror. */
  async function harness() {
    const { MirrorConsumers } = await import('./mirror-consumers.js');
    const { silentLogger } = await import('../../shared/log.js');
    const callbacks = new Map<string, (err: unknown, msg: unknown) => void>();
    const requests: { subject: string; body: { config: Record<string, unknown> } }[] = [];
    const nc = {
      subscribe: (subject: string, opts: { callback: (err: unknown, msg: unknown) => void }) => (callbacks.set(subject, opts.callback), { unsubscribe: () => undefined }),
      request: (subject: string, data: string) => {
        requests.push({ subject, body: JSON.parse(data) as { config: Record<string, unknown> } });
        return Promise.resolve({ json: () => ({ name: `c${requests.length}`, delivered: { consumer_seq: 0, stream_seq: 0 } }) });
      },
    };
    const consumers = new MirrorConsumers(nc as never, silentLogger, sites);
    consumers.start();
    const ask = async (subject: string) => {
      const answers: string[] = [];
      const pattern = subject.split('.').length === 6 ? 'ferry.mirror.*.CONSUMER.CREATE.OBJ_ferry-dml' : subject;
      callbacks.get(pattern)!(null, { subject, reply: '_R_.abc', json: () => ({ stream_name: 'OBJ_ferry-dml', config: { deliver_subject: '$JS.M.tok1', deliver_policy: 'all' } }), respond: (d: string) => answers.push(d) });
      await new Promise((r) => setTimeout(r, 10));
      return answers.map((a) => JSON.parse(a) as { error?: { description: string } });
    };
    return { consumers, requests, ask };
  }

  it('a site\'s own subject gets its rate and is recorded; applyRate re-creates it by name with the new rate', async () => {
    sites.insert(site('lyon', 'ferry.mirror.lyon', 5 * 1024 * 1024));
    const h = await harness();
    const answers = await h.ask('ferry.mirror.lyon.CONSUMER.CREATE.OBJ_ferry-dml');
    expect(answers[0]!.error).toBeUndefined();
    expect(h.requests[0]!.subject).toBe('$JS.API.CONSUMER.CREATE.OBJ_ferry-dml');
    expect(h.requests[0]!.body.config).toMatchObject({ deliver_subject: '$JS.M.tok1', rate_limit_bps: 5 * 1024 * 1024 * 8 });
    expect(sites.mirrorConsumer('lyon')).toMatchObject({ name: 'c1', config: { rate_limit_bps: 5 * 1024 * 1024 * 8 } });

    sites.setMaxRate('lyon', 1024 * 1024);
    expect(await h.consumers.applyRate('lyon')).toBe('updated');
    expect(h.requests[1]!.subject).toBe('$JS.API.CONSUMER.CREATE.OBJ_ferry-dml.c1');
    expect(h.requests[1]!.body.config).toMatchObject({ name: 'c1', deliver_subject: '$JS.M.tok1', rate_limit_bps: 1024 * 1024 * 8 });
    sites.setMaxRate('lyon', null);
    expect(await h.consumers.applyRate('lyon')).toBe('updated');
    expect(h.requests[2]!.body.config).not.toHaveProperty('rate_limit_bps');
  });

  it('a per-site subject naming an unknown site, or a site from before per-site prefixes, is refused; the shared subject gets no rate', async () => {
    sites.insert(site('old', null, null));
    const h = await harness();
    expect((await h.ask('ferry.mirror.ghost.CONSUMER.CREATE.OBJ_ferry-dml'))[0]!.error?.description).toMatch(/^ferry: no site ghost/);
    expect((await h.ask('ferry.mirror.old.CONSUMER.CREATE.OBJ_ferry-dml'))[0]!.error?.description).toMatch(/^ferry: no site old/);
    expect(h.requests).toEqual([]);
    expect((await h.ask('ferry.mirror.CONSUMER.CREATE.OBJ_ferry-dml'))[0]!.error).toBeUndefined();
    expect(h.requests[0]!.body.config).not.toHaveProperty('rate_limit_bps');
    expect(sites.mirrorConsumer('old')).toBeUndefined();
    expect(await h.consumers.applyRate('old')).toBe('none');
  });
});
