// `ferry-agent join`: make this host's NATS identity (an nkey whose seed never leaves the host),
// make the server prove it holds the key the pinned root trusts, then prove the token (an HMAC of
// the server's challenge; the secret itself never leaves the host) and receive the host's user
// JWT in a reply sealed to a key made for this join. A server that cannot prove itself learns
// nothing it could use: the agent stops before anything of the secret is used.
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { AgentTrust, PinnedTrust } from '../trust.js';
import { verifySignature, keyFingerprint } from '../../shared/crypto/sign.js';
import { createSealKeyPair, openSealed } from '../../shared/crypto/seal.js';
import { FerryError, errorFromWire } from '../../shared/errors.js';
import { connectNats } from '../../shared/nats/connect.js';
import { createNativeUser } from '../../shared/nats/nkey-auth.js';
import { decodeMessage, encodeMessage } from '../../shared/protocol/codec.js';
import { challengeTranscript, joinProof, proofKeyFromSecret } from '../../shared/protocol/enroll.js';
import { challengeReplySchema, joinReplySchema, joinResultSchema, type ChallengeRequest, type JoinRequest } from '../../shared/protocol/messages.js';
import { subjects } from '../../shared/protocol/subjects.js';
import { decodeToken, type TokenBody } from '../../shared/protocol/token.js';
import type { AgentIdentity, AgentPaths } from '../config.js';
import type { MaintenanceConfig } from '../maintenance.js';

export interface JoinOptions {
  paths: AgentPaths;
  token: string;
  serverUrl?: string | undefined;
  installRoot?: string | undefined;
  tags: Record<string, string>;
  hostname: string;
  tlsCa?: string | undefined;
  maintenance?: MaintenanceConfig | undefined;
}

export async function joinServer(o: JoinOptions): Promise<AgentIdentity> {
  if (existsSync(o.paths.identity)) {
    throw new FerryError('FERRY_CONFLICT', `this state directory already belongs to a joined agent (${o.paths.identity})`, {
      hint: 'use another --state-dir, or remove the old one to join again',
    });
  }
  const token = decodeToken(o.token.trim());
  const url = o.serverUrl ?? token.u;
  if (!url) throw new FerryError('FERRY_USAGE', 'no server URL: pass --server nats://HOST:PORT');
  // Made natively: the client library derives the public key with pure-JS tweetnacl (~4 ms).
  const user = createNativeUser();
  const seed = user.seed;
  const nc = await connectNats({
    url,
    creds: { jwt: token.j, seed: token.k },
    name: 'ferry-agent join',
    inboxPrefix: subjects.enrollInboxPrefix(`enroll-${token.i}`),
    timeoutMs: 5000,
    attempts: 3,
    tlsCaFile: o.tlsCa,
  }).catch((err: unknown) => {
    if (err instanceof FerryError && /refused the credentials/.test(err.message)) {
      throw new FerryError('FERRY_TOKEN_INVALID', 'join token refused: its enrolment credential was refused (the token expired, was used up or was revoked)', { hint: 'create a new one with: ferry token create' });
    }
    throw err;
  });
  let result;
  let trust: PinnedTrust;
  try {
    ({ trust, result } = await enrol(nc, token, user.publicKey, o));
  } finally {
    await nc.close();
  }
  mkdirSync(o.paths.dir, { recursive: true, mode: 0o700 });
  AgentTrust.create(o.paths.dir, trust);
  const identity: AgentIdentity = {
    agentId: result.agentId,
    serverUrl: url,
    rootFingerprint: token.f,
    installRoot: resolve(o.installRoot ?? `${o.paths.dir}/apps`),
    tags: result.tags,
    joinedAt: new Date().toISOString(),
    jwt: result.jwt,
    ...(o.tlsCa ? { tlsCa: `${o.paths.dir}/ca.pem` } : {}),
    ...(o.maintenance ? { maintenance: o.maintenance } : {}),
    // A site's token: the join went to the hub; from now on the agent runs through the site.
    ...(token.n && token.l ? { site: { name: token.n, url: token.l } } : {}),
  };
  if (o.tlsCa) copyFileSync(o.tlsCa, `${o.paths.dir}/ca.pem`);
  mkdirSync(identity.installRoot, { recursive: true });
  writeAtomic(o.paths.seed, seed + '\n', 0o600);
  writeAtomic(o.paths.identity, JSON.stringify(identity, null, 2) + '\n', 0o600);
  return identity;
}

async function request(nc: NatsConnection, subject: string, body: unknown, what: string): Promise<Uint8Array> {
  const msg = await nc.request(subject, encodeMessage(body), { timeout: 60_000 }).catch((err: Error) => {
    throw new FerryError('FERRY_SERVER_UNREACHABLE', `the server did not answer the ${what}: ${err.message}`, { hint: 'is `ferry server` running?' });
  });
  return msg.data;
}

async function enrol(nc: NatsConnection, token: TokenBody, nkey: string, o: JoinOptions) {
  // 1. The server proves it holds the online key of the pinned root, over our fresh nonce.
  const nonce = randomBytes(32).toString('base64');
  const challengeRequest: ChallengeRequest = { v: 2, token: token.i, nonce };
  const challenge = decodeMessage(challengeReplySchema, await request(nc, subjects.enrollChallenge, challengeRequest, 'join challenge'), 'challenge reply');
  if (!challenge.ok) throw errorFromWire(challenge.error);
  const trust = PinnedTrust.verify(challenge.trust, token.f);
  const signer = trust.doc.keys.find((k) => k.roles.includes('commands') && keyFingerprint(k.publicKey) === challenge.key);
  if (!signer || !verifySignature(signer.publicKey, challengeTranscript(token.i, nonce, challenge.serverNonce), challenge.sig)) {
    throw new FerryError('FERRY_UNTRUSTED_KEY', 'the server did not prove it holds a key of the root in the join token; the token was not used', {
      hint: 'this is not the server that issued the token (check --server)',
    });
  }
  // 2. The join, bound to that challenge; the reply is sealed to a key made for it.
  const sealKey = createSealKeyPair();
  const binding = { tokenId: token.i, agentNonce: nonce, serverNonce: challenge.serverNonce, nkey, hostname: o.hostname, tags: o.tags, replyKey: sealKey.publicKey };
  const joinRequest: JoinRequest = { v: 2, token: token.i, serverNonce: challenge.serverNonce, nkey, hostname: o.hostname, tags: o.tags, replyKey: sealKey.publicKey, proof: joinProof(proofKeyFromSecret(token.s), binding) };
  const reply = decodeMessage(joinReplySchema, await request(nc, subjects.enrollJoin, joinRequest, 'join request'), 'join reply');
  if (!reply.ok) throw errorFromWire(reply.error);
  const result = decodeMessage(joinResultSchema, openSealed(reply.sealed, sealKey), 'join result');
  return { trust, result };
}

function writeAtomic(file: string, content: string, mode: number): void {
  writeFileSync(`${file}.tmp`, content, { mode });
  renameSync(`${file}.tmp`, file);
}
