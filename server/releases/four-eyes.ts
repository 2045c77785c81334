// Four eyes: an approval by the release's owner (its `owner` field or whoever created it) or by
// the person starting the rollout does not count toward `requireApprovals`. Approvals are made
// by verified operators (the API replaces the actor with the signer), so names cannot be faked.
// Only an approval whose stored signature verifies counts: the approver's signed request (CLI),
// or the server's seal over a console approval (approval-seal.ts). One without either was not
// made through Ferry (a row written into the database) and does not count.
import { parseRequestAuth, verifyRequestSignature } from '../../shared/operators/request-signature.js';
import type { Db } from '../db/open.js';
import { approvalSealOf, isSealAuth } from './approval-seal.js';
import type { Release } from './store.js';

export type { ApprovalDoc } from '../../shared/protocol/replies.js';
import type { ApprovalDoc } from '../../shared/protocol/replies.js';

/** Who owns a release for four eyes. */
export function releaseOwners(db: Db, release: Release): Set<string> {
  const creator = (db.prepare('SELECT actor FROM release_creators WHERE release = ?').get(release.name) as { actor: string } | undefined)?.actor;
  return new Set([release.owner, creator].filter((x): x is string => !!x));
}

interface StoredApproval {
  actor: string;
  ts: number;
  comment: string | null;
  auth: string | null;
  body: string | null;
}

/** Each approval and whether it counts; `starter` is who starts the rollout being checked, if any. */
export function approvalsOf(db: Db, release: Release, starter?: string): ApprovalDoc[] {
  const owners = releaseOwners(db, release);
  const stored = new Map((db.prepare('SELECT actor, ts, comment, auth, body FROM release_approvals WHERE release = ?').all(release.name) as StoredApproval[]).map((r) => [r.actor, r]));
  return release.approvals.map((a) => {
    const row = stored.get(a.actor);
    const sealed = !!row?.auth && isSealAuth(row.auth);
    const signature = !row?.auth ? 'none' : (sealed ? consoleSealValid(db, release.name, row) : approvalSignatureValid(db, release.name, a.actor, a.comment, row.auth, row.body ?? '')) ? 'valid' : 'invalid';
    const reason =
      signature === 'invalid'
        ? 'its stored signature does not verify (changed since, or not made by this approver)'
        : signature === 'none'
          ? 'it carries no signature (not made through Ferry)'
          : owners.has(a.actor)
            ? 'the release owner cannot approve their own release'
            : a.actor === starter
              ? 'whoever starts the rollout cannot approve it'
              : undefined;
    return { by: a.actor, actor: a.actor, at: a.at, counts: reason === undefined, ...(reason ? { reason } : {}), ...(a.comment ? { comment: a.comment } : {}), signature, ...(sealed ? { via: 'console' as const } : {}) };
  });
}

/** A console approval: sealed by this server's key over exactly this release, approver, comment and time. */
function consoleSealValid(db: Db, release: string, row: StoredApproval): boolean {
  return approvalSealOf(db)?.verify(row.auth!, row.body ?? '', { release, approver: row.actor, comment: row.comment, at: row.ts }) ?? false;
}

/** The approval's stored request: signed by this approver's key (as registered now), for release.approve of this release with this comment. */
function approvalSignatureValid(db: Db, release: string, actor: string, comment: string | undefined, header: string, body: string): boolean {
  const auth = parseRequestAuth(header);
  if (!auth || auth.operator !== actor) return false;
  const key = (db.prepare('SELECT signing_key FROM operators WHERE name = ?').get(actor) as { signing_key: string } | undefined)?.signing_key;
  if (!key) return false;
  const bytes = Buffer.from(body, 'utf8');
  if (!verifyRequestSignature(key, 'release.approve', bytes, auth)) return false;
  try {
    const signed = JSON.parse(body) as { name?: unknown; comment?: unknown };
    return signed.name === release && (signed.comment || undefined) === comment;
  } catch {
    return false;
  }
}
