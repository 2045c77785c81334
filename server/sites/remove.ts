// site.remove (`ferry site remove NAME [--force]`): a branch closes. The site's link users are
// revoked in the account JWTs for good (the link in AGENTS, the system-account link in SYS) and the
// update is pushed, so the hub closes the site's leafnode link and refuses it when it comes back;
// the site's row goes, and so do its join tokens that could still be used. Agents still tagged
// site=NAME hold the removal back unless --force: they are cut off from the hub while the site's
// nats-server runs (they are connected to it, and it no longer reaches the hub), and reach the hub
// (their fallback URL) once it stops. With --force they keep their tag, so `--target site=NAME`
// still finds them, to decommission or re-join. Every consumer the server made at the hub for the
// site (mirror-consumers.ts: its mirror's, and any other a request over its link asked for) is
// deleted after the revocation: JetStream would drop one by itself only once nothing received its
// deliveries for a while; a failure is logged and reported (mirrorConsumer: failed), the removal stands.
import { FerryError, toFerryError } from '../../shared/errors.js';
import type { ApiRequestParsed } from '../../shared/protocol/api.js';
import type { CmdbStore } from '../cmdb/store.js';
import type { Db } from '../db/open.js';
import { listTokens, revokeToken } from '../enroll/tokens.js';
import type { SiteStore } from './store.js';

export type { SiteRemoveResult } from '../../shared/protocol/replies.js';
import type { SiteRemoveResult } from '../../shared/protocol/replies.js';

export interface RemoveSiteDeps {
  db: Db;
  sites: SiteStore;
  cmdb: CmdbStore;
  isOnline: (lastSeen: number | null) => boolean;
  /** rebuild the account JWTs and push them (server/nats/nats-auth.ts): closes the revoked link */
  pushAuth: () => Promise<void>;
  /** delete one of the site's mirror consumers at the hub by its name (MirrorConsumers.deleteConsumer: logs a failure) */
  deleteMirrorConsumer: (site: string, name: string) => Promise<'deleted' | 'gone' | 'failed'>;
}

export async function removeSite(deps: RemoveSiteDeps, req: ApiRequestParsed<'site.remove'>, now = Date.now()): Promise<SiteRemoveResult> {
  if (!deps.sites.get(req.name)) throw new FerryError('FERRY_NOT_FOUND', `no site ${req.name}`, { hint: 'ferry site list shows the sites' });
  const agents = deps.cmdb
    .listAgents()
    .filter((a) => a.tags.site === req.name)
    .map((a) => ({ id: a.id, hostname: a.hostname, online: deps.isOnline(a.lastSeen) }));
  if (agents.length > 0 && !req.force) {
    const shown = agents.slice(0, 5).map((a) => a.hostname).join(', ') + (agents.length > 5 ? `, … (${agents.length - 5} more)` : '');
    throw new FerryError('FERRY_CONFLICT', `site ${req.name} still has ${agents.length} agent${agents.length === 1 ? '' : 's'} (${shown}); nothing was removed`, {
      hint: `decommission them first (ferry agents list --target site=${req.name}), or remove the site anyway with --force: they reach the hub once the site's nats-server stops`,
    });
  }
  const { site, tokensRevoked, consumers } = deps.db.transaction(() => {
    // Read before the row goes: its mirror consumers' records go with it.
    const consumers = deps.sites.mirrorConsumers(req.name);
    const removed = deps.sites.remove(req.name, now);
    if (!removed) throw new FerryError('FERRY_NOT_FOUND', `no site ${req.name}`, { hint: 'ferry site list shows the sites' });
    const tokens = listTokens(deps.db, now).filter((t) => t.state === 'active' && t.tags.site === req.name);
    for (const t of tokens) revokeToken(deps.db, t.id, now);
    return { site: removed, tokensRevoked: tokens.map((t) => t.id), consumers };
  })();
  let pushFailed: { err: unknown } | undefined;
  try {
    await deps.pushAuth();
  } catch (err) {
    pushFailed = { err };
  }
  // Also when the push failed: the mirror, its consumer gone, asks for another and is refused (no such site).
  const outcomes: ('deleted' | 'gone' | 'failed')[] = [];
  for (const c of consumers) outcomes.push(await deps.deleteMirrorConsumer(req.name, c.name));
  const mirrorConsumer = outcomes.includes('failed') ? 'failed' : outcomes.includes('deleted') ? 'deleted' : 'none';
  if (pushFailed) {
    const err = pushFailed.err;
    // The revocation is stored: the next account update (or the server's next start) applies it.
    throw new FerryError('FERRY_NATS_FAILED', `site ${req.name} was removed, but nats-server did not take the account update that closes its link: ${toFerryError(err).message}`, {
      hint: 'the revocation is kept and applied with the next account update or server start; ferry agents revoke or token revoke pushes one now',
      cause: err,
    });
  }
  return { name: site.name, removedAt: new Date(now).toISOString(), link: 'revoked', systemLink: site.systemNkey !== null ? 'revoked' : 'not-recorded', agents, tokensRevoked, mirrorConsumer };
}
