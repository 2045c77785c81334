// Four eyes: an approval by the release's owner (its `owner` field or whoever created it) or by
// the person starting the rollout does not count toward `requireApprovals`. Approvals are made
// by verified operators (the API replaces the actor with the signer), so names cannot be faked.
import type { Db } from '../db/open.js';
import type { Release } from './store.js';

export interface ApprovalDoc {
  by: string;
  /** same as `by` (the field's name before four eyes) */
  actor: string;
  at: string;
  counts: boolean;
  reason?: string;
  comment?: string;
}

/** Who owns a release for four eyes. */
export function releaseOwners(db: Db, release: Release): Set<string> {
  const creator = (db.prepare('SELECT actor FROM release_creators WHERE release = ?').get(release.name) as { actor: string } | undefined)?.actor;
  return new Set([release.owner, creator].filter((x): x is string => !!x));
}

/** Each approval and whether it counts; `starter` is who starts the rollout being checked, if any. */
export function approvalsOf(db: Db, release: Release, starter?: string): ApprovalDoc[] {
  const owners = releaseOwners(db, release);
  return release.approvals.map((a) => {
    const reason = owners.has(a.actor) ? 'the release owner cannot approve their own release' : a.actor === starter ? 'whoever starts the rollout cannot approve it' : undefined;
    return { by: a.actor, actor: a.actor, at: a.at, counts: reason === undefined, ...(reason ? { reason } : {}), ...(a.comment ? { comment: a.comment } : {}) };
  });
}
