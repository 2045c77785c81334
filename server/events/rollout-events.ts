// A RolloutStore that records an event for every rollout, wave and host state change, in the
// same SQLite transaction as the change (see outbox.ts). The engine and the service keep
// using the RolloutStore interface and know nothing about events.
import type { HostState } from '../../shared/protocol/messages.js';
import type { RolloutState, WaveState } from '../../shared/protocol/api.js';
import type { Db } from '../db/open.js';
import { RolloutStore, type HostRow, type RolloutRow } from '../rollouts/store.js';
import type { EventOutbox } from './outbox.js';

/**
 * The event type for a rollout state change (see shared/protocol/events.ts): `rollout.started`
 * when its start is recorded, `rollout.resumed` when it runs again after `paused`/`waiting`.
 */
export function rolloutEventType(state: RolloutState, starting: boolean): string {
  if (starting) return 'rollout.started';
  if (state === 'running') return 'rollout.resumed';
  if (state === 'planned') return 'rollout.created';
  return `rollout.${state}`;
}

export function waveEventType(state: WaveState): string {
  return state === 'running' ? 'wave.started' : `wave.${state}`;
}

export class EventedRolloutStore extends RolloutStore {
  private readonly hostnameOf: (agent: string) => string;
  /** rollout id → release (never changes): host events come in bursts from report ingest */
  private readonly releaseOf = new Map<string, string>();

  constructor(
    db: Db,
    private readonly outbox: EventOutbox,
  ) {
    super(db);
    const stmt = db.prepare('SELECT hostname FROM agents WHERE id = ?');
    this.hostnameOf = (agent) => (stmt.get(agent) as { hostname: string } | undefined)?.hostname ?? agent;
  }

  override insertRollout(...args: Parameters<RolloutStore['insertRollout']>): void {
    const [r, waveSizes, hosts] = args;
    this.transaction(() => {
      super.insertRollout(...args);
      this.outbox.record('rollout.created', {
        rollout: r.id,
        release: r.release,
        strategy: r.strategy,
        state: r.state,
        previous: null,
        actor: r.actor,
        target: r.target,
        hosts: hosts.length,
        waves: waveSizes.length,
      });
    });
  }

  override setState(id: string, state: RolloutState, fields: Parameters<RolloutStore['setState']>[2] = {}): void {
    this.transaction(() => {
      const before = this.get(id);
      super.setState(id, state, fields);
      if (!before) return;
      const starting = fields.startedAt !== undefined && before.startedAt === null;
      if (starting || before.state !== state) this.recordRollout(this.get(id)!, before.state, starting);
    });
  }

  override beginRollback(id: string, reason: string): void {
    this.transaction(() => {
      const before = this.get(id);
      super.beginRollback(id, reason);
      if (before && before.state !== 'rolling-back') this.recordRollout(this.get(id)!, before.state, false);
    });
  }

  override setWave(id: string, index: number, state: WaveState, fields: Parameters<RolloutStore['setWave']>[3] = {}): void {
    this.transaction(() => {
      const before = this.waves(id).find((w) => w.index === index);
      super.setWave(id, index, state, fields);
      if (!before || before.state === state) return;
      const rollout = this.get(id)!;
      this.outbox.record(waveEventType(state), { rollout: id, release: rollout.release, wave: index, state, previous: before.state, size: before.size });
    });
  }

  override setHost(id: string, agent: string, state: HostState, fields: Parameters<RolloutStore['setHost']>[3] = {}): void {
    this.transaction(() => {
      const before = this.host(id, agent);
      super.setHost(id, agent, state, fields);
      if (!before || before.state === state) return;
      this.recordHost(id, this.host(id, agent)!, before.state);
    });
  }

  override addLateHost(id: string, h: Parameters<RolloutStore['addLateHost']>[1], now?: number): void {
    this.transaction(() => {
      super.addLateHost(id, h, now);
      this.recordHost(id, this.host(id, h.agent)!, 'pending');
    });
  }

  private recordRollout(r: RolloutRow, previous: RolloutState, starting: boolean): void {
    this.outbox.record(rolloutEventType(r.state, starting), { rollout: r.id, release: r.release, strategy: r.strategy, state: r.state, previous, reason: r.reason });
  }

  private recordHost(id: string, h: HostRow, previous: HostState): void {
    let release = this.releaseOf.get(id);
    if (release === undefined) {
      release = this.get(id)!.release;
      if (this.releaseOf.size > 1000) this.releaseOf.clear();
      this.releaseOf.set(id, release);
    }
    this.outbox.record(`host.${h.state}`, { rollout: id, release, agent: h.agent, hostname: this.hostnameOf(h.agent), wave: h.wave < 0 ? null : h.wave, state: h.state, previous, error: h.error });
  }
}
