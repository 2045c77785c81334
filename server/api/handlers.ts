// The admin API's verbs, wired to the services that do the work. Thin by design: each handler
// maps a validated request onto one service call and shapes the reply document.
import semver from 'semver';
import { parseSelector, matchSelector } from '../../shared/selectors.js';
import { FerryError, type FerryErrorCode } from '../../shared/errors.js';
import type { CmdbStore } from '../cmdb/store.js';
import type { Db } from '../db/open.js';
import type { DmlPackage, DmlService } from '../dml/service.js';
import { createToken, listTokens, revokeToken, type TokenIssuer } from '../enroll/tokens.js';
import type { NotifyService } from '../notify/service.js';
import type { ReleaseStore } from '../releases/store.js';
import type { RolloutService } from '../rollouts/service.js';
import type { ApiHandlers } from './router.js';
import type { AuditLog } from '../audit/log.js';
import type { RolloutStore } from '../rollouts/store.js';
import { buildSchedule } from '../rollouts/schedule.js';
import { buildFleetStatus } from './fleet-status.js';
import type { AgentDoc, AgentLogsReply, ApiReplyIn } from '../../shared/protocol/replies.js';
import type { ApiRequestParsed } from '../../shared/protocol/api.js';
import { verifyChain } from '../audit/chain.js';
import { siteForToken } from '../sites/list.js';
import { SiteStore } from '../sites/store.js';
import type { OperatorService } from '../operators/service.js';
import { authorize, type Caller } from '../operators/authenticate.js';
import { approvalsOf } from '../releases/four-eyes.js';
import { approvalSealOf } from '../releases/approval-seal.js';
import { tagAgent } from '../agents/tag.js';

export interface HandlerDeps {
  db: Db;
  cmdb: CmdbStore;
  dml: DmlService;
  releases: ReleaseStore;
  rollouts: RolloutService;
  rolloutStore: RolloutStore;
  audit: AuditLog;
  /** issues enrolment credentials and pushes revocations to NATS */
  auth: TokenIssuer & { push(): Promise<void> };
  rootFingerprint: () => string;
  reloadKeys: () => Promise<ApiReplyIn<'keys.reload'>>;
  revokeAgent: (id: string, actor: string) => Promise<ApiReplyIn<'agents.revoke'>>;
  decommissionAgent: (req: ApiRequestParsed<'agents.decommission'>) => Promise<ApiReplyIn<'agents.decommission'>>;
  natsUrl: () => string;
  /** site.list: each site, its agents and how far its mirror is behind (server/sites/list.ts) */
  listSites: () => Promise<ApiReplyIn<'site.list'>>;
  /** site.set: a site's --max-rate (server/sites/set.ts) */
  setSite: (req: ApiRequestParsed<'site.set'>) => Promise<ApiReplyIn<'site.set'>>;
  /** site.remove: revoke a site's link credentials and drop it (server/sites/remove.ts) */
  removeSite: (req: ApiRequestParsed<'site.remove'>) => Promise<ApiReplyIn<'site.remove'>>;
  isOnline: (lastSeen: number | null) => boolean;
  notify: NotifyService;
  operators: OperatorService;
  /** a one-time sign-in URL of the web console for this operator; undefined when the console is off */
  consoleLogin?: (operator: string) => { url: string; expiresAt: string } | undefined;
}

export function createHandlers(d: HandlerDeps): ApiHandlers {
  const summary = (p: DmlPackage) => ({ name: p.name, version: p.version, digest: p.digest, size: p.size, state: p.state, createdAt: p.createdAt });
  const agentDoc = (id: string): AgentDoc => {
    const a = d.cmdb.getAgent(id)!;
    return {
      id: a.id,
      hostname: a.hostname,
      online: a.revokedAt === null && d.isOnline(a.lastSeen),
      lastSeen: a.lastSeen ? new Date(a.lastSeen).toISOString() : null,
      tags: a.tags,
      os: a.facts.os ?? null,
      arch: a.facts.arch ?? null,
      installed: d.cmdb.installedOf(a.id),
      state: a.decommissionedAt ? 'decommissioned' : a.revokedAt ? 'revoked' : 'active',
      ...(a.decommissionedAt ? { decommissionedAt: new Date(a.decommissionedAt).toISOString() } : {}),
    };
  };
  return {
    'token.create': (r) => {
      const site = siteForToken(new SiteStore(d.db), r.site, r.tags);
      return createToken(d.db, d.auth, { rootFingerprint: d.rootFingerprint(), natsUrl: d.natsUrl(), tags: site ? { ...r.tags, site: site.name } : r.tags, ttlMs: r.ttlMs, uses: r.uses, ...(site ? { site: { name: site.name, url: site.agentUrl } } : {}) });
    },
    'site.list': () => d.listSites(),
    'site.set': (r) => d.setSite(r),
    'site.remove': (r) => d.removeSite(r),
    'token.list': () => listTokens(d.db),
    'token.revoke': async (r) => {
      const token = revokeToken(d.db, r.id);
      await d.auth.push(); // its enrolment user is cut off now, not at expiry
      return token;
    },
    'dml.add': async (r, caller) => {
      // from the caller's own upload bucket: nobody adds (or claims) another operator's upload
      const { pkg, added } = await d.dml.addFromUpload(caller.name, r.upload);
      return { ...summary(pkg), added, description: pkg.manifest.description ?? null, files: pkg.manifest.files.length };
    },
    'dml.list': () => d.dml.list().map(summary),
    'dml.export': (r) => d.dml.exportBundle(r.packages),
    'dml.show': (r) => {
      const p = d.dml.require(r.name, r.version);
      return {
        ...summary(p),
        authorizedAt: p.authorizedAt ?? null,
        authorizedBy: p.authorizedBy ?? null,
        evidence: p.evidence ?? null,
        retiredAt: p.retiredAt ?? null,
        retiredBy: p.retiredBy ?? null,
        retireReason: p.retireReason ?? null,
        depends: p.manifest.depends ?? {},
        manifest: p.manifest,
      };
    },
    'dml.authorize': (r) => {
      const named = r.evidence ? evidenceRolloutId(r.evidence) : undefined;
      const evidenceHosts = named !== undefined ? checkRolloutEvidence(d, r.name, r.version, named) : undefined;
      const p = d.dml.authorize(r.name, r.version, r.actor, r.evidence);
      return { ...summary(p), authorizedAt: p.authorizedAt ?? null, authorizedBy: p.authorizedBy ?? null, evidence: p.evidence ?? null, ...(evidenceHosts !== undefined ? { evidenceHosts } : {}) };
    },
    'dml.retire': (r) => {
      const p = d.dml.retire(r.name, r.version, r.actor, r.reason);
      return { ...summary(p), retiredAt: p.retiredAt ?? null, retiredBy: p.retiredBy ?? null, retireReason: p.retireReason ?? null };
    },
    'release.create': (r, caller) => {
      const release = d.releases.create({ ...r, owner: r.owner ?? caller.name });
      // who created it is an owner for four eyes, whatever the owner field says
      d.db.prepare('INSERT INTO release_creators (release, actor) VALUES (?, ?) ON CONFLICT DO NOTHING').run(release.name, caller.name);
      return release;
    },
    'release.approve': (r, caller) => {
      // Over NATS the approver's own signed request proves the approval; from the web console
      // (a signed-in operator, no signed request) the server seals the record it writes.
      const at = Date.now();
      const signed = caller.signed
        ? { auth: caller.signed.auth, body: Buffer.from(caller.signed.body).toString('utf8') }
        : approvalSealOf(d.db)?.seal({ release: r.name, approver: r.actor, comment: r.comment ?? null, at });
      const release = d.releases.approve(r.name, r.actor, r.comment, signed, at);
      return { ...release, approvals: approvalsOf(d.db, release) };
    },
    'release.list': () => d.releases.list(),
    'release.show': (r) => {
      const release = d.releases.require(r.name);
      return { ...release, approvals: approvalsOf(d.db, release), notify: d.notify.communicationPlan(r.name), risk: d.releases.risk(release, 1), packageStates: release.packages.map((p) => ({ ...p, state: d.dml.get(p.name, p.version)?.state ?? 'missing' })) };
    },
    'rollout.start': (r) => d.rollouts.start(r),
    'rollout.status': (r) => d.rollouts.status(r.id),
    'rollout.list': () => d.rollouts.list(),
    'rollout.review': (r) => d.rollouts.review(r.id),
    'rollout.action': (r) => d.rollouts.act(r),
    'cmdb.clone': (r) => d.rollouts.cloneConfig(r),
    'agents.revoke': (r) => d.revokeAgent(r.id, r.actor),
    'agents.decommission': (r) => d.decommissionAgent(r),
    'agents.tag': (r) => tagAgent(d.cmdb, r),
    'keys.reload': () => d.reloadKeys(),
    'agents.list': (r) => {
      const selector = parseSelector(r.target);
      const installed = d.cmdb.allInstalled();
      return d.cmdb
        .listAgents(r.all)
        .filter((a) => matchSelector(selector, { ...a.facts, id: a.id, hostname: a.hostname, ...prefixed(installed.get(a.id) ?? {}) }, a.tags))
        .map((a) => agentDoc(a.id));
    },
    'cmdb.versions': (r) => {
      const selector = parseSelector(r.target);
      const installed = d.cmdb.allInstalled();
      const hosts = d.cmdb.listAgents().filter((a) => matchSelector(selector, { ...a.facts, id: a.id, hostname: a.hostname, ...prefixed(installed.get(a.id) ?? {}) }, a.tags));
      const byVersion = new Map<string, string[]>();
      for (const a of hosts) {
        const v = installed.get(a.id)?.[r.package] ?? null;
        const key = v ?? '';
        byVersion.set(key, [...(byVersion.get(key) ?? []), a.hostname]);
      }
      const versions = [...byVersion.entries()]
        .filter(([v]) => v !== '')
        .sort(([a], [b]) => compareVersions(b, a))
        .map(([version, names]) => ({ version, hosts: names.length, share: names.length / Math.max(1, hosts.length), hostnames: names.sort() }));
      return { package: r.package, target: selector.text, hosts: hosts.length, notInstalled: byVersion.get('')?.length ?? 0, versions };
    },
    'audit.list': (r) => d.audit.list(r),
    schedule: (r) => buildSchedule(d.rolloutStore, d.releases, { all: r.all }),
    'notify.add': (r) => d.notify.add(r),
    'notify.list': () => d.notify.list(),
    'notify.remove': (r) => d.notify.remove(r.id),
    'notify.test': (r) => d.notify.test(r.id),
    'fleet.status': () => buildFleetStatus(d),
    'agents.logs': (r): AgentLogsReply => {
      const a = d.cmdb.findAgent(r.host);
      if (!a) throw new FerryError('FERRY_NOT_FOUND', `no host "${r.host}" in the CMDB`, { hint: 'see: ferry agent list' });
      const entries = d.cmdb.hookLogsOf(a.id, { operation: r.rollout, afterId: r.afterId, limit: r.limit });
      return { agent: { id: a.id, hostname: a.hostname }, entries: entries.map(({ ts, ...e }) => ({ ...e, at: new Date(ts).toISOString() })) };
    },
    'operator.add': (r, caller) => d.operators.add(r, caller.name),
    'operator.list': () => d.operators.list(),
    'operator.revoke': (r, caller) => d.operators.revoke(r.name, caller.name),
    'operator.renew': (_r, caller) => d.operators.renew(caller.name, afterReplyOf(caller)),
    'audit.verify': () => verifyChain(d.db),
    'audit.refused': (r, caller) => {
      // Throws FERRY_FORBIDDEN (audited by the router) when the role indeed lacks the verb.
      authorize(caller, r.verb);
      // nats-server refused a renewal the role may call: the caller's NATS user is older than the
      // verb, so this report is how such credentials renew (audited as operator.renew).
      if (r.verb === 'operator.renew') return d.operators.renew(caller.name, afterReplyOf(caller));
      throw new FerryError('FERRY_INVALID_INPUT', `${r.verb} is allowed for ${caller.role}; nothing to report`);
    },
    'backup.record': (r) => {
      if (r.dryRun) return { recorded: false, by: r.actor };
      // A failed backup is recorded as an error (its audit record's result), with the CLI's reason.
      if (r.result === 'failed') throw new FerryError((r.error?.code ?? 'FERRY_INTERNAL') as FerryErrorCode, `the backup to ${r.file ?? r.out ?? '(unnamed)'} failed: ${r.error?.message ?? 'no reason given'}`);
      return { recorded: true, by: r.actor };
    },
    'ui.login': (_r, caller) => {
      const login = d.consoleLogin?.(caller.name);
      if (!login) throw new FerryError('FERRY_INVALID_INPUT', 'the web console is off on this server', { hint: 'start the server with --ui-listen HOST:PORT (or uiListen in its config file)' });
      return login;
    },
    'cmdb.show': (r) => {
      const a = d.cmdb.findAgent(r.host);
      if (!a) throw new FerryError('FERRY_NOT_FOUND', `no host "${r.host}" in the CMDB`, { hint: 'see: ferry agents list' });
      return { ...agentDoc(a.id), joinedAt: new Date(a.joinedAt).toISOString(), facts: a.facts, inventory: a.inventory, drift: a.drift, history: d.cmdb.historyOf(a.id) };
    },
  };
}

function afterReplyOf(caller: Caller): (task: () => Promise<void>) => void {
  if (!caller.afterReply) throw new FerryError('FERRY_INTERNAL', 'this verb needs the router (a task after its reply)');
  return caller.afterReply;
}

function prefixed(installed: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(installed).map(([k, v]) => [`installed.${k}`, v]));
}

const ROLLOUT_ID = /^r-[0-9a-f]{8}$/;

/**
 * The rollout id evidence names: any evidence that starts with "r-…" is taken for a rollout id
 * (its first word) and must be a real one, so a mistyped id is refused instead of being stored as
 * a note that authorizes the package. Other text is a free-text note (undefined).
 */
export function evidenceRolloutId(evidence: string): string | undefined {
  const first = /^\s*(r-[^\s,;:()]*)/i.exec(evidence)?.[1];
  return first;
}

/**
 * Evidence that names a rollout must be one that completed, shipped this package, and installed
 * it on at least one host (a rollout that reached nobody proves nothing). Returns that count.
 */
function checkRolloutEvidence(d: HandlerDeps, name: string, version: string, id: string): number {
  const rollout = ROLLOUT_ID.test(id) ? d.rolloutStore.get(id) : undefined;
  if (!rollout) {
    const form = ROLLOUT_ID.test(id) ? '' : ' (a rollout id is r- and 8 hex digits)';
    throw new FerryError('FERRY_INVALID_INPUT', `evidence ${id} is not a rollout Ferry knows${form}; nothing was authorized`, { hint: 'give the id of a completed rollout (see: ferry rollout list), or evidence text that does not start with "r-"' });
  }
  if (rollout.state !== 'completed') throw new FerryError('FERRY_INVALID_INPUT', `evidence ${id} is ${rollout.state}, not completed`);
  const release = d.releases.get(rollout.release);
  if (!release?.packages.some((p) => p.name === name && p.version === version)) {
    throw new FerryError('FERRY_INVALID_INPUT', `evidence ${id} rolled out ${rollout.release}, which does not contain ${name}@${version}`);
  }
  const succeeded = d.rolloutStore.hosts(id).filter((h) => h.state === 'succeeded').length;
  if (succeeded === 0) {
    throw new FerryError('FERRY_INVALID_INPUT', `evidence ${id} completed without installing ${name}@${version} on any host (0 succeeded)`, {
      hint: 'give a rollout in which at least one host installed the package',
    });
  }
  return succeeded;
}

function compareVersions(a: string, b: string): number {
  return semver.valid(a) && semver.valid(b) ? semver.compare(a, b) : a.localeCompare(b);
}
