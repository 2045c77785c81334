import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../db/open.js';
import type { MirrorConsumers } from './mirror-consumers.js';
import { setSite } from './set.js';
import { MAX_MIRROR_CONSUMERS_PER_SITE, SiteStore } from './store.js';

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
    // JetStream as the harness has it: consumers by name with their creation time. A create by name
    // updates one that is there, and makes one anew (another creation time) when it is gone.
    const live = new Map<string, string>();
    let made = 0;
    let clock = 0;
    const js = { failDeletes: false, beforeCreate: () => undefined as void };
    const nc = {
      subscribe: (subject: string, opts: { callback: (err: unknown, msg: unknown) => void }) => (callbacks.set(subject, opts.callback), { unsubscribe: () => undefined }),
      request: (subject: string, data: string) => {
        requests.push({ subject, body: data ? (JSON.parse(data) as { config: Record<string, unknown> }) : { config: {} } });
        const [, , , op, , name] = subject.split('.');
        if (op === 'DELETE') {
          if (js.failDeletes) return Promise.reject(new Error('TIMEOUT'));
          const had = live.delete(name!);
          return Promise.resolve({ json: () => (had ? { success: true } : { error: { code: 404, err_code: 10014 } }) });
        }
        if (name === undefined) js.beforeCreate();
        const consumer = name ?? `c${++made}`;
        if (!live.has(consumer)) live.set(consumer, `2024-01-01T00:00:${String(++clock).padStart(2, '0')}Z`);
        return Promise.resolve({ json: () => ({ name: consumer, created: live.get(consumer), delivered: { consumer_seq: 0, stream_seq: 0 } }) });
      },
    };
    const consumers = new MirrorConsumers(nc as never, silentLogger, sites);
    consumers.start();
    const ask = async (subject: string, deliver = '$JS.M.tok1') => {
      const answers: string[] = [];
      const pattern = subject.split('.').length === 6 ? 'ferry.mirror.*.CONSUMER.CREATE.OBJ_ferry-dml' : subject;
      callbacks.get(pattern)!(null, { subject, reply: '_R_.abc', json: () => ({ stream_name: 'OBJ_ferry-dml', config: { deliver_subject: deliver, deliver_policy: 'all' } }), respond: (d: string) => answers.push(d) });
      for (let i = 0; i < 1000 && answers.length === 0; i++) await new Promise((r) => setImmediate(r));
      return answers.map((a) => JSON.parse(a) as { name?: string; error?: { description: string } });
    };
    return { consumers, requests, ask, live, js };
  }

  it('a site\'s own subject gets its rate and is recorded; applyRate re-creates it by name with the new rate', async () => {
    sites.insert(site('lyon', 'ferry.mirror.lyon', 5 * 1024 * 1024));
    const h = await harness();
    const answers = await h.ask('ferry.mirror.lyon.CONSUMER.CREATE.OBJ_ferry-dml');
    expect(answers[0]!.error).toBeUndefined();
    expect(h.requests[0]!.subject).toBe('$JS.API.CONSUMER.CREATE.OBJ_ferry-dml');
    expect(h.requests[0]!.body.config).toMatchObject({ deliver_subject: '$JS.M.tok1', rate_limit_bps: 5 * 1024 * 1024 * 8 });
    expect(sites.mirrorConsumers('lyon')).toMatchObject([{ name: 'c1', config: { rate_limit_bps: 5 * 1024 * 1024 * 8 }, jsCreated: h.live.get('c1') }]);

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
    expect(sites.mirrorConsumers('old')).toEqual([]);
    expect(await h.consumers.applyRate('old')).toBe('none');
  });

  const LYON = 'ferry.mirror.lyon.CONSUMER.CREATE.OBJ_ferry-dml';

  it('extra requests over the site\'s link: each consumer is recorded; applyRate gives every one still there the new rate, and forgets (and deletes) one that was gone', async () => {
    sites.insert(site('lyon', 'ferry.mirror.lyon', 5 * 1024 * 1024));
    const h = await harness();
    // The mirror's own, then two a hostile site asked for after it.
    for (const deliver of ['$JS.M.mirror', '$JS.M.x1', '$JS.M.x2']) expect((await h.ask(LYON, deliver))[0]!.error).toBeUndefined();
    expect(sites.mirrorConsumers('lyon').map((c) => [c.name, c.config.deliver_subject])).toEqual([['c1', '$JS.M.mirror'], ['c2', '$JS.M.x1'], ['c3', '$JS.M.x2']]);
    // x1's consumer is gone (nothing received its deliveries): JetStream dropped it.
    h.live.delete('c2');
    h.requests.length = 0;
    sites.setMaxRate('lyon', 1024 * 1024);
    expect(await h.consumers.applyRate('lyon')).toBe('updated');
    // Each recorded one asked by name with the new rate; c2, made anew by that, deleted again.
    expect(h.requests.map((r) => r.subject)).toEqual(['c1', 'c2', 'c2', 'c3'].map((c, i) => `$JS.API.CONSUMER.${i === 2 ? 'DELETE' : 'CREATE'}.OBJ_ferry-dml.${c}`));
    expect([...h.live.keys()].sort()).toEqual(['c1', 'c3']);
    expect(sites.mirrorConsumers('lyon').map((c) => [c.name, c.config.rate_limit_bps])).toEqual([['c1', 1024 * 1024 * 8], ['c3', 1024 * 1024 * 8]]);
  });

  it(`at ${MAX_MIRROR_CONSUMERS_PER_SITE} consumers a site's oldest is deleted at the hub before another is made; one that cannot be deleted refuses the request`, async () => {
    sites.insert(site('lyon', 'ferry.mirror.lyon', null));
    const h = await harness();
    // A flood, all at once: one at a time for the site, each answered.
    const answers = await Promise.all(Array.from({ length: MAX_MIRROR_CONSUMERS_PER_SITE + 3 }, (_, i) => h.ask(LYON, `$JS.M.x${i}`)));
    expect(answers.map((a) => a[0]?.error)).toEqual(answers.map(() => undefined));
    const names = Array.from({ length: MAX_MIRROR_CONSUMERS_PER_SITE + 3 }, (_, i) => `c${i + 1}`);
    expect(sites.mirrorConsumers('lyon').map((c) => c.name)).toEqual(names.slice(3));
    expect([...h.live.keys()]).toEqual(names.slice(3));
    expect(h.requests.filter((r) => r.subject.includes('.DELETE.')).map((r) => r.subject.split('.').pop())).toEqual(['c1', 'c2', 'c3']);

    h.js.failDeletes = true;
    h.requests.length = 0;
    expect((await h.ask(LYON, '$JS.M.more'))[0]!.error?.description).toBe(`ferry: site lyon has ${MAX_MIRROR_CONSUMERS_PER_SITE} mirror consumers and the oldest cannot be deleted now`);
    expect(h.requests.map((r) => r.subject)).toEqual(['$JS.API.CONSUMER.DELETE.OBJ_ferry-dml.c4']);
    expect(sites.mirrorConsumers('lyon').map((c) => c.name)).toEqual(names.slice(3));
  });

  it('a site removed while its request is handled: the consumer just made is deleted, nothing recorded, the request refused', async () => {
    sites.insert(site('lyon', 'ferry.mirror.lyon', null));
    const h = await harness();
    h.js.beforeCreate = () => void sites.remove('lyon');
    expect((await h.ask(LYON))[0]!.error?.description).toBe('ferry: no site lyon');
    expect(h.requests.map((r) => r.subject)).toEqual(['$JS.API.CONSUMER.CREATE.OBJ_ferry-dml', '$JS.API.CONSUMER.DELETE.OBJ_ferry-dml.c1']);
    expect(h.live.size).toBe(0);
    expect(sites.mirrorConsumers('lyon')).toEqual([]);
  });
});
