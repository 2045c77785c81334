// `ferry-agent join`: make this host's NATS identity (an nkey whose seed never leaves the host),
// ask the server to enrol it with a join token, pin the server's signing key — refusing a server
// whose key does not match the fingerprint in the token — and save the identity.
import { createUser } from '@nats-io/nkeys';
import { copyFileSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { AgentTrust } from '../trust.js';
import { FerryError, errorFromWire } from '../../shared/errors.js';
import { connectNats } from '../../shared/nats/connect.js';
import { decodeMessage, encodeMessage } from '../../shared/protocol/codec.js';
import { joinReplySchema, type JoinRequest } from '../../shared/protocol/messages.js';
import { ENROLL_INBOX_PREFIX, ENROLL_USER, subjects } from '../../shared/protocol/subjects.js';
import { decodeToken } from '../../shared/protocol/token.js';
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
  const user = createUser();
  const seed = new TextDecoder().decode(user.getSeed());
  const nc = await connectNats({ url, user: { name: ENROLL_USER, password: token.e }, name: 'ferry-agent join', inboxPrefix: ENROLL_INBOX_PREFIX, timeoutMs: 5000, tlsCaFile: o.tlsCa });
  let reply;
  try {
    const request: JoinRequest = { token: o.token.trim(), nkey: user.getPublicKey(), hostname: o.hostname, tags: o.tags };
    const msg = await nc.request(subjects.enroll, encodeMessage(request), { timeout: 60_000 }).catch((err: Error) => {
      throw new FerryError('FERRY_SERVER_UNREACHABLE', `the server did not answer the join request: ${err.message}`, { hint: 'is `ferry server` running?' });
    });
    reply = decodeMessage(joinReplySchema, msg.data, 'join reply');
  } finally {
    await nc.close();
  }
  if (!reply.ok) throw errorFromWire(reply.error);
  mkdirSync(o.paths.dir, { recursive: true, mode: 0o700 });
  // Refuses a server whose root key is not the one the token names.
  AgentTrust.create(o.paths.dir, reply.trust, token.f);
  const identity: AgentIdentity = {
    agentId: reply.agentId,
    serverUrl: url,
    rootFingerprint: token.f,
    installRoot: resolve(o.installRoot ?? `${o.paths.dir}/apps`),
    tags: reply.tags,
    joinedAt: new Date().toISOString(),
    ...(o.tlsCa ? { tlsCa: `${o.paths.dir}/ca.pem` } : {}),
    ...(o.maintenance ? { maintenance: o.maintenance } : {}),
  };
  if (o.tlsCa) copyFileSync(o.tlsCa, `${o.paths.dir}/ca.pem`);
  mkdirSync(identity.installRoot, { recursive: true });
  writeAtomic(o.paths.seed, seed + '\n', 0o600);
  writeAtomic(o.paths.identity, JSON.stringify(identity, null, 2) + '\n', 0o600);
  return identity;
}

function writeAtomic(file: string, content: string, mode: number): void {
  writeFileSync(`${file}.tmp`, content, { mode });
  renameSync(`${file}.tmp`, file);
}
