// Decommissioning a host: optionally uninstall every Ferry-managed package first (one signed
// desired state per package, each awaited), tell the agent to stop and forget its credentials
// (a signed `decommission` command, awaited while it is online), then retire it in the CMDB and
// revoke its NATS identity. The order is deliberate: the stop command can only reach an agent
// whose identity still works, and the revocation happens whether or not the agent answered, so
// an agent that was offline can never connect again.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { FerryError } from '../../shared/errors.js';
import { TERMINAL_HOST_STATES, type StatusReport } from '../../shared/protocol/messages.js';
import type { ApiRequestParsed } from '../../shared/protocol/api.js';
import type { CmdbStore } from '../cmdb/store.js';
import type { DesiredStatePublisher } from '../desired/publisher.js';
import { removalOrder } from '../releases/dependencies.js';

/** The operation of the agent's acknowledgement of a decommission command. */
export const DECOMMISSION_OPERATION = 'decommission';
/** How long an online agent has to acknowledge the stop command. */
const STOP_ACK_MS = Number(process.env.FERRY_DECOMMISSION_ACK_MS ?? 10_000);

export type PurgeResult = NonNullable<DecommissionResult['purge']>[number];

export type { DecommissionResult } from '../../shared/protocol/replies.js';
import type { DecommissionResult } from '../../shared/protocol/replies.js';

export interface DecommissionDeps {
  cmdb: CmdbStore;
  desired: DesiredStatePublisher;
  isOnline: (lastSeen: number | null) => boolean;
  /** rewrite NATS authorization from the CMDB (drops revoked identities' connections) */
  syncAuth: () => Promise<void>;
  /** take the host out of every rollout (nothing waits for it or is sent to it again) */
  leaveRollouts: (agentId: string, reason: string) => Promise<void>;
  /** what a package version depends on (from its DML manifest), to purge dependents first */
  dependsOf: (name: string, version: string) => Record<string, string> | undefined;
  log: Logger;
}

export class AgentDecommissioner {
  private readonly waiters = new Map<string, (r: StatusReport) => void>();
  private readonly busy = new Set<string>();

  constructor(private readonly d: DecommissionDeps) {}

  /** Feed every status report here (from report ingestion): it settles the waits below. */
  onStatus(report: StatusReport): void {
    if (!TERMINAL_HOST_STATES.includes(report.state)) return;
    this.waiters.get(`${report.agent} ${report.operation}`)?.(report);
  }

  async decommission(req: ApiRequestParsed<'agents.decommission'>): Promise<DecommissionResult> {
    const agent = this.d.cmdb.findAgent(req.id);
    if (!agent) throw new FerryError('FERRY_NOT_FOUND', `no agent "${req.id}"`, { hint: 'see: ferry agents list --all' });
    if (agent.decommissionedAt) {
      throw new FerryError('FERRY_CONFLICT', `agent ${agent.id} was already decommissioned at ${new Date(agent.decommissionedAt).toISOString()}`);
    }
    if (this.busy.has(agent.id)) throw new FerryError('FERRY_CONFLICT', `agent ${agent.id} is being decommissioned already`);
    this.busy.add(agent.id);
    try {
      // A revoked agent cannot be reached any more: it is only retired in the CMDB.
      const reachable = agent.revokedAt === null && this.d.isOnline(agent.lastSeen);
      const log = this.d.log.child({ agent: agent.id });
      const purge = req.purge ? await this.purge(agent.id, reachable, Date.now() + req.purgeTimeoutMs) : undefined;
      let stopped = false;
      if (reachable) {
        const ack = this.waitFor(agent.id, DECOMMISSION_OPERATION, STOP_ACK_MS);
        this.d.desired.requestDecommission(agent.id);
        stopped = (await ack) !== undefined;
        if (!stopped) log.warn('the agent did not acknowledge the stop command; revoking it anyway');
      }
      const removed = purge?.filter((p) => p.result === 'removed').map((p) => p.package) ?? [];
      this.d.cmdb.decommission(agent.id, req.actor, [stopped ? 'agent stopped' : 'agent did not answer', ...(removed.length ? [`purged ${removed.join(', ')}`] : [])].join('; '));
      await this.d.syncAuth(); // the identity is gone from NATS: any connection it has is closed
      await this.d.leaveRollouts(agent.id, `decommissioned by ${req.actor}`);
      log.warn({ actor: req.actor, stopped, purged: removed.length }, 'agent decommissioned');
      return { id: agent.id, hostname: agent.hostname, decommissionedAt: new Date().toISOString(), stopped, revoked: true, ...(purge ? { purge } : {}) };
    } finally {
      this.busy.delete(agent.id);
    }
  }

  /** Uninstall every package the CMDB lists for the host, dependents first, one at a time, until the deadline. */
  private async purge(agentId: string, reachable: boolean, deadline: number): Promise<PurgeResult[]> {
    const results: PurgeResult[] = [];
    const tag = randomBytes(4).toString('hex');
    const installed = this.d.cmdb.installedOf(agentId);
    const order = removalOrder(Object.entries(installed).map(([name, version]) => ({ name, depends: this.d.dependsOf(name, version) })));
    for (const name of order) {
      const version = installed[name]!;
      if (!reachable) {
        results.push({ package: name, version, result: 'offline', error: 'the agent is offline; nothing was removed' });
        continue;
      }
      const operation = `decommission-${tag}:${name}`;
      const wait = this.waitFor(agentId, operation, Math.max(0, deadline - Date.now()));
      await this.d.desired.publish([{ agent: agentId, operation, set: [], remove: [name], immediate: true }]);
      const report = await wait;
      if (!report) results.push({ package: name, version, result: 'timeout', error: 'the agent did not report the removal in time' });
      else if (report.state === 'succeeded') results.push({ package: name, version, result: 'removed' });
      else results.push({ package: name, version, result: 'failed', error: report.error ?? report.state });
    }
    return results;
  }

  /** The agent's final report for an operation, or undefined after timeoutMs. */
  private waitFor(agent: string, operation: string, timeoutMs: number): Promise<StatusReport | undefined> {
    const key = `${agent} ${operation}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => settle(undefined), timeoutMs);
      const settle = (r: StatusReport | undefined) => {
        clearTimeout(timer);
        this.waiters.delete(key);
        resolve(r);
      };
      this.waiters.set(key, settle);
    });
  }
}
