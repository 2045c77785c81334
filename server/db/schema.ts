// The server's SQLite schema, as ordered migrations. user_version records how far a database is.
export const MIGRATIONS: string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE tokens (
    id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL, tags TEXT NOT NULL,
    expires_at INTEGER NOT NULL, uses_left INTEGER NOT NULL, created_at INTEGER NOT NULL);
  CREATE TABLE agents (
    id TEXT PRIMARY KEY, nkey TEXT NOT NULL UNIQUE, hostname TEXT NOT NULL, tags TEXT NOT NULL,
    facts TEXT NOT NULL DEFAULT '{}', inventory TEXT, joined_at INTEGER NOT NULL,
    last_seen INTEGER, revoked_at INTEGER);
  CREATE TABLE installed (
    agent_id TEXT NOT NULL, package TEXT NOT NULL, version TEXT NOT NULL, updated_at INTEGER NOT NULL,
    PRIMARY KEY (agent_id, package));
  CREATE TABLE history (
    id INTEGER PRIMARY KEY, agent_id TEXT NOT NULL, ts INTEGER NOT NULL, kind TEXT NOT NULL,
    package TEXT, version TEXT, from_version TEXT, operation TEXT, result TEXT, detail TEXT);
  CREATE INDEX history_agent ON history (agent_id, ts);
  CREATE TABLE packages (
    name TEXT NOT NULL, version TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
    object TEXT NOT NULL, manifest TEXT NOT NULL, record TEXT NOT NULL, state TEXT NOT NULL,
    created_at INTEGER NOT NULL, authorized_at INTEGER, authorized_by TEXT, evidence TEXT,
    PRIMARY KEY (name, version));
  CREATE TABLE releases (
    name TEXT PRIMARY KEY, packages TEXT NOT NULL, rfc TEXT, notes TEXT, created_at INTEGER NOT NULL);
  CREATE TABLE rollouts (
    id TEXT PRIMARY KEY, release TEXT NOT NULL, strategy TEXT NOT NULL, state TEXT NOT NULL,
    options TEXT NOT NULL, target TEXT NOT NULL, created_at INTEGER NOT NULL, started_at INTEGER,
    ended_at INTEGER, actor TEXT NOT NULL, reason TEXT);
  CREATE TABLE waves (
    rollout_id TEXT NOT NULL, idx INTEGER NOT NULL, state TEXT NOT NULL, size INTEGER NOT NULL,
    started_at INTEGER, ended_at INTEGER, soak_until INTEGER,
    PRIMARY KEY (rollout_id, idx));
  CREATE TABLE rollout_hosts (
    rollout_id TEXT NOT NULL, agent_id TEXT NOT NULL, wave INTEGER NOT NULL, state TEXT NOT NULL,
    from_versions TEXT NOT NULL DEFAULT '{}', reason TEXT, error TEXT, sent_at INTEGER,
    rollback TEXT NOT NULL DEFAULT 'none',
    finished_at INTEGER, updated_at INTEGER NOT NULL,
    PRIMARY KEY (rollout_id, agent_id));
  CREATE INDEX rollout_hosts_wave ON rollout_hosts (rollout_id, wave, state);
  CREATE TABLE rollout_events (
    id INTEGER PRIMARY KEY, rollout_id TEXT NOT NULL, ts INTEGER NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, detail TEXT);
  CREATE TABLE desired (agent_id TEXT PRIMARY KEY, generation INTEGER NOT NULL, doc TEXT NOT NULL);
  `,
  `
  ALTER TABLE agents ADD COLUMN drift TEXT NOT NULL DEFAULT '[]';
  `,
  `
  ALTER TABLE rollout_hosts ADD COLUMN waiting_reason TEXT;
  ALTER TABLE rollout_hosts ADD COLUMN waiting_until INTEGER;
  `,
];
