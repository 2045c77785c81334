// Publishes what each agent should have installed: the signed desired state is stored in SQLite,
// written to the KV bucket (durable intent: an agent that was offline reads it when it returns)
// and pushed as a signed command for agents that are online now.
import { Kvm, type KV } from '@nats-io/kv';
import { scaleStream, withStoreRetry } from '../nats/replicas.js';
import type { NatsConnection } from '@nats-io/transport-node';
import { randomBytes } from 'node:crypto';
import { signEnvelope, type SignedEnvelope } from '../../shared/crypto/sign.js';
import type { KeyRing } from '../keys.js';
import { encodeMessage } from '../../shared/protocol/codec.js';
import type { Command, DesiredPackage, DesiredState } from '../../shared/protocol/messages.js';
import { BUCKETS, TRUST_KEY, subjects } from '../../shared/protocol/subjects.js';
import { mirrorOnlyAgents } from '../sites/mirror-only.js';
import type { Db } from '../db/open.js';
import { statementCache, type Prepare } from '../../shared/sqlite.js';

export const COMMAND_TTL_MS = 10 * 60_000;

export interface DesiredChange {
  agent: string;
  operation: string;
  /** packages to set (name → signed record), replacing any other version of the same name */
  set: DesiredPackage[];
  remove: string[];
  /** a back-out or decommission purge: not held by the agent's maintenance window */
  immediate?: boolean;
}

export interface PreparedDesired {
  agent: string;
  envelope: SignedEnvelope;
}

/** A put refused while JetStream elects a new leader (a NATS node lost) is retried this long. */
const DELIVER_RETRY_MS = 15_000;
/** Documents that still could not be delivered are tried again from SQLite at this interval. */
const REDELIVER_EVERY_MS = 3_000;

/**
 * The generation of an agent's next desired state: above the last one, and at least the wall clock
 * in milliseconds. Agents apply only a generation above the one they applied last, so a server
 * restored from an older backup (its last generations lower than what agents already applied)
 * must still number above them: otherwise its rollouts are ignored, hosts stay `sent`.
 */
export function nextGeneration(previous: number | undefined, nowMs = Date.now()): number {
  return Math.max((previous ?? 0) + 1, nowMs);
}

export class DesiredStatePublisher {
  private kv?: KV;
  /** agents whose stored desired state has not reached the KV bucket yet */
  private readonly undelivered = new Set<string>();
  private redeliverTimer?: NodeJS.Timeout;
  /** a wave stores thousands of documents: each statement compiled once */
  private readonly sql: Prepare;

  constructor(
    private readonly db: Db,
    private readonly nc: NatsConnection,
    private readonly keys: KeyRing,
    private readonly onRedeliverError: (err: unknown, agents: number) => void = () => undefined,
  ) {
    this.sql = statementCache(db);
  }

  /** `replicas`: copies JetStream keeps (server/nats/replicas.ts); an existing bucket is scaled to it. */
  async open(replicas = 1): Promise<void> {
    this.kv = await withStoreRetry(() => new Kvm(this.nc).create(BUCKETS.desired, { history: 1, description: 'Ferry desired state per agent (signed)', replicas }));
    await scaleStream(this.nc, `KV_${BUCKETS.desired}`, replicas);
    await this.publishTrust();
  }

  /** Agents read the trust document from here (and get it at join). */
  async publishTrust(): Promise<void> {
    await this.kv!.put(TRUST_KEY, encodeMessage(this.keys.trust));
  }

  /**
   * After a key rotation: sign the stored desired states again with the new key (same content,
   * same generation, so agents that applied them do nothing) and deliver them. Returns how many.
   */
  async resignAll(): Promise<number> {
    const rows = this.db.prepare('SELECT agent_id, doc FROM desired').all() as { agent_id: string; doc: string }[];
    const docs: PreparedDesired[] = [];
    const update = this.db.prepare('UPDATE desired SET doc = ? WHERE agent_id = ?');
    this.db.transaction(() => {
      for (const r of rows) {
        const old = JSON.parse(r.doc) as SignedEnvelope;
        const doc = JSON.parse(old.payload) as DesiredState;
        const fresh = old.key === this.keys.signingFingerprint ? old : signEnvelope(this.keys.signing, { ...doc, packages: doc.packages.map((p) => ({ ...p, record: this.resignRecord(p.record) })) });
        if (fresh !== old) update.run(JSON.stringify(fresh), r.agent_id);
        if (fresh !== old) docs.push({ agent: r.agent_id, envelope: fresh });
      }
    })();
    await this.send(docs);
    return docs.length;
  }

  private resignRecord(record: SignedEnvelope): SignedEnvelope {
    return record.key === this.keys.signingFingerprint ? record : signEnvelope(this.keys.signing, JSON.parse(record.payload));
  }

  /**
   * Record new desired states in SQLite (call inside the caller's transaction, so the intent and
   * the rollout step that caused it are saved together). Returns what `send` must deliver.
   */
  prepare(changes: DesiredChange[]): PreparedDesired[] {
    return this.db.transaction(() => {
      const mirrorOnly = mirrorOnlyAgents(this.db);
      return changes.map((c) => this.store(c, mirrorOnly(c.agent)));
    })();
  }

  /**
   * Deliver prepared desired states: KV (durable) and a command (prompt). Safe to repeat. One that cannot be delivered (NATS unreachable for longer than a
   * leader election) stays stored and is delivered again in the background until it is: the
   * caller has already recorded the host as sent, so nothing else would send it again. The
   * first failure is still thrown, for the caller's log.
   */
  async send(docs: PreparedDesired[]): Promise<void> {
    // Bounded concurrency: fast for thousands of agents without flooding the server.
    const queue = [...docs];
    let failure: unknown;
    // One retry window for the whole batch: once it has passed and a put still fails, NATS is
    // down for longer than an election, and the rest waits for redelivery instead of timing out
    // one by one (a wave of thousands would otherwise hold the engine for many minutes).
    const deadline = Date.now() + DELIVER_RETRY_MS;
    const workers = Array.from({ length: Math.min(64, queue.length) }, async () => {
      for (let d = queue.shift(); d; d = queue.shift()) {
        if (failure !== undefined) {
          this.undelivered.add(d.agent);
          continue;
        }
        try {
          await this.deliver(d.agent, d.envelope, deadline);
          this.undelivered.delete(d.agent);
        } catch (err) {
          failure ??= err;
          this.undelivered.add(d.agent);
        }
      }
    });
    await Promise.all(workers);
    if (this.undelivered.size > 0) this.scheduleRedelivery();
    if (failure !== undefined) throw failure;
  }

  /** Stop background redelivery (server shutdown). */
  close(): void {
    clearTimeout(this.redeliverTimer);
    this.redeliverTimer = undefined;
  }

  private scheduleRedelivery(): void {
    if (this.redeliverTimer) return;
    this.redeliverTimer = setTimeout(() => {
      this.redeliverTimer = undefined;
      const agents = [...this.undelivered];
      // send() re-adds what fails again and schedules the next try.
      this.send(this.stored(agents)).catch((err: unknown) => this.onRedeliverError(err, this.undelivered.size));
    }, REDELIVER_EVERY_MS);
    this.redeliverTimer.unref();
  }

  async publish(changes: DesiredChange[]): Promise<void> {
    await this.send(this.prepare(changes));
  }

  /** The stored desired states of these agents, to deliver again after a restart. */
  stored(agents: string[]): PreparedDesired[] {
    const stmt = this.sql('SELECT doc FROM desired WHERE agent_id = ?');
    return agents.flatMap((agent) => {
      const row = stmt.get(agent) as { doc: string } | undefined;
      return row ? [{ agent, envelope: JSON.parse(row.doc) as SignedEnvelope }] : [];
    });
  }

  /** The current desired packages of an agent (name → entry). */
  current(agent: string): DesiredState | undefined {
    const row = this.sql('SELECT doc FROM desired WHERE agent_id = ?').get(agent) as { doc: string } | undefined;
    return row ? (JSON.parse((JSON.parse(row.doc) as SignedEnvelope).payload) as DesiredState) : undefined;
  }

  private store(change: DesiredChange, siteMirrorOnly: boolean): PreparedDesired {
    const previous = this.current(change.agent);
    const replaced = new Set([...change.set.map((p) => p.name), ...change.remove]);
    const doc: DesiredState = {
      agent: change.agent,
      generation: nextGeneration(previous?.generation),
      operation: change.operation,
      issuedAt: new Date().toISOString(),
      packages: [...(previous?.packages ?? []).filter((p) => !replaced.has(p.name)).map((p) => ({ ...p, rollback: false, watchMs: 0 })), ...change.set],
      remove: change.remove,
      ...(change.immediate ? { immediate: true } : {}),
      ...(siteMirrorOnly ? { siteMirrorOnly: true } : {}),
    };
    const envelope = signEnvelope(this.keys.signing, doc);
    this.sql('INSERT INTO desired (agent_id, generation, doc) VALUES (?, ?, ?) ON CONFLICT(agent_id) DO UPDATE SET generation = excluded.generation, doc = excluded.doc').run(change.agent, doc.generation, JSON.stringify(envelope));
    return { agent: change.agent, envelope };
  }

  private async deliver(agent: string, desired: SignedEnvelope, deadline: number): Promise<void> {
    // A NATS node going away makes the bucket's stream elect a new leader: puts time out or find
    // no responders for a few seconds. Retried here, so a wave sent at that moment still arrives.
    const payload = encodeMessage(desired);
    for (let wait = 250; ; wait = Math.min(wait * 2, 2000)) {
      try {
        await this.kv!.put(agent, payload);
        break;
      } catch (err) {
        if (Date.now() + wait > deadline || this.nc.isClosed()) throw err;
        await new Promise((r) => setTimeout(r, wait));
      }
    }
    const now = Date.now();
    const command: Command = { type: 'apply', audience: agent, subject: subjects.command(agent), issuedAt: now, expiresAt: now + COMMAND_TTL_MS, nonce: randomBytes(12).toString('hex'), desired };
    this.nc.publish(subjects.command(agent), encodeMessage(signEnvelope(this.keys.signing, command)));
  }

  /** Tell one agent to stop for good and delete its credentials (it acknowledges with a report). */
  requestDecommission(agent: string): void {
    const now = Date.now();
    const command: Command = { type: 'decommission', audience: agent, subject: subjects.command(agent), issuedAt: now, expiresAt: now + COMMAND_TTL_MS, nonce: randomBytes(12).toString('hex') };
    this.nc.publish(subjects.command(agent), encodeMessage(signEnvelope(this.keys.signing, command)));
  }

  /** Ask one agent to report its inventory now. */
  requestReport(agent: string): void {
    const now = Date.now();
    const command: Command = { type: 'report', audience: agent, subject: subjects.command(agent), issuedAt: now, expiresAt: now + COMMAND_TTL_MS, nonce: randomBytes(12).toString('hex') };
    this.nc.publish(subjects.command(agent), encodeMessage(signEnvelope(this.keys.signing, command)));
  }
}
