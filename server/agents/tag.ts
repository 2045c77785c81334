// `ferry agent tag HOST k=v... [--remove k...]`: change a host's tags in the CMDB. The result
// obeys the join's tag rules (tagsSchema); the site tag is left alone (it is the site the agent's
// token joined it through, and decides where it reads packages). Rollouts that follow their
// target see the new tags on their next pass (server/rollouts/follow.ts).
import { FerryError } from '../../shared/errors.js';
import type { ApiRequestParsed } from '../../shared/protocol/api.js';
import { tagsSchema } from '../../shared/protocol/messages.js';
import type { ApiReplyIn } from '../../shared/protocol/replies.js';
import type { CmdbStore } from '../cmdb/store.js';

const FIXED = ['site'];

export function tagAgent(cmdb: CmdbStore, req: ApiRequestParsed<'agents.tag'>): ApiReplyIn<'agents.tag'> {
  const set = Object.keys(req.set);
  if (set.length === 0 && req.remove.length === 0) throw new FerryError('FERRY_INVALID_INPUT', 'no tag to set or remove', { hint: 'e.g. ferry agent tag web-1 env=prod --remove canary' });
  const both = req.remove.find((k) => Object.hasOwn(req.set, k));
  if (both) throw new FerryError('FERRY_INVALID_INPUT', `tag ${both} is both set and removed`, { hint: 'set it, or remove it' });
  const fixed = [...set, ...req.remove].find((k) => FIXED.includes(k));
  if (fixed) throw new FerryError('FERRY_INVALID_INPUT', `the ${fixed} tag cannot be changed: it is the site the agent joined through`, { hint: 'to move a host to another site, join it again with a token of that site (ferry token create --site NAME)' });
  const agent = cmdb.findAgent(req.host);
  if (!agent) throw new FerryError('FERRY_NOT_FOUND', `no host "${req.host}" in the CMDB`, { hint: 'see: ferry agent list' });
  if (agent.revokedAt !== null) throw new FerryError('FERRY_CONFLICT', `agent ${agent.id} (${agent.hostname}) is ${agent.decommissionedAt ? 'decommissioned' : 'revoked'}: its tags stay as they were`, { hint: 'see: ferry agent list --all' });
  const previous = agent.tags;
  const next: Record<string, string> = { ...previous };
  for (const k of req.remove) delete next[k];
  Object.assign(next, req.set);
  const valid = tagsSchema.safeParse(next);
  if (!valid.success) throw new FerryError('FERRY_INVALID_INPUT', `the tags are not valid: ${valid.error.issues[0]?.message ?? 'invalid'}`, { hint: 'tag keys are 1-64 of A-Z a-z 0-9 _ . -; values are up to 256 characters without control characters' });
  const tags = sorted(valid.data);
  const changes = [
    ...Object.entries(req.set).filter(([k, v]) => previous[k] !== v).map(([k, v]) => (previous[k] === undefined ? `+${k}=${v}` : `${k}=${previous[k]}→${v}`)),
    ...req.remove.filter((k) => previous[k] !== undefined).map((k) => `-${k}`),
  ];
  if (changes.length) cmdb.setTags(agent.id, tags, req.actor, `tags ${changes.join(' ')}`);
  return { id: agent.id, hostname: agent.hostname, tags, previous, changed: changes.length > 0 };
}

function sorted(tags: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
