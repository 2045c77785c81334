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
  ALTER TABLE packages ADD COLUMN retired_at INTEGER;
  ALTER TABLE packages ADD COLUMN retired_by TEXT;
  ALTER TABLE packages ADD COLUMN retire_reason TEXT;
  ALTER TABLE releases ADD COLUMN owner TEXT;
  ALTER TABLE releases ADD COLUMN risk TEXT;
  ALTER TABLE releases ADD COLUMN rollback_plan TEXT;
  ALTER TABLE releases ADD COLUMN external_depends TEXT NOT NULL DEFAULT '[]';
  CREATE TABLE release_approvals (
    release TEXT NOT NULL, actor TEXT NOT NULL, ts INTEGER NOT NULL, comment TEXT,
    PRIMARY KEY (release, actor));
  ALTER TABLE rollouts ADD COLUMN policy TEXT;
  CREATE TABLE audit (
    id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    target TEXT, args TEXT NOT NULL, result TEXT NOT NULL, error TEXT);
  CREATE INDEX audit_ts ON audit (ts);
  CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  `,
  // Events (transactional outbox, drained to the FERRY_EVENTS stream) and webhooks with their
  // delivery cursors into the outbox (see server/events/ and server/notify/).
  `
  CREATE TABLE event_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL,
    release TEXT, ts INTEGER NOT NULL, data TEXT NOT NULL, published_at INTEGER);
  CREATE INDEX event_outbox_unpublished ON event_outbox (seq) WHERE published_at IS NULL;
  CREATE TABLE webhooks (
    id TEXT PRIMARY KEY, url TEXT NOT NULL, events TEXT NOT NULL, release TEXT, secret TEXT NOT NULL,
    cursor INTEGER NOT NULL, created_at INTEGER NOT NULL, delivered INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, last_status INTEGER,
    last_error TEXT, last_attempt_at INTEGER, last_delivered_at INTEGER);
  `,
  // A decommissioned host is retired for good (also revoked); its history stays.
  `
  ALTER TABLE agents ADD COLUMN decommissioned_at INTEGER;
  `,
  // Agent-side maintenance windows: a host holding an install says why and until when.
  `
  ALTER TABLE rollout_hosts ADD COLUMN waiting_reason TEXT;
  ALTER TABLE rollout_hosts ADD COLUMN waiting_until INTEGER;
  `,
  // Decentralised auth: each token has its own enrolment user (revoked when used up or revoked).
  `
  ALTER TABLE tokens ADD COLUMN enroll_nkey TEXT;
  ALTER TABLE tokens ADD COLUMN revoked_at INTEGER;
  ALTER TABLE agents ADD COLUMN jwt_issued_at INTEGER;
  `,
  `
  -- rolling-back became a state of its own (it was "halted" with no end time).
  UPDATE rollouts SET state = 'rolling-back' WHERE state = 'halted' AND ended_at IS NULL;
  -- why a host's outcome should not count against its packages' record (see releases/store.ts risk):
  -- 'fleet-rollback' (sent back by the operator or --on-failure rollback), 'superseded'
  ALTER TABLE rollout_hosts ADD COLUMN cause TEXT;
  `,
  // `ferry logs`: the stdout/stderr of every hook of an operation, as the agent reported it.
  `
  ALTER TABLE history ADD COLUMN output TEXT;
  `,
  // Reports are applied in stream order: a report redelivered late (after a lost delivery or a
  // failed batch) must not put an older installed map over a newer one (server/cmdb/ingest.ts).
  `
  ALTER TABLE agents ADD COLUMN report_seq INTEGER NOT NULL DEFAULT 0;
  `,
  // `rollout start --follow`: when and why a following rollout stopped following its target
  // (stop-follow, superseded, too many failures); hosts it brought in later have wave -2.
  `
  ALTER TABLE rollouts ADD COLUMN follow_ended_at INTEGER;
  ALTER TABLE rollouts ADD COLUMN follow_end_reason TEXT;
  `,
  // Sites (leafnode distribution points, `ferry site add`): where agents reach each one, where it
  // reaches the hub, and the public key of its link's NATS user (its seed is only in the site's files).
  `
  CREATE TABLE sites (
    name TEXT PRIMARY KEY, agent_url TEXT NOT NULL, listen TEXT NOT NULL, hub_url TEXT NOT NULL,
    link_nkey TEXT NOT NULL, created_at INTEGER NOT NULL);
  `,
  // Approvals keep the signed request that made them (its Ferry-Auth header and body), so
  // `release show` can check each one again against the approver's key, later.
  `
  ALTER TABLE release_approvals ADD COLUMN auth TEXT;
  ALTER TABLE release_approvals ADD COLUMN body TEXT;
  `,
  // Per-site bandwidth (`site add|set --max-rate`): the rate of the site's mirror consumer; the
  // JetStream API prefix its mirror is given (NULL: a site added before per-site prefixes, whose
  // link may use only the shared one); the name of the mirror consumer the server made for it
  // last (updated, or deleted, when the rate changes).
  `
  ALTER TABLE sites ADD COLUMN max_rate_bps INTEGER;
  ALTER TABLE sites ADD COLUMN mirror_api TEXT;
  ALTER TABLE sites ADD COLUMN mirror_consumer TEXT;
  `,
  // `ferry site remove`: the public key of a site's system-account link user (NULL: a site added
  // before it was kept), and the link users of removed sites, revoked in the account JWTs (AGENTS
  // for the link, SYS for the system link) for good: a removed site's row is gone, its revocation is not.
  `
  ALTER TABLE sites ADD COLUMN system_nkey TEXT;
  CREATE TABLE site_revocations (
    nkey TEXT PRIMARY KEY, account TEXT NOT NULL CHECK (account IN ('AGENTS', 'SYS')),
    site TEXT NOT NULL, revoked_at INTEGER NOT NULL);
  `,
  // Every mirror consumer the server made for a site (server/sites/mirror-consumers.ts), not only
  // the last: any valid request over the site's link makes one, so the last one need not be the
  // mirror's (site set must reach the live one, site remove must delete it). `js_created` is
  // JetStream's creation time of the consumer (its create reply's `created`): a consumer created
  // again by name (it was gone) has another. The single column of before is imported (with no
  // JetStream time: it was not kept) and dropped.
  `
  CREATE TABLE site_mirror_consumers (
    site TEXT NOT NULL REFERENCES sites (name) ON DELETE CASCADE, name TEXT NOT NULL,
    config TEXT NOT NULL, js_created TEXT, created_at INTEGER NOT NULL,
    PRIMARY KEY (site, name));
  INSERT INTO site_mirror_consumers (site, name, config, js_created, created_at)
    SELECT name, json_extract(mirror_consumer, '$.name'),
      CASE json_type(mirror_consumer, '$.config') WHEN 'object' THEN json_extract(mirror_consumer, '$.config') ELSE '{}' END, NULL, created_at
    FROM sites WHERE json_valid(mirror_consumer) AND json_type(mirror_consumer, '$.name') = 'text';
  ALTER TABLE sites DROP COLUMN mirror_consumer;
  `,
  // Agents sign their reports (server/cmdb/report-auth.ts): the counters of the last signed reports
  // applied, a JSON array; NULL for an agent that never sent one (its unsigned reports still count).
  `
  ALTER TABLE agents ADD COLUMN report_counters TEXT;
  `,
  // When an agent from before decentralised auth last got its JWT over MIGRATE: the account stays
  // open until the agent is seen after it (server/nats/nats-auth.ts agentsToMigrate).
  `
  ALTER TABLE agents ADD COLUMN jwt_migrated_at INTEGER;
  `,
  // The rollout engine asks on every tick which hosts are overdue (in flight since before their
  // --host-timeout, or waiting past their window's deadline) and which rollbacks are: by index,
  // instead of reading every host of the rollout (~7 ms a tick at 10,000 hosts).
  `
  CREATE INDEX rollout_hosts_sent ON rollout_hosts (rollout_id, state, sent_at);
  CREATE INDEX rollout_hosts_waiting ON rollout_hosts (rollout_id, waiting_until) WHERE waiting_reason IS NOT NULL;
  CREATE INDEX rollout_hosts_rollback ON rollout_hosts (rollout_id, rollback, updated_at);
  `,
  // A rollout that starts no wave again (aborted, superseded, rolling back or rolled back) ends its
  // waves not finished ('aborted') and skips its hosts never sent (RolloutStore.closeWaves); those
  // that ended before kept 'pending' and 'soaking' waves and 'pending' hosts for ever.
  `
  UPDATE waves SET state = 'aborted', ended_at = coalesce(ended_at, (SELECT coalesce(r.ended_at, r.started_at, r.created_at) FROM rollouts r WHERE r.id = waves.rollout_id))
    WHERE state IN ('pending', 'running', 'soaking') AND rollout_id IN (SELECT id FROM rollouts WHERE state IN ('aborted', 'rolling-back', 'rolled-back'));
  UPDATE rollout_hosts SET state = 'skipped', reason = 'not sent: the rollout ended before its wave',
    finished_at = coalesce(finished_at, (SELECT coalesce(r.ended_at, r.started_at, r.created_at) FROM rollouts r WHERE r.id = rollout_hosts.rollout_id))
    WHERE state = 'pending' AND rollout_id IN (SELECT id FROM rollouts WHERE state IN ('aborted', 'rolling-back', 'rolled-back'));
  `,
];
