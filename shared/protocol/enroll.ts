// What both sides of a join sign and check. The agent first makes the server prove it holds the
// pinned root's online key (a signature over the agent's fresh nonce); only then does it use the
// token's secret, and never sends it: the join carries an HMAC, keyed with the secret's SHA-256
// (which is all the server stores), over everything the join binds — both nonces, the agent's key,
// hostname, tags and reply key. An impostor learns nothing it could use at the real server.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export function challengeTranscript(tokenId: string, agentNonce: string, serverNonce: string): Buffer {
  return Buffer.from(['ferry-enroll-challenge-v1', tokenId, agentNonce, serverNonce].join('\n'), 'utf8');
}

export interface JoinBinding {
  tokenId: string;
  agentNonce: string;
  serverNonce: string;
  nkey: string;
  hostname: string;
  tags: Record<string, string>;
  replyKey: string;
}

function joinTranscript(b: JoinBinding): Buffer {
  const tags = JSON.stringify(Object.entries(b.tags).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
  return Buffer.from(['ferry-enroll-join-v1', b.tokenId, b.agentNonce, b.serverNonce, b.nkey, b.hostname, tags, b.replyKey].join('\n'), 'utf8');
}

/** The key a token's proofs are made with: SHA-256 of its secret (what the server stores, hex). */
export function proofKeyFromSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

export function joinProof(proofKey: Buffer, b: JoinBinding): string {
  return createHmac('sha256', proofKey).update(joinTranscript(b)).digest('base64');
}

export function proofMatches(proofKey: Buffer, b: JoinBinding, proof: string): boolean {
  const expected = Buffer.from(joinProof(proofKey, b), 'base64');
  const given = Buffer.from(proof, 'base64');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export function migrateTranscript(agentId: string, nkey: string, ts: number, replyKey: string): Buffer {
  return Buffer.from(['ferry-migrate-v1', agentId, nkey, String(ts), replyKey].join('\n'), 'utf8');
}
