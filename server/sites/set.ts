// site.set (`ferry site set NAME --max-rate RATE|none`): change a site's rate. Each mirror consumer
// the server made for the site at the hub carries the rate it was made with (rate_limit_bps): the
// server gives every one still there the new one in place, or else deletes it so that the mirror
// asks again through the checked path (mirror-consumers.ts applyRate).
import { FerryError } from '../../shared/errors.js';
import type { ApiRequestParsed } from '../../shared/protocol/api.js';
import type { MirrorConsumers } from './mirror-consumers.js';
import type { SiteStore } from './store.js';

export type { SiteSetResult } from '../../shared/protocol/replies.js';
import type { SiteSetResult } from '../../shared/protocol/replies.js';

export async function setSite(deps: { sites: SiteStore; consumers: MirrorConsumers }, req: ApiRequestParsed<'site.set'>): Promise<SiteSetResult> {
  const site = deps.sites.get(req.name);
  if (!site) throw new FerryError('FERRY_NOT_FOUND', `no site ${req.name}`, { hint: 'ferry site list shows the sites' });
  if (req.maxRateBps !== null && site.mirrorApi === null) {
    throw new FerryError('FERRY_CONFLICT', `site ${site.name} was added before sites had rates: its link cannot say which site asks for a mirror consumer`, {
      hint: 'its link credentials predate per-site mirror prefixes; a site added with this version (ferry site add NAME --max-rate RATE) can be paced (README, "Sites")',
    });
  }
  const previous = site.maxRateBps;
  deps.sites.setMaxRate(site.name, req.maxRateBps);
  const consumer = previous !== req.maxRateBps ? await deps.consumers.applyRate(site.name) : 'none';
  return { name: site.name, maxRateBps: req.maxRateBps, previousMaxRateBps: previous, consumer };
}
