// site.list: each site, its agents (joined with its tokens: tag site=NAME) and how far its mirror
// of the DML is behind the hub's; and the check `token create --site` makes.
import type { NatsConnection } from '@nats-io/transport-node';
import { FerryError } from '../../shared/errors.js';
import { siteDomain } from '../../shared/protocol/subjects.js';
import type { CmdbStore } from '../cmdb/store.js';
import { behindOf, dmlObjects, type SiteMirrors } from './mirrors.js';
import type { SiteRecord, SiteStore } from './store.js';

/** The reply shape of site.list lives with the protocol (shared/protocol/replies/admin.ts). */
export type { SiteDoc } from '../../shared/protocol/replies.js';
import type { SiteDoc } from '../../shared/protocol/replies.js';

export async function listSites(deps: { sites: SiteStore; mirrors: SiteMirrors; cmdb: CmdbStore; isOnline: (lastSeen: number | null) => boolean; nc: NatsConnection }): Promise<SiteDoc[]> {
  await deps.mirrors.tick();
  const agents = deps.cmdb.listAgents().filter((a) => a.revokedAt === null);
  const docs: SiteDoc[] = [];
  const sites = deps.sites.list();
  const objects = sites.length > 0 ? await dmlObjects(deps.nc) : [];
  for (const site of sites) {
    const state = deps.mirrors.state(site.name);
    const mirror = state?.lastSeq !== undefined ? { lastSeq: state.lastSeq, messages: state.messages ?? 0, bytes: state.bytes ?? 0 } : null;
    docs.push({
      name: site.name,
      domain: siteDomain(site.name),
      agentUrl: site.agentUrl,
      hubUrl: site.hubUrl,
      maxRateBps: site.maxRateBps,
      createdAt: site.createdAt,
      linked: state?.linked ?? false,
      agents: agents.filter((a) => a.tags.site === site.name).map((a) => ({ id: a.id, hostname: a.hostname, online: deps.isOnline(a.lastSeen) })),
      mirror,
      behind: mirror ? behindOf(objects, mirror.lastSeq) : null,
      ...(state?.error ? { error: state.error } : {}),
    });
  }
  return docs;
}

/**
 * The site a token is for (undefined: the hub): known, and not contradicted by a --tag site=OTHER.
 * The site tag is --site's alone: a --tag site=NAME without it would list hub agents as the site's
 * (and aim --target site=NAME at them) while they connect to the hub.
 */
export function siteForToken(sites: SiteStore, name: string | undefined, tags: Record<string, string>): SiteRecord | undefined {
  if (name === undefined) {
    if (tags.site === undefined) return undefined;
    throw new FerryError('FERRY_INVALID_INPUT', `--tag site=${tags.site} without --site: the site tag is set by --site`, { hint: `ferry token create --site ${tags.site} (a site made with ferry site add)` });
  }
  const site = sites.get(name);
  if (!site) throw new FerryError('FERRY_NOT_FOUND', `no site ${name}`, { hint: 'ferry site list shows the sites; ferry site add NAME --out DIR makes one' });
  if (tags.site !== undefined && tags.site !== name) throw new FerryError('FERRY_INVALID_INPUT', `--tag site=${tags.site} contradicts --site ${name}`, { hint: 'a site\'s agents are tagged site=NAME by their token' });
  return site;
}
