// Persistence of rollouts, their waves and hosts, and their event timeline. The engine reads
// and moves state only through this module, so every step is in SQLite before it takes effect.
import type { Db } from '../db/open.js';
import { statementCache, type Prepare } from '../../shared/sqlite.js';
import type { HostState } from '../../shared/protocol/messages.js';
import type { RolloutState, WaveState } from '../../shared/protocol/api.js';

export interface RolloutOptions {
  waves: string[];
  soakMs: number;
  maxFailures: string;
  onFailure: 'halt' | 'rollback';
  hostTimeoutMs: number;
  includeOffline: boolean;
  /** waves start only inside this window (see shared/windows.ts) */
  window?: string | undefined;
  timeZone?: string | undefined;
  /** epoch ms before which nothing starts */
  startAt?: number | undefined;
  /** set for a removal: the package this rollout uninstalls (then `release` is only a label) */
  remove?: string | undefined;
  /** `--max-rate`: each agent's download is paced to this many bytes per second */
  maxRateBps?: number | undefined;
  /** `--follow`: after the waves, hosts that join or start matching the target receive it too */
  follow?: boolean | undefined;
  /** set for `ferry cmdb clone-config`: the production host copied and the changes that copy it (then `release` is only a label) */
  clone?: CloneOptions | undefined;
}

/** A clone-config rollout: the test host installs and removes these to match the production host. */
export interface CloneOptions {
  /** the production host's agent id and hostname when the copy was planned */
  from: string;
  fromHostname: string;
  install: { name: string; version: string; downgrade?: true }[];
  remove: string[];
}

export interface RolloutRow {
  id: string;
  release: string;
  strategy: 'big-bang' | 'phased';
  state: RolloutState;
  target: string;
  options: RolloutOptions;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  actor: string;
  reason: string | null;
  /** set when a `--follow` rollout stopped following its target, with why */
  followEndedAt: number | null;
  followEndReason: string | null;
}

export interface WaveRow {
  index: number;
  state: WaveState;
  size: number;
  startedAt: number | null;
  endedAt: number | null;
  soakUntil: number | null;
}

export interface HostRow {
  agent: string;
  wave: number;
  state: HostState;
  fromVersions: Record<string, string>;
  reason: string | null;
  error: string | null;
  sentAt: number | null;
  finishedAt: number | null;
  rollback: RollbackMark;
  /** the agent holds the install (its maintenance window is closed): why, and until when */
  waiting: { reason: string; until: number | null } | null;
  /** why the outcome is not the package's doing (sent back by a fleet rollback, superseded) */
  cause: HostCause | null;
}

/** What was checked when a rollout started, and who overrode what (see server/policy); the shape is rollout.start's and rollout.review's (shared/protocol/replies/rollouts.ts). */
export type RolloutPolicyRecord = RolloutPolicyRecordDoc;
import type { RolloutPolicyRecordDoc } from '../../shared/protocol/replies.js';

/** A host outcome decided by an operator or a newer rollout, not by the package on the host. */
export type HostCause = 'fleet-rollback' | 'superseded';

/**
 * Where a host is in a fleet rollback of this rollout: 'unconfirmed' was sent but not reported
 * within --host-timeout (the rollout stopped waiting; a later report is still recorded).
 */
export type RollbackMark = 'none' | 'sent' | 'unconfirmed' | 'done';

/** The wave of a host the selector matched but that receives nothing (offline, already there, …). */
export const SKIPPED_WAVE = -1;
/** The wave of a host a `--follow` rollout brought in after its waves (it joined or started matching). */
export const LATE_WAVE = -2;

export { ACTIVE_ROLLOUT_STATES } from './lifecycle.js';
import { ACTIVE_ROLLOUT_STATES } from './lifecycle.js';

export class RolloutStore {
  private readonly sql: Prepare;

  constructor(private readonly db: Db) {
    this.sql = statementCache(db);
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  insertRollout(r: Omit<RolloutRow, 'startedAt' | 'endedAt' | 'reason' | 'followEndedAt' | 'followEndReason'>, waveSizes: number[], hosts: Pick<HostRow, 'agent' | 'wave' | 'state' | 'fromVersions' | 'reason'>[]): void {
    this.transaction(() => {
      this.db
        .prepare('INSERT INTO rollouts (id, release, strategy, state, options, target, created_at, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(r.id, r.release, r.strategy, r.state, JSON.stringify(r.options), r.target, r.createdAt, r.actor);
      const wave = this.sql("INSERT INTO waves (rollout_id, idx, state, size) VALUES (?, ?, 'pending', ?)");
      waveSizes.forEach((size, i) => wave.run(r.id, i, size));
      const host = this.sql('INSERT INTO rollout_hosts (rollout_id, agent_id, wave, state, from_versions, reason, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
      for (const h of hosts) host.run(r.id, h.agent, h.wave, h.state, JSON.stringify(h.fromVersions), h.reason, r.createdAt);
      this.addEvent(r.id, r.actor, 'created', `${hosts.length} hosts in ${waveSizes.length} waves`);
    });
  }

  get(id: string): RolloutRow | undefined {
    const row = this.sql('SELECT * FROM rollouts WHERE id = ?').get(id) as RawRollout | undefined;
    return row && toRollout(row);
  }

  latestId(): string | undefined {
    return (this.sql('SELECT id FROM rollouts ORDER BY created_at DESC, rowid DESC LIMIT 1').get() as { id: string } | undefined)?.id;
  }

  list(): RolloutRow[] {
    return (this.sql('SELECT * FROM rollouts ORDER BY created_at DESC, rowid DESC').all() as RawRollout[]).map(toRollout);
  }

  active(): RolloutRow[] {
    const marks = ACTIVE_ROLLOUT_STATES.map(() => '?').join(',');
    return (this.sql(`SELECT * FROM rollouts WHERE state IN (${marks}) ORDER BY created_at`).all(...ACTIVE_ROLLOUT_STATES) as RawRollout[]).map(toRollout);
  }

  setState(id: string, state: RolloutState, fields: { startedAt?: number; endedAt?: number; reason?: string } = {}): void {
    this.sql('UPDATE rollouts SET state = ?, started_at = coalesce(?, started_at), ended_at = coalesce(?, ended_at), reason = coalesce(?, reason) WHERE id = ?').run(state, fields.startedAt ?? null, fields.endedAt ?? null, fields.reason ?? null, id);
  }

  /**
   * `ferry rollout retry`: a halted rollout runs again; its failed waves are pending again and
   * their failed hosts pending (the engine sends to them as it starts a wave; their reverts are done with). Returns how many hosts.
   */
  reopenFailed(id: string, reason: string): number {
    return this.transaction(() => {
      this.sql("UPDATE rollouts SET state = 'running', ended_at = NULL, reason = ? WHERE id = ?").run(reason, id);
      this.sql("UPDATE waves SET state = 'pending', ended_at = NULL, soak_until = NULL WHERE rollout_id = ? AND state = 'failed'").run(id);
      return this.sql(
        "UPDATE rollout_hosts SET state = 'pending', rollback = 'none', error = NULL, sent_at = NULL, finished_at = NULL, waiting_reason = NULL, waiting_until = NULL, cause = NULL, updated_at = ? WHERE rollout_id = ? AND state IN ('failed', 'rolled-back')",
      ).run(Date.now(), id).changes;
    });
  }

  /** `ferry rollout start-now`: the start time is dropped from the rollout's options. */
  dropStartAt(id: string): void {
    const row = this.get(id);
    if (!row) return;
    const { startAt: _dropped, ...options } = row.options;
    this.sql('UPDATE rollouts SET options = ? WHERE id = ?').run(JSON.stringify(options), id);
  }

  /** A fleet rollback starts: the rollout is rolling-back (and not ended) until every host reported. */
  beginRollback(id: string, reason: string): void {
    this.sql("UPDATE rollouts SET state = 'rolling-back', ended_at = NULL, reason = ? WHERE id = ?").run(reason, id);
  }

  /**
   * A rollout that will start no wave again (aborted, superseded, rolled back): its waves not
   * finished end as 'aborted' (a soak cut short has no countdown left), and its hosts never sent
   * are 'skipped' with `reason`. Hosts in flight keep their state: they may still report (and a
   * fleet rollback reaches them). Safe to repeat.
   */
  closeWaves(id: string, reason: string, now = Date.now()): void {
    // Through setWave and setHost, so that each change is an event too (events/rollout-events.ts).
    this.transaction(() => {
      for (const w of this.waves(id)) if (w.state === 'pending' || w.state === 'running' || w.state === 'soaking') this.setWave(id, w.index, 'aborted', { endedAt: now });
      const never = this.sql("SELECT agent_id FROM rollout_hosts WHERE rollout_id = ? AND state = 'pending'").all(id) as { agent_id: string }[];
      this.sql("UPDATE rollout_hosts SET reason = ? WHERE rollout_id = ? AND state = 'pending'").run(reason, id);
      for (const h of never) this.setHost(id, h.agent_id, 'skipped', { finishedAt: now });
    });
  }

  /** `--follow` rollouts that still follow their target (whatever their state). */
  following(): RolloutRow[] {
    return (this.sql("SELECT * FROM rollouts WHERE follow_ended_at IS NULL AND json_extract(options, '$.follow') = 1 ORDER BY created_at").all() as RawRollout[]).map(toRollout);
  }

  /** A following rollout stops following (stop-follow, superseded, failures); false if it already had. */
  endFollow(id: string, reason: string, now = Date.now()): boolean {
    return this.sql('UPDATE rollouts SET follow_ended_at = ?, follow_end_reason = ? WHERE id = ? AND follow_ended_at IS NULL').run(now, reason, id).changes > 0;
  }

  /** A host a following rollout brings in after its waves: sent now, or skipped with the reason. */
  /** A host brought in after the waves; one the rollout skipped before (e.g. offline) is planned anew. */
  addLateHost(id: string, h: { agent: string; state: 'sent' | 'skipped'; fromVersions: Record<string, string>; reason: string }, now = Date.now()): void {
    this.sql(
      `INSERT INTO rollout_hosts (rollout_id, agent_id, wave, state, from_versions, reason, sent_at, finished_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (rollout_id, agent_id) DO UPDATE SET wave = excluded.wave, state = excluded.state, from_versions = excluded.from_versions, reason = excluded.reason,
         error = NULL, sent_at = excluded.sent_at, finished_at = excluded.finished_at, updated_at = excluded.updated_at, waiting_reason = NULL, waiting_until = NULL`,
    ).run(
      id,
      h.agent,
      LATE_WAVE,
      h.state,
      JSON.stringify(h.fromVersions),
      h.reason,
      h.state === 'sent' ? now : null,
      h.state === 'skipped' ? now : null,
      now,
    );
  }

  /** Rollouts whose fleet rollback has not finished. */
  rollingBack(): RolloutRow[] {
    return (this.sql("SELECT * FROM rollouts WHERE state = 'rolling-back' ORDER BY created_at").all() as RawRollout[]).map(toRollout);
  }

  waves(id: string): WaveRow[] {
    return (
      this.sql('SELECT idx, state, size, started_at, ended_at, soak_until FROM waves WHERE rollout_id = ? ORDER BY idx').all(id) as {
        idx: number;
        state: WaveState;
        size: number;
        started_at: number | null;
        ended_at: number | null;
        soak_until: number | null;
      }[]
    ).map((w) => ({ index: w.idx, state: w.state, size: w.size, startedAt: w.started_at, endedAt: w.ended_at, soakUntil: w.soak_until }));
  }

  setWave(id: string, index: number, state: WaveState, fields: { startedAt?: number; endedAt?: number; soakUntil?: number } = {}): void {
    this.sql('UPDATE waves SET state = ?, started_at = coalesce(?, started_at), ended_at = coalesce(?, ended_at), soak_until = coalesce(?, soak_until) WHERE rollout_id = ? AND idx = ?').run(state, fields.startedAt ?? null, fields.endedAt ?? null, fields.soakUntil ?? null, id, index);
  }

  hosts(id: string, wave?: number): HostRow[] {
    const rows = (
      wave === undefined
        ? this.sql('SELECT * FROM rollout_hosts WHERE rollout_id = ? ORDER BY wave, agent_id').all(id)
        : this.sql('SELECT * FROM rollout_hosts WHERE rollout_id = ? AND wave = ? ORDER BY agent_id').all(id, wave)
    ) as RawHost[];
    return rows.map(toHost);
  }

  host(id: string, agent: string): HostRow | undefined {
    const row = this.sql('SELECT * FROM rollout_hosts WHERE rollout_id = ? AND agent_id = ?').get(id, agent) as RawHost | undefined;
    return row && toHost(row);
  }

  setHost(id: string, agent: string, state: HostState, fields: { error?: string | null; sentAt?: number; finishedAt?: number } = {}): void {
    // Any new state ends a wait for the agent's maintenance window.
    this.sql(
      'UPDATE rollout_hosts SET state = ?, error = CASE WHEN ? THEN ? ELSE error END, sent_at = coalesce(?, sent_at), finished_at = coalesce(?, finished_at), waiting_reason = NULL, waiting_until = NULL, updated_at = ? WHERE rollout_id = ? AND agent_id = ?',
    ).run(state, fields.error !== undefined ? 1 : 0, fields.error ?? null, fields.sentAt ?? null, fields.finishedAt ?? null, Date.now(), id, agent);
  }

  /** The agent reported that it holds the install until its window opens (the host stays 'sent'). */
  setWaiting(id: string, agent: string, waiting: { reason: string; until?: number | undefined }): void {
    this.sql('UPDATE rollout_hosts SET waiting_reason = ?, waiting_until = ?, reason = ?, updated_at = ? WHERE rollout_id = ? AND agent_id = ?').run(
      waiting.reason,
      waiting.until ?? null,
      waiting.reason,
      Date.now(),
      id,
      agent,
    );
  }

  /** Ids of the rollouts that include this agent. */
  rolloutsOf(agent: string): string[] {
    return (this.sql('SELECT rollout_id FROM rollout_hosts WHERE agent_id = ?').all(agent) as { rollout_id: string }[]).map((r) => r.rollout_id);
  }

  /** Why this host's outcome is not its packages' fault (the risk score leaves it out). */
  setCause(id: string, agent: string, cause: HostCause): void {
    this.sql('UPDATE rollout_hosts SET cause = ? WHERE rollout_id = ? AND agent_id = ?').run(cause, id, agent);
  }

  setRollbackMark(id: string, agent: string, mark: RollbackMark, at = Date.now()): void {
    this.sql('UPDATE rollout_hosts SET rollback = ?, updated_at = ? WHERE rollout_id = ? AND agent_id = ?').run(mark, at, id, agent);
  }

  /**
   * Hosts sent a rollback before `sentBefore` that have not reported it. Nothing else writes a
   * host row between its rollback being sent and reported, so its updated_at is when it was sent.
   */
  overdueRollbacks(id: string, sentBefore: number): HostRow[] {
    return (this.sql("SELECT * FROM rollout_hosts WHERE rollout_id = ? AND rollback = 'sent' AND updated_at < ?").all(id, sentBefore) as RawHost[]).map(toHost);
  }

  /** Host counts per wave and state, for every wave of a rollout, in one query. */
  countsByWave(id: string): Map<number, Partial<Record<HostState, number>>> {
    const rows = this.sql('SELECT wave, state, count(*) AS n FROM rollout_hosts WHERE rollout_id = ? GROUP BY wave, state').all(id) as { wave: number; state: HostState; n: number }[];
    const out = new Map<number, Partial<Record<HostState, number>>>();
    for (const r of rows) out.set(r.wave, { ...out.get(r.wave), [r.state]: r.n });
    return out;
  }

  pendingRollbacks(id: string): number {
    return (this.sql("SELECT count(*) AS n FROM rollout_hosts WHERE rollout_id = ? AND rollback = 'sent'").get(id) as { n: number }).n;
  }

  /**
   * Hosts still in flight whose time is up. A host waiting for its maintenance window is timed
   * from when the window opens (or its deadline passes), and not at all if it never says when.
   */
  overdueHosts(id: string, sentBefore: number): HostRow[] {
    // Two lookups by index (rollout_hosts_sent, rollout_hosts_waiting): the engine asks on every
    // tick, and reading every in-flight host of a 10,000-host rollout took ~7 ms each time.
    const inFlight = "state IN ('sent','downloading','installing','verifying')";
    const sent = this.sql(`SELECT * FROM rollout_hosts WHERE rollout_id = ? AND ${inFlight} AND sent_at < ? AND waiting_reason IS NULL`).all(id, sentBefore) as RawHost[];
    const waiting = this.sql(`SELECT * FROM rollout_hosts WHERE rollout_id = ? AND waiting_reason IS NOT NULL AND waiting_until < ? AND ${inFlight}`).all(id, sentBefore) as RawHost[];
    return [...sent, ...waiting].map(toHost);
  }

  addEvent(id: string, actor: string, action: string, detail?: string): void {
    this.sql('INSERT INTO rollout_events (rollout_id, ts, actor, action, detail) VALUES (?, ?, ?, ?, ?)').run(id, Date.now(), actor, action, detail ?? null);
  }

  /** The change record a rollout started under: policy verdict, override, risk (JSON). */
  savePolicy(id: string, record: RolloutPolicyRecord): void {
    this.sql('UPDATE rollouts SET policy = ? WHERE id = ?').run(JSON.stringify(record), id);
  }

  policyOf(id: string): RolloutPolicyRecord | null {
    const row = this.sql('SELECT policy FROM rollouts WHERE id = ?').get(id) as { policy: string | null } | undefined;
    return row?.policy ? (JSON.parse(row.policy) as RolloutPolicyRecord) : null;
  }

  events(id: string): { ts: number; actor: string; action: string; detail: string | null }[] {
    return this.sql('SELECT ts, actor, action, detail FROM rollout_events WHERE rollout_id = ? ORDER BY id').all(id) as {
      ts: number;
      actor: string;
      action: string;
      detail: string | null;
    }[];
  }
}

interface RawRollout {
  id: string;
  release: string;
  strategy: 'big-bang' | 'phased';
  state: RolloutState;
  options: string;
  target: string;
  created_at: number;
  started_at: number | null;
  ended_at: number | null;
  actor: string;
  reason: string | null;
  follow_ended_at: number | null;
  follow_end_reason: string | null;
}

interface RawHost {
  agent_id: string;
  wave: number;
  state: HostState;
  from_versions: string;
  reason: string | null;
  error: string | null;
  sent_at: number | null;
  finished_at: number | null;
  rollback: RollbackMark;
  waiting_reason: string | null;
  waiting_until: number | null;
  cause: HostCause | null;
}

function toRollout(r: RawRollout): RolloutRow {
  return {
    id: r.id,
    release: r.release,
    strategy: r.strategy,
    state: r.state,
    target: r.target,
    options: JSON.parse(r.options) as RolloutOptions,
    createdAt: r.created_at,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    actor: r.actor,
    reason: r.reason,
    followEndedAt: r.follow_ended_at,
    followEndReason: r.follow_end_reason,
  };
}

function toHost(r: RawHost): HostRow {
  return {
    agent: r.agent_id,
    wave: r.wave,
    state: r.state,
    fromVersions: JSON.parse(r.from_versions) as Record<string, string>,
    reason: r.reason,
    error: r.error,
    sentAt: r.sent_at,
    finishedAt: r.finished_at,
    rollback: r.rollback,
    waiting: r.waiting_reason === null ? null : { reason: r.waiting_reason, until: r.waiting_until },
    cause: r.cause ?? null,
  };
}
