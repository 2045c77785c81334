// The join challenges the server has handed out and not yet seen answered. A challenge is used up
// only by a join whose proof verifies: a token's enrolment inbox is shared by all its holders, so
// any of them may read another host's server nonce, and a bad proof must not burn it. Open
// challenges are capped per token as well as in all, so one token's holder cannot fill the
// table and stall every other token's joins.
import { randomBytes } from 'node:crypto';
import { FerryError } from '../../shared/errors.js';

/** How long a challenge may be answered. */
export const CHALLENGE_TTL_MS = 60_000;
/** Open challenges in all. */
export const MAX_OPEN_CHALLENGES = 20_000;
/**
 * Open challenges one token may have: a few per use it has left, at most a few hundred (a whole
 * fleet joining with one token keeps ~100 in flight: the benchmarks' simulators do).
 */
export const CHALLENGES_PER_USE = 4;
export const MAX_CHALLENGES_PER_TOKEN = 256;

export interface OpenChallenge {
  tokenId: string;
  agentNonce: string;
  expiresAt: number;
}

/** How many challenges a token with `usesLeft` uses may have open at once. */
export function challengeCapFor(usesLeft: number): number {
  return Math.max(0, Math.min(MAX_CHALLENGES_PER_TOKEN, CHALLENGES_PER_USE * usesLeft));
}

export class OpenChallenges {
  /** by server nonce, in the order they were opened (so also by expiry: the TTL is fixed) */
  private readonly byNonce = new Map<string, OpenChallenge>();
  private readonly perToken = new Map<string, number>();

  constructor(
    private readonly ttlMs = CHALLENGE_TTL_MS,
    private readonly maxOpen = MAX_OPEN_CHALLENGES,
  ) {}

  get size(): number {
    return this.byNonce.size;
  }

  openFor(tokenId: string): number {
    return this.perToken.get(tokenId) ?? 0;
  }

  /** Open a challenge for a token that may have `tokenCap` open; its server nonce, or a refusal. */
  open(tokenId: string, agentNonce: string, tokenCap: number, now = Date.now()): string {
    this.expire(now);
    if (this.byNonce.size >= this.maxOpen) throw new FerryError('FERRY_TIMEOUT', 'too many joins at once; try again', { hint: 'the server is busy enrolling other hosts' });
    if (this.openFor(tokenId) >= tokenCap) {
      throw new FerryError('FERRY_TIMEOUT', 'too many joins at once with this token; try again', { hint: 'other hosts are joining with the same token; try again in a minute' });
    }
    const serverNonce = randomBytes(32).toString('base64');
    this.byNonce.set(serverNonce, { tokenId, agentNonce, expiresAt: now + this.ttlMs });
    this.perToken.set(tokenId, this.openFor(tokenId) + 1);
    return serverNonce;
  }

  /** The open, unexpired challenge `serverNonce` names for this token; it stays open (see take). */
  find(serverNonce: string, tokenId: string, now = Date.now()): OpenChallenge | undefined {
    const open = this.byNonce.get(serverNonce);
    return open && open.tokenId === tokenId && open.expiresAt > now ? open : undefined;
  }

  /** Close a challenge: a join proved it (it cannot be answered again). */
  take(serverNonce: string): void {
    const open = this.byNonce.get(serverNonce);
    if (!open) return;
    this.byNonce.delete(serverNonce);
    const left = this.openFor(open.tokenId) - 1;
    if (left > 0) this.perToken.set(open.tokenId, left);
    else this.perToken.delete(open.tokenId);
  }

  /** Drop the expired ones: the oldest first, up to the first still open (amortised O(1) a call). */
  private expire(now: number): void {
    for (const [nonce, c] of this.byNonce) {
      if (c.expiresAt > now) break;
      this.take(nonce);
    }
  }
}
