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

export interface MirrorConsumerRecord {
  name: string;
  config: Record<string, unknown>;
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
  mirror_consumer: string | null;
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
   * Drop the site's row and revoke its link users for good (site_revocations, read into the account
   * JWTs by server/nats/nats-auth.ts). Undefined when there is no such site.
   */
  remove(name: string, now = Date.now()): SiteRecord | undefined {
    return this.db.transaction(() => {
      const site = this.get(name);
      if (!site) return undefined;
      const revoke = this.db.prepare('INSERT OR REPLACE INTO site_revocations (nkey, account, site, revoked_at) VALUES (?, ?, ?, ?)');
      revoke.run(site.linkNkey, 'AGENTS', site.name, now);
      if (site.systemNkey !== null) revoke.run(site.systemNkey, 'SYS', site.name, now);
      this.db.prepare('DELETE FROM sites WHERE name = ?').run(name);
      return site;
    })();
  }

  setMaxRate(name: string, maxRateBps: number | null): void {
    this.db.prepare('UPDATE sites SET max_rate_bps = ? WHERE name = ?').run(maxRateBps, name);
  }

  /** The mirror consumer the server made for the site last (its name at the hub and the config it was given), if any. */
  mirrorConsumer(name: string): MirrorConsumerRecord | undefined {
    const row = this.db.prepare('SELECT mirror_consumer FROM sites WHERE name = ?').get(name) as { mirror_consumer: string | null } | undefined;
    return row?.mirror_consumer ? (JSON.parse(row.mirror_consumer) as MirrorConsumerRecord) : undefined;
  }

  setMirrorConsumer(name: string, consumer: MirrorConsumerRecord | null): void {
    this.db.prepare('UPDATE sites SET mirror_consumer = ? WHERE name = ?').run(consumer ? JSON.stringify(consumer) : null, name);
  }
}
