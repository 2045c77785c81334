import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CmdbStore } from '../cmdb/store.js';
import { openDatabase, type Db } from '../db/open.js';
import { removeSite } from './remove.js';
import { SiteStore } from './store.js';

describe('site.remove', () => {
  let dir: string;
  let db: Db;
  let sites: SiteStore;
  let cmdb: CmdbStore;
  let pushes: number;
  let deletes: string[];
  let deleteOutcome: 'deleted' | 'gone' | 'failed';
  const key = (c: string) => `U${c.repeat(55)}`;
  const site = (name: string, systemNkey: string | null) => ({ name, agentUrl: `nats://${name}:4222`, listen: '0.0.0.0:4222', hubUrl: 'nats-leaf://hub:7422', linkNkey: key(name[0]!.toUpperCase()), systemNkey, maxRateBps: null, mirrorApi: `ferry.mirror.${name}` });
  const deps = () => ({
    db,
    sites,
    cmdb,
    isOnline: () => false,
    pushAuth: async () => void pushes++,
    deleteMirrorConsumer: async (site: string, name: string) => {
      // After the push, with the name the row held.
      deletes.push(`${site}:${name}:${pushes}`);
      return deleteOutcome;
    },
  });
  const revocations = () => db.prepare('SELECT nkey, account, site FROM site_revocations ORDER BY account').all();
  const token = (id: string, tags: Record<string, string>, usesLeft = 1) =>
    db.prepare('INSERT INTO tokens (id, secret_hash, tags, expires_at, uses_left, created_at) VALUES (?, ?, ?, ?, ?, ?)').run(id, 'x', JSON.stringify(tags), Date.now() + 3_600_000, usesLeft, Date.now());

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-site-remove-'));
    db = openDatabase(join(dir, 'ferry.db'));
    sites = new SiteStore(db);
    cmdb = new CmdbStore(db);
    pushes = 0;
    deletes = [];
    deleteOutcome = 'deleted';
  });

  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('revokes both link users for good, drops the row and the site\'s usable tokens, then pushes the account update', async () => {
    sites.insert(site('lyon', key('S')));
    sites.insert(site('paris', key('T')));
    token('t-lyon', { site: 'lyon' });
    token('t-lyon-used', { site: 'lyon' }, 0);
    token('t-paris', { site: 'paris' });
    const result = await removeSite(deps(), { name: 'lyon', force: false, actor: 'ada' });
    expect(result).toMatchObject({ name: 'lyon', link: 'revoked', systemLink: 'revoked', agents: [], tokensRevoked: ['t-lyon'], mirrorConsumer: 'none' });
    expect(sites.list().map((s) => s.name)).toEqual(['paris']);
    expect(revocations()).toEqual([
      { nkey: key('L'), account: 'AGENTS', site: 'lyon' },
      { nkey: key('S'), account: 'SYS', site: 'lyon' },
    ]);
    expect(pushes).toBe(1);
    expect(deletes).toEqual([]);
    const state = (id: string) => (db.prepare('SELECT revoked_at FROM tokens WHERE id = ?').get(id) as { revoked_at: number | null }).revoked_at;
    expect(state('t-lyon')).not.toBeNull();
    expect(state('t-lyon-used')).toBeNull();
    expect(state('t-paris')).toBeNull();
  });

  it('the site\'s mirror consumer is deleted by the name its row held, after the push; gone already: none; a failed delete is reported, the removal stands', async () => {
    const consumer = { name: 'c0nsumer', config: { deliver_subject: '$JS.M.abc' }, jsCreated: null };
    sites.insert(site('lyon', key('S')));
    sites.addMirrorConsumer('lyon', consumer);
    sites.insert(site('paris', key('T')));
    sites.addMirrorConsumer('paris', { ...consumer, name: 'p4ris' });
    expect((await removeSite(deps(), { name: 'lyon', force: false, actor: 'ada' })).mirrorConsumer).toBe('deleted');
    expect(deletes).toEqual(['lyon:c0nsumer:1']);
    expect(sites.mirrorConsumers('paris').map((c) => c.name)).toEqual(['p4ris']);

    deleteOutcome = 'failed';
    const failed = await removeSite(deps(), { name: 'paris', force: false, actor: 'ada' });
    expect(failed.mirrorConsumer).toBe('failed');
    expect(sites.list()).toEqual([]);
    expect(revocations()).toHaveLength(4);

    deleteOutcome = 'gone';
    sites.insert(site('lille', null));
    sites.addMirrorConsumer('lille', consumer);
    expect((await removeSite(deps(), { name: 'lille', force: false, actor: 'ada' })).mirrorConsumer).toBe('none');
  });

  it('every consumer made for the site is deleted (its mirror\'s and those its link asked for after it), and forgotten; one failed delete is reported', async () => {
    sites.insert(site('lyon', key('S')));
    for (const name of ['mirr0r', 'extra1', 'extra2']) sites.addMirrorConsumer('lyon', { name, config: {}, jsCreated: null });
    const outcomes: Record<string, 'deleted' | 'gone' | 'failed'> = { mirr0r: 'deleted', extra1: 'gone', extra2: 'deleted' };
    const byName = { ...deps(), deleteMirrorConsumer: async (s: string, name: string) => (deletes.push(`${s}:${name}:${pushes}`), outcomes[name]!) };
    expect((await removeSite(byName, { name: 'lyon', force: false, actor: 'ada' })).mirrorConsumer).toBe('deleted');
    expect(deletes).toEqual(['lyon:mirr0r:1', 'lyon:extra1:1', 'lyon:extra2:1']);
    expect(db.prepare('SELECT COUNT(*) AS n FROM site_mirror_consumers').get()).toEqual({ n: 0 });

    sites.insert(site('lyon', key('S')));
    for (const name of ['mirr0r', 'extra1']) sites.addMirrorConsumer('lyon', { name, config: {}, jsCreated: null });
    outcomes.mirr0r = 'failed';
    expect((await removeSite(byName, { name: 'lyon', force: false, actor: 'ada' })).mirrorConsumer).toBe('failed');
    // A site added again under the name starts with none.
    sites.insert(site('lyon', key('S')));
    expect(sites.mirrorConsumers('lyon')).toEqual([]);
  });

  it('a site added before its system key was kept: its link is revoked, its system link reported not-recorded', async () => {
    sites.insert(site('old', null));
    expect(await removeSite(deps(), { name: 'old', force: false, actor: 'ada' })).toMatchObject({ link: 'revoked', systemLink: 'not-recorded' });
    expect(revocations()).toEqual([{ nkey: key('O'), account: 'AGENTS', site: 'old' }]);
  });

  it('agents tagged to the site hold it back (FERRY_CONFLICT, nothing changed) unless --force; revoked agents do not count', async () => {
    sites.insert(site('lyon', key('S')));
    cmdb.addAgent({ id: 'a1', nkey: key('A'), hostname: 'lyon-1', tags: { site: 'lyon' } });
    cmdb.addAgent({ id: 'a2', nkey: key('B'), hostname: 'lyon-2', tags: { site: 'lyon' } });
    cmdb.addAgent({ id: 'h1', nkey: key('H'), hostname: 'hub-1', tags: {} });
    cmdb.revoke('a2', 'ada');
    await expect(removeSite(deps(), { name: 'lyon', force: false, actor: 'ada' })).rejects.toMatchObject({ code: 'FERRY_CONFLICT', message: 'site lyon still has 1 agent (lyon-1); nothing was removed' });
    expect(sites.get('lyon')).toBeDefined();
    expect(revocations()).toEqual([]);
    expect(pushes).toBe(0);
    const result = await removeSite(deps(), { name: 'lyon', force: true, actor: 'ada' });
    expect(result.agents).toEqual([{ id: 'a1', hostname: 'lyon-1', online: false }]);
    expect(cmdb.getAgent('a1')!.tags).toEqual({ site: 'lyon' });
  });

  it('an unknown site: FERRY_NOT_FOUND, nothing pushed', async () => {
    await expect(removeSite(deps(), { name: 'nowhere', force: true, actor: 'ada' })).rejects.toMatchObject({ code: 'FERRY_NOT_FOUND', message: 'no site nowhere' });
    expect(pushes).toBe(0);
  });

  it('a failed push: the site is removed and the revocation kept; the error says so', async () => {
    sites.insert(site('lyon', key('S')));
    const failing = { ...deps(), pushAuth: () => Promise.reject(new Error('nats down')) };
    await expect(removeSite(failing, { name: 'lyon', force: false, actor: 'ada' })).rejects.toMatchObject({ code: 'FERRY_NATS_FAILED', message: expect.stringMatching(/^site lyon was removed, but nats-server did not take the account update/) as unknown });
    expect(sites.get('lyon')).toBeUndefined();
    expect(revocations()).toHaveLength(2);
  });

  it('a failed push: the mirror consumer is deleted all the same (the mirror of a link still open is cut off from the DML)', async () => {
    sites.insert(site('lyon', key('S')));
    sites.addMirrorConsumer('lyon', { name: 'c0nsumer', config: {}, jsCreated: null });
    const failing = { ...deps(), pushAuth: () => Promise.reject(new Error('nats down')) };
    await expect(removeSite(failing, { name: 'lyon', force: false, actor: 'ada' })).rejects.toMatchObject({ code: 'FERRY_NATS_FAILED' });
    expect(deletes).toEqual(['lyon:c0nsumer:0']);
  });
});
