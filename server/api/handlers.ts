// The admin API's verbs, wired to the services that do the work. Thin by design: each handler
// maps a validated request onto one service call and shapes the reply document.
import { parseSelector, matchSelector } from '../../shared/selectors.js';
import { FerryError } from '../../shared/errors.js';
import type { CmdbStore } from '../cmdb/store.js';
import type { Db } from '../db/open.js';
import type { DmlPackage, DmlService } from '../dml/service.js';
import { createToken } from '../enroll/tokens.js';
import type { ReleaseStore } from '../releases/store.js';
import type { RolloutService } from '../rollouts/service.js';
import type { ApiHandlers } from './router.js';
import type { ApiRequestParsed } from '../../shared/protocol/api.js';

export interface HandlerDeps {
  db: Db;
  cmdb: CmdbStore;
  dml: DmlService;
  releases: ReleaseStore;
  rollouts: RolloutService;
  enrollPassword: string;
  rootFingerprint: () => string;
  reloadKeys: () => Promise<unknown>;
  revokeAgent: (id: string, actor: string) => Promise<unknown>;
  decommissionAgent: (req: ApiRequestParsed<'agents.decommission'>) => Promise<unknown>;
  natsUrl: () => string;
  isOnline: (lastSeen: number | null) => boolean;
}

export function createHandlers(d: HandlerDeps): ApiHandlers {
  const summary = (p: DmlPackage) => ({ name: p.name, version: p.version, digest: p.digest, size: p.size, state: p.state, createdAt: p.createdAt });
  const agentDoc = (id: string) => {
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
    'token.create': (r) =>
      createToken(d.db, { enrollPassword: d.enrollPassword, rootFingerprint: d.rootFingerprint(), natsUrl: d.natsUrl(), tags: r.tags, ttlMs: r.ttlMs, uses: r.uses }),
    'dml.add': async (r) => {
      const { pkg, added } = await d.dml.addFromUpload(r.upload);
      return { ...summary(pkg), added, description: pkg.manifest.description ?? null, files: pkg.manifest.files.length };
    },
    'dml.list': () => d.dml.list().map(summary),
    'dml.show': (r) => {
      const p = d.dml.require(r.name, r.version);
      return { ...summary(p), authorizedAt: p.authorizedAt ?? null, authorizedBy: p.authorizedBy ?? null, manifest: p.manifest };
    },
    'dml.authorize': (r) => summary(d.dml.authorize(r.name, r.version, 'admin', r.evidence)),
    'release.create': (r) => d.releases.create(r),
    'release.list': () => d.releases.list(),
    'release.show': (r) => d.releases.require(r.name),
    'rollout.start': (r) => d.rollouts.start(r),
    'rollout.status': (r) => d.rollouts.status(r.id),
    'rollout.list': () => d.rollouts.list(),
    'rollout.review': (r) => d.rollouts.review(r.id),
    'rollout.action': (r) => d.rollouts.act(r),
    'agents.revoke': (r) => d.revokeAgent(r.id, r.actor),
    'agents.decommission': (r) => d.decommissionAgent(r),
    'keys.reload': () => d.reloadKeys(),
    'agents.list': (r) => {
      const selector = parseSelector(r.target);
      const installed = d.cmdb.allInstalled();
      return d.cmdb
        .listAgents(r.all)
        .filter((a) => matchSelector(selector, { ...a.facts, id: a.id, hostname: a.hostname, ...prefixed(installed.get(a.id) ?? {}) }, a.tags))
        .map((a) => agentDoc(a.id));
    },
    'cmdb.show': (r) => {
      const a = d.cmdb.findAgent(r.host);
      if (!a) throw new FerryError('FERRY_NOT_FOUND', `no host "${r.host}" in the CMDB`, { hint: 'see: ferry agents list' });
      return { ...agentDoc(a.id), joinedAt: new Date(a.joinedAt).toISOString(), facts: a.facts, inventory: a.inventory, drift: a.drift, history: d.cmdb.historyOf(a.id) };
    },
  };
}

function prefixed(installed: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(installed).map(([k, v]) => [`installed.${k}`, v]));
}
