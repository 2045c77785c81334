// The site registry (SQLite): one row per leafnode distribution point made by `ferry site add`.
import type { Db } from '../db/open.js';

export interface SiteRecord {
  name: string;
  /** how agents reach the site (nats://HOST:PORT) */
  agentUrl: string;
  /** the site's client listen address, as written into its config */
  listen: string;
  /** where the site's leafnode connects to the hub */
  hubUrl: string;
  /** the public key of the site's link user */
  linkNkey: string;
  /** the public key of the site's system-account link user; null: a site added before it was kept */
  systemNkey: string | null;
  /** `--max-rate`: bytes per second across the site's link (its mirror, its agents' downloads from the hub); null: not paced */
  maxRateBps: number | null;
  /** the JetStream API prefix of the site's mirror (subjects.siteMirrorApiPrefix); null: a site added before per-site prefixes */
  mirrorApi: string | null;
  createdAt: string;
}

/**
 * At most this many mirror consumers are recorded per site. A mirror has one consumer at a time
 * (it asks for another only once its own stopped), so the live one is the newest; any valid
 * request over the site's link makes one, so a hostile site could ask without end: at the cap the
 * server deletes the site's oldest consumer at the hub before it makes another
 * (mirror-consumers.ts), and the store refuses to record more.
 */
export const MAX_MIRROR_CONSUMERS_PER_SITE = 8;

/** A mirror consumer the server made for a site: its name at the hub and the config it was given. */
export interface MirrorConsumerRecord {
  name: string;
  config: Record<string, unknown>;
  /** JetStream's creation time of it (the create reply's `created`); null: recorded before it was kept */
  jsCreated: string | null;
}

interface MirrorConsumerRow {
  name: string;
  config: string;
  js_created: string | null;
}

interface SiteRow {
  name: string;
  agent_url: string;
  listen: string;
  hub_url: string;
  link_nkey: string;
  system_nkey: string | null;
  max_rate_bps: number | null;
  mirror_api: string | null;
  created_at: number;
}

const toRecord = (r: SiteRow): SiteRecord => ({
  name: r.name,
  agentUrl: r.agent_url,
  listen: r.listen,
  hubUrl: r.hub_url,
  linkNkey: r.link_nkey,
  systemNkey: r.system_nkey,
  maxRateBps: r.max_rate_bps,
  mirrorApi: r.mirror_api,
  createdAt: new Date(r.created_at).toISOString(),
});

export class SiteStore {
  constructor(private readonly db: Db) {}

  get(name: string): SiteRecord | undefined {
    const row = this.db.prepare('SELECT * FROM sites WHERE name = ?').get(name) as SiteRow | undefined;
    return row ? toRecord(row) : undefined;
  }

  list(): SiteRecord[] {
    return (this.db.prepare('SELECT * FROM sites ORDER BY name').all() as SiteRow[]).map(toRecord);
  }

  /** false when a site of that name exists already (nothing written then) */
  insert(site: Omit<SiteRecord, 'createdAt'>, now = Date.now()): boolean {
    const res = this.db
      .prepare('INSERT OR IGNORE INTO sites (name, agent_url, listen, hub_url, link_nkey, system_nkey, max_rate_bps, mirror_api, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(site.name, site.agentUrl, site.listen, site.hubUrl, site.linkNkey, site.systemNkey, site.maxRateBps, site.mirrorApi, now);
    return res.changes === 1;
  }

  /**
   * Drop the site's row (its mirror consumers' records with it) and revoke its link users for good
   * (site_revocations, read into the account JWTs by server/nats/nats-auth.ts). Undefined when there
   * is no such site.
   */
  remove(name: string, now = Date.now()): SiteRecord | undefined {
    return this.db.transaction(() => {
      const site = this.get(name);
      if (!site) return undefined;
      const revoke = this.db.prepare('INSERT OR REPLACE INTO site_revocations (nkey, account, site, revoked_at) VALUES (?, ?, ?, ?)');
      revoke.run(site.linkNkey, 'AGENTS', site.name, now);
      if (site.systemNkey !== null) revoke.run(site.systemNkey, 'SYS', site.name, now);
      this.db.prepare('DELETE FROM site_mirror_consumers WHERE site = ?').run(name);
      this.db.prepare('DELETE FROM sites WHERE name = ?').run(name);
      return site;
    })();
  }

  setMaxRate(name: string, maxRateBps: number | null): void {
    this.db.prepare('UPDATE sites SET max_rate_bps = ? WHERE name = ?').run(maxRateBps, name);
  }

  /** The mirror consumers the server made for the site and has not seen gone, oldest first. */
  mirrorConsumers(site: string): MirrorConsumerRecord[] {
    const rows = this.db.prepare('SELECT name, config, js_created FROM site_mirror_consumers WHERE site = ? ORDER BY created_at, rowid').all(site) as MirrorConsumerRow[];
    return rows.map((r) => ({ name: r.name, config: JSON.parse(r.config) as Record<string, unknown>, jsCreated: r.js_created }));
  }

  /**
   * Record a consumer made for the site (by name: the same name again replaces its record). False,
   * nothing written, when there is no such site (removed meanwhile) or it has
   * MAX_MIRROR_CONSUMERS_PER_SITE recorded already (the caller makes room first).
   */
  addMirrorConsumer(site: string, consumer: MirrorConsumerRecord, now = Date.now()): boolean {
    return this.db.transaction(() => {
      if (!this.db.prepare('SELECT 1 FROM sites WHERE name = ?').get(site)) return false;
      const known = this.db.prepare('SELECT 1 FROM site_mirror_consumers WHERE site = ? AND name = ?').get(site, consumer.name);
      const { n } = this.db.prepare('SELECT COUNT(*) AS n FROM site_mirror_consumers WHERE site = ?').get(site) as { n: number };
      if (!known && n >= MAX_MIRROR_CONSUMERS_PER_SITE) return false;
      this.db
        .prepare('INSERT OR REPLACE INTO site_mirror_consumers (site, name, config, js_created, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(site, consumer.name, JSON.stringify(consumer.config), consumer.jsCreated, now);
      return true;
    })();
  }

  /** A recorded consumer changed in place (its rate): its config and JetStream's creation time as the update's reply has it. */
  updateMirrorConsumer(site: string, consumer: MirrorConsumerRecord): void {
    this.db.prepare('UPDATE site_mirror_consumers SET config = ?, js_created = ? WHERE site = ? AND name = ?').run(JSON.stringify(consumer.config), consumer.jsCreated, site, consumer.name);
  }

  /** Forget a consumer: gone at the hub, or deleted there. */
  dropMirrorConsumer(site: string, name: string): void {
    this.db.prepare('DELETE FROM site_mirror_consumers WHERE site = ? AND name = ?').run(site, name);
  }
}
