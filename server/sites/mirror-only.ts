// Which agents read package bytes from their site's mirror only. A site with a --max-rate paces
// its mirror, the one copy of the DML that crosses its link; if its agents also fell back to the
// hub while the (paced, so often behind) mirror catches up, each would pull the package across the
// same link at full speed. Their desired state says `siteMirrorOnly`: they wait for the mirror.
import type { Db } from '../db/open.js';

/** A test for agent ids, read once (per batch of desired states): is the agent at a rate-limited site? */
export function mirrorOnlyAgents(db: Db): (agent: string) => boolean {
  const rated = new Set((db.prepare('SELECT name FROM sites WHERE max_rate_bps IS NOT NULL').all() as { name: string }[]).map((r) => r.name));
  if (rated.size === 0) return () => false;
  const siteOf = db.prepare("SELECT json_extract(tags, '$.site') AS site FROM agents WHERE id = ?");
  return (agent) => {
    const site = (siteOf.get(agent) as { site: unknown } | undefined)?.site;
    return typeof site === 'string' && rated.has(site);
  };
}
