// The CMDB: hosts (configuration items), their inventory and tags, what is installed where,
// and the history of every change. Only this module writes those tables.
import type { Db } from '../db/open.js';
import { statementCache, type Prepare } from '../../shared/sqlite.js';
import { FerryError } from '../../shared/errors.js';
import type { DriftDoc, InventoryDoc } from '../../shared/protocol/messages.js';

export interface AgentRow {
  id: string;
  nkey: string;
  hostname: string;
  tags: Record<string, string>;
  facts: Record<string, string>;
  inventory: InventoryDoc | null;
  drift: DriftDoc;
  joinedAt: number;
  lastSeen: number | null;
  revokedAt: number | null;
  decommissionedAt: number | null;
}

export interface HistoryEntry {
  ts: number;
  kind: string;
  package: string | null;
  version: string | null;
  fromVersion: string | null;
  operation: string | null;
  result: string | null;
  detail: string | null;
}

interface RawAgent {
  id: string;
  nkey: string;
  hostname: string;
  tags: string;
  facts: string;
  inventory: string | null;
  drift: string;
  joined_at: number;
  last_seen: number | null;
  revoked_at: number | null;
  decommissioned_at: number | null;
}

export class CmdbStore {
  private readonly sql: Prepare;

  constructor(private readonly db: Db) {
    this.sql = statementCache(db);
  }

  addAgent(a: { id: string; nkey: string; hostname: string; tags: Record<string, string> }): void {
    const now = Date.now();
    this.sql('INSERT INTO agents (id, nkey, hostname, tags, facts, joined_at) VALUES (?, ?, ?, ?, ?, ?)').run(a.id, a.nkey, a.hostname, JSON.stringify(a.tags), JSON.stringify({ hostname: a.hostname }), now);
    this.addHistory(a.id, { kind: 'joined', detail: `tags ${JSON.stringify(a.tags)}` });
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /**
   * Joined and not revoked (the only agents whose reports count): its nkey and the counters of its
   * last signed reports (null: it never signed one). Undefined for any other agent.
   */
  reportIdentity(id: string): { nkey: string; recent: number[] | null } | undefined {
    const row = this.sql('SELECT nkey, report_counters FROM agents WHERE id = ? AND revoked_at IS NULL').get(id) as { nkey: string; report_counters: string | null } | undefined;
    return row && { nkey: row.nkey, recent: row.report_counters === null ? null : (JSON.parse(row.report_counters) as number[]) };
  }

  /** Remember the counters of an agent's last signed reports (after one more was applied). */
  setReportCounters(id: string, recent: number[]): void {
    this.sql('UPDATE agents SET report_counters = ? WHERE id = ?').run(JSON.stringify(recent), id);
  }

  /** Whether any agent, active or not, ever joined with this nkey (an nkey joins once). */
  nkeyExists(nkey: string): boolean {
    return this.sql('SELECT 1 FROM agents WHERE nkey = ?').get(nkey) !== undefined;
  }

  agentExists(id: string): boolean {
    return this.sql('SELECT 1 FROM agents WHERE id = ?').get(id) !== undefined;
  }

  getAgent(id: string): AgentRow | undefined {
    const row = this.sql('SELECT * FROM agents WHERE id = ?').get(id) as RawAgent | undefined;
    return row && toAgent(row);
  }

  /**
   * By id first, then by hostname. A hostname is only an answer when it is unique: several
   * active agents with it (or several retired ones and no active one) are refused with their
   * ids (FERRY_AMBIGUOUS), never silently narrowed to one.
   */
  findAgent(idOrHostname: string): AgentRow | undefined {
    const byId = this.getAgent(idOrHostname);
    if (byId) return byId;
    const named = (this.sql('SELECT * FROM agents WHERE hostname = ? ORDER BY joined_at DESC').all(idOrHostname) as RawAgent[]).map(toAgent);
    const active = named.filter((a) => a.revokedAt === null);
    const candidates = active.length ? active : named;
    if (candidates.length <= 1) return candidates[0];
    const ids = candidates.map((a) => a.id);
    throw new FerryError('FERRY_AMBIGUOUS', `hostname "${idOrHostname}" names ${ids.length} ${active.length ? 'active ' : ''}agents: ${ids.join(', ')}`, {
      hint: `give the agent id, e.g. ${ids[0]}`,
      details: { host: idOrHostname, candidates: candidates.map((a) => ({ id: a.id, hostname: a.hostname, state: a.decommissionedAt ? 'decommissioned' : a.revokedAt ? 'revoked' : 'active', lastSeen: a.lastSeen ? new Date(a.lastSeen).toISOString() : null })) },
    });
  }

  listAgents(includeRevoked = false): AgentRow[] {
    const rows = this.sql(`SELECT * FROM agents ${includeRevoked ? '' : 'WHERE revoked_at IS NULL'} ORDER BY hostname, id`).all() as RawAgent[];
    return rows.map(toAgent);
  }

  /** Every agent's hostname by id, revoked ones too (what a rollout's status and review print; no row parsing). */
  hostnames(): Map<string, string> {
    const rows = this.sql('SELECT id, hostname FROM agents').raw().all() as [string, string][];
    return new Map(rows);
  }

  activeIdentities(): { id: string; nkey: string }[] {
    return this.sql('SELECT id, nkey FROM agents WHERE revoked_at IS NULL ORDER BY id').all() as { id: string; nkey: string }[];
  }

  setInventory(id: string, inventory: InventoryDoc, facts: Record<string, string>): boolean {
    const before = this.sql('SELECT inventory FROM agents WHERE id = ?').get(id) as { inventory: string | null } | undefined;
    if (!before) return false;
    const json = JSON.stringify(inventory);
    this.sql('UPDATE agents SET inventory = ?, facts = ?, hostname = ? WHERE id = ?').run(json, JSON.stringify(facts), inventory.hostname, id);
    if (before.inventory !== json) this.addHistory(id, { kind: 'inventory', detail: before.inventory ? 'inventory changed' : 'first inventory' });
    return true;
  }

  /** Replace a host's tags (`ferry agent tag`), with a history entry saying what changed and who changed it. */
  setTags(id: string, tags: Record<string, string>, actor: string, detail: string): void {
    this.db.transaction(() => {
      this.sql('UPDATE agents SET tags = ? WHERE id = ?').run(JSON.stringify(tags), id);
      this.addHistory(id, { kind: 'tags', detail: `${detail}, by ${actor}` });
    })();
  }

  /** Retire a host's identity: it no longer connects or counts in targets; its history stays. */
  revoke(idOrHostname: string, actor: string): AgentRow {
    const agent = this.findAgent(idOrHostname);
    if (!agent) throw new FerryError('FERRY_NOT_FOUND', `no agent "${idOrHostname}"`, { hint: 'see: ferry agents list' });
    if (agent.revokedAt) throw new FerryError('FERRY_CONFLICT', `agent ${agent.id} is already revoked`);
    this.sql('UPDATE agents SET revoked_at = ? WHERE id = ?').run(Date.now(), agent.id);
    this.addHistory(agent.id, { kind: 'revoked', detail: `by ${actor}` });
    return agent;
  }

  /**
   * Retire a host for good: decommissioned (and revoked, if it was not yet). It leaves targets,
   * lists and online counts; its history and last inventory stay.
   */
  decommission(id: string, actor: string, detail: string): void {
    const now = Date.now();
    this.sql('UPDATE agents SET decommissioned_at = ?, revoked_at = coalesce(revoked_at, ?) WHERE id = ?').run(now, now, id);
    this.addHistory(id, { kind: 'decommissioned', detail: `by ${actor}${detail ? `; ${detail}` : ''}` });
  }

  setDrift(id: string, drift: DriftDoc): void {
    const before = this.sql('SELECT drift FROM agents WHERE id = ?').get(id) as { drift: string } | undefined;
    const json = JSON.stringify(drift);
    if (!before || before.drift === json) return;
    this.sql('UPDATE agents SET drift = ? WHERE id = ?').run(json, id);
    const files = drift.reduce((n, d) => n + d.modified.length + d.missing.length, 0);
    this.addHistory(id, { kind: 'drift', detail: files ? `${files} file(s) differ from their manifest in ${drift.map((d) => `${d.package}@${d.version}`).join(', ')}` : 'no drift' });
  }

  touch(ids: Iterable<string>, ts: number): void {
    const stmt = this.sql('UPDATE agents SET last_seen = max(coalesce(last_seen, 0), ?) WHERE id = ?');
    this.db.transaction(() => {
      for (const id of ids) stmt.run(ts, id);
    })();
  }

  installedOf(id: string): Record<string, string> {
    const rows = this.sql('SELECT package, version FROM installed WHERE agent_id = ? ORDER BY package').all(id) as { package: string; version: string }[];
    return Object.fromEntries(rows.map((r) => [r.package, r.version]));
  }

  allInstalled(): Map<string, Record<string, string>> {
    const rows = this.sql('SELECT agent_id, package, version FROM installed').all() as { agent_id: string; package: string; version: string }[];
    const out = new Map<string, Record<string, string>>();
    for (const r of rows) {
      const m = out.get(r.agent_id) ?? {};
      m[r.package] = r.version;
      out.set(r.agent_id, m);
    }
    return out;
  }

  /**
   * Whether a report at stream sequence `seq` is the newest seen from this agent (and remember it):
   * an older one, redelivered late, must not overwrite what a newer report said.
   */
  claimReportSeq(id: string, seq: number): boolean {
    return this.sql('UPDATE agents SET report_seq = ? WHERE id = ? AND report_seq <= ?').run(seq, id, seq).changes > 0;
  }

  /** The report stream was created anew (sequences start again at 1): forget the old sequences. */
  resetReportSeqs(streamCreated: string): void {
    const key = 'reports_stream_created';
    const known = this.sql('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
    if (known?.value === streamCreated) return;
    this.db.transaction(() => {
      this.sql('UPDATE agents SET report_seq = 0').run();
      this.sql('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, streamCreated);
    })();
  }

  /** Replace what an agent has installed with what it reported; returns true if it changed. */
  setInstalled(id: string, installed: Record<string, string>): boolean {
    const before = this.installedOf(id);
    if (JSON.stringify(before) === JSON.stringify(sortKeys(installed))) return false;
    const now = Date.now();
    this.db.transaction(() => {
      this.sql('DELETE FROM installed WHERE agent_id = ?').run(id);
      const ins = this.sql('INSERT INTO installed (agent_id, package, version, updated_at) VALUES (?, ?, ?, ?)');
      for (const [pkg, version] of Object.entries(installed)) ins.run(id, pkg, version, now);
    })();
    return true;
  }

  addHistory(
    agentId: string,
    e: { kind: string; package?: string; version?: string; fromVersion?: string; operation?: string; result?: string; detail?: string; output?: string },
  ): void {
    this.sql('INSERT INTO history (agent_id, ts, kind, package, version, from_version, operation, result, detail, output) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').run(agentId, Date.now(), e.kind, e.package ?? null, e.version ?? null, e.fromVersion ?? null, e.operation ?? null, e.result ?? null, e.detail ?? null, e.output ?? null);
  }

  /** The operations of a host that ran hooks, oldest first, with their output (`ferry logs`). */
  hookLogsOf(agentId: string, opts: { operation?: string | undefined; afterId?: number | undefined; limit: number }): (HistoryEntry & { id: number; output: string | null })[] {
    const rows = this.sql(
      `SELECT id, ts, kind, package, version, from_version, operation, result, detail, output FROM history
       WHERE agent_id = ? AND package IS NOT NULL AND id > ? ${opts.operation ? 'AND (operation = ? OR operation LIKE ?)' : ''}
       ORDER BY id DESC LIMIT ?`,
    ).all(agentId, opts.afterId ?? 0, ...(opts.operation ? [opts.operation, `${opts.operation}:%`] : []), opts.limit) as {
      id: number; ts: number; kind: string; package: string | null; version: string | null; from_version: string | null; operation: string | null; result: string | null; detail: string | null; output: string | null;
    }[];
    return rows.reverse().map((r) => ({ id: r.id, ts: r.ts, kind: r.kind, package: r.package, version: r.version, fromVersion: r.from_version, operation: r.operation, result: r.result, detail: r.detail, output: r.output }));
  }

  historyOf(agentId: string, limit = 200): HistoryEntry[] {
    return (
      this.db
        .prepare('SELECT ts, kind, package, version, from_version, operation, result, detail FROM history WHERE agent_id = ? ORDER BY id DESC LIMIT ?')
        .all(agentId, limit) as { ts: number; kind: string; package: string | null; version: string | null; from_version: string | null; operation: string | null; result: string | null; detail: string | null }[]
    ).map((r) => ({ ts: r.ts, kind: r.kind, package: r.package, version: r.version, fromVersion: r.from_version, operation: r.operation, result: r.result, detail: r.detail }));
  }
}

function toAgent(r: RawAgent): AgentRow {
  return {
    id: r.id,
    nkey: r.nkey,
    hostname: r.hostname,
    tags: JSON.parse(r.tags) as Record<string, string>,
    facts: JSON.parse(r.facts) as Record<string, string>,
    inventory: r.inventory ? (JSON.parse(r.inventory) as InventoryDoc) : null,
    drift: JSON.parse(r.drift) as DriftDoc,
    joinedAt: r.joined_at,
    lastSeen: r.last_seen,
    revokedAt: r.revoked_at,
    decommissionedAt: r.decommissioned_at,
  };
}

function sortKeys(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
