// Speaking the join protocol by hand (test/security): the challenge, then a join whose fields a
// test may change after the proof was made (to check the proof binds them), with the token's real
// secret or another one.
import { randomBytes } from 'node:crypto';
import { createUser } from '@nats-io/nkeys';
import type { NatsConnection } from '@nats-io/transport-node';
import { createSealKeyPair, openSealed } from '../../shared/crypto/seal.js';
import { joinProof, proofKeyFromSecret } from '../../shared/protocol/enroll.js';
import { subjects } from '../../shared/protocol/subjects.js';
import { decodeToken } from '../../shared/protocol/token.js';

export interface WireReply {
  ok: boolean;
  error?: { code: string; message: string };
  [k: string]: unknown;
}

const json = (data: Uint8Array): WireReply => JSON.parse(new TextDecoder().decode(data)) as WireReply;

export async function challenge(nc: NatsConnection, tokenId: string, nonce = randomBytes(32).toString('base64')): Promise<{ reply: WireReply; nonce: string }> {
  const msg = await nc.request(subjects.enrollChallenge, JSON.stringify({ v: 2, token: tokenId, nonce }), { timeout: 15_000 });
  return { reply: json(msg.data), nonce };
}

export interface JoinAttempt {
  /** the server's answer to the join */
  reply: WireReply;
  /** the sealed result, opened (ok replies) */
  result?: { agentId: string; jwt: string; tags: Record<string, string> };
  /** the request as sent (to replay it) */
  request: Record<string, unknown>;
}

/** What a join by hand changes (see joinByHand). */
export interface ByHand {
  hostname?: string;
  tags?: Record<string, string>;
  nkey?: string;
  secret?: string;
  tokenId?: string;
  after?: Record<string, unknown>;
  raw?: Uint8Array;
}

/**
 * Challenge then join with `token`. `secret` replaces the token's secret in the proof; `after`
 * changes the request after the proof was computed; `raw` sends these bytes as the join instead.
 */
export async function joinByHand(
  nc: NatsConnection,
  token: string,
  o: ByHand = {},
): Promise<JoinAttempt> {
  const { reply: c, nonce } = await challenge(nc, o.tokenId ?? decodeToken(token).i);
  if (!c.ok) return { reply: c, request: {} };
  return answerChallenge(nc, token, { agentNonce: nonce, serverNonce: c.serverNonce as string }, o);
}

/** The join that answers a challenge already made (the second half of joinByHand). */
export async function answerChallenge(
  nc: NatsConnection,
  token: string,
  challenged: { agentNonce: string; serverNonce: string },
  o: ByHand = {},
): Promise<JoinAttempt> {
  const t = decodeToken(token);
  const tokenId = o.tokenId ?? t.i;
  const { agentNonce: nonce, serverNonce } = challenged;
  const seal = createSealKeyPair();
  const nkey = o.nkey ?? createUser().getPublicKey();
  const hostname = o.hostname ?? 'by-hand';
  const tags = o.tags ?? {};
  const proof = joinProof(proofKeyFromSecret(o.secret ?? t.s), { tokenId, agentNonce: nonce, serverNonce, nkey, hostname, tags, replyKey: seal.publicKey });
  const request = { v: 2, token: tokenId, serverNonce, nkey, hostname, tags, replyKey: seal.publicKey, proof, ...o.after };
  const msg = await nc.request(subjects.enrollJoin, o.raw ?? JSON.stringify(request), { timeout: 15_000 });
  const reply = json(msg.data);
  const result = reply.ok ? (JSON.parse(new TextDecoder().decode(openSealed(reply.sealed as string, seal))) as JoinAttempt['result']) : undefined;
  return { reply, request, ...(result ? { result } : {}) };
}

/** Send a join request again, as it was (a replay). */
export async function replayJoin(nc: NatsConnection, request: Record<string, unknown>): Promise<WireReply> {
  return json((await nc.request(subjects.enrollJoin, JSON.stringify(request), { timeout: 15_000 })).data);
}
