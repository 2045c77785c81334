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
  createdAt: string;
}

interface SiteRow {
  name: string;
  agent_url: string;
  listen: string;
  hub_url: string;
  link_nkey: string;
  created_at: number;
}

const toRecord = (r: SiteRow): SiteRecord => ({ name: r.name, agentUrl: r.agent_url, listen: r.listen, hubUrl: r.hub_url, linkNkey: r.link_nkey, createdAt: new Date(r.created_at).toISOString() });

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
    const res = this.db.prepare('INSERT OR IGNORE INTO sites (name, agent_url, listen, hub_url, link_nkey, created_at) VALUES (?, ?, ?, ?, ?, ?)').run(site.name, site.agentUrl, site.listen, site.hubUrl, site.linkNkey, now);
    return res.changes === 1;
  }
}
