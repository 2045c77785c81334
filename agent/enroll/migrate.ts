// An agent that joined before decentralised auth has an nkey but no user JWT, and nats-server in
// operator mode accepts nothing else. It signs itself a user in the enrolment account's migration
// scope (shared/nats/migration-key.ts), proves its own nkey to the server and receives its JWT,
// sealed to a key made for the request; the JWT is saved in identity.json and used from then on.
import { randomBytes } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { encodeUser } from '@nats-io/jwt';
import { createUser } from '@nats-io/nkeys';
import type { Logger } from 'pino';
import { createSealKeyPair, openSealed } from '../../shared/crypto/seal.js';
import { FerryError, errorFromWire } from '../../shared/errors.js';
import { connectNats } from '../../shared/nats/connect.js';
import { migrationAccountSeed } from '../../shared/nats/migration-key.js';
import { nativeKeyPair } from '../../shared/nats/nkey-auth.js';
import { decodeMessage, encodeMessage } from '../../shared/protocol/codec.js';
import { migrateTranscript } from '../../shared/protocol/enroll.js';
import { migrateReplySchema, migrateResultSchema, type MigrateRequest } from '../../shared/protocol/messages.js';
import { subjects } from '../../shared/protocol/subjects.js';
import type { AgentIdentity, AgentPaths } from '../config.js';

export async function migrateIdentity(o: { paths: AgentPaths; identity: AgentIdentity; seed: string; rootFingerprint: string; log: Logger }): Promise<AgentIdentity> {
  const account = nativeKeyPair(migrationAccountSeed(o.rootFingerprint));
  const user = createUser();
  const inbox = subjects.enrollInboxPrefix(o.identity.agentId);
  const jwt = await encodeUser(o.identity.agentId, user, account, { pub: { allow: [subjects.enrollMigrate] }, sub: { allow: [`${inbox}.>`] } }, { exp: Math.floor(Date.now() / 1000) + 600 });
  const nc = await connectNats({
    url: o.identity.serverUrl,
    creds: { jwt, seed: new TextDecoder().decode(user.getSeed()) },
    name: `ferry-agent migrate ${o.identity.agentId}`,
    inboxPrefix: inbox,
    tlsCaFile: o.identity.tlsCa,
    attempts: 3,
  });
  try {
    const own = nativeKeyPair(o.seed);
    const sealKey = createSealKeyPair();
    const ts = Date.now();
    const request: MigrateRequest = {
      v: 2,
      agent: o.identity.agentId,
      nkey: own.publicKey,
      ts,
      replyKey: sealKey.publicKey,
      sig: Buffer.from(own.sign(migrateTranscript(o.identity.agentId, own.publicKey, ts, sealKey.publicKey))).toString('base64'),
    };
    // 10 s, then the caller asks again: a request lost while the server starts is not waited on for long.
    const msg = await nc.request(subjects.enrollMigrate, encodeMessage(request), { timeout: 10_000 });
    const reply = decodeMessage(migrateReplySchema, msg.data, 'migrate reply');
    if (!reply.ok) throw errorFromWire(reply.error);
    const result = decodeMessage(migrateResultSchema, openSealed(reply.sealed, sealKey), 'migrate result');
    const identity: AgentIdentity = { ...o.identity, jwt: result.jwt };
    const tmp = `${o.paths.identity}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(tmp, JSON.stringify(identity, null, 2) + '\n', { mode: 0o600 });
    renameSync(tmp, o.paths.identity);
    o.log.warn('received a user JWT for this agent (decentralised auth); saved in identity.json');
    return identity;
  } catch (err) {
    if (err instanceof FerryError) throw err;
    throw new FerryError('FERRY_SERVER_UNREACHABLE', `cannot get this agent's user JWT from the server: ${(err as Error).message}`, { hint: 'is the server upgraded and running?' });
  } finally {
    await nc.close();
  }
}

/** For the daemon: keep asking until the (upgraded) server answers; a refusal is final. */
export async function jwtForLegacyAgent(o: Parameters<typeof migrateIdentity>[0]): Promise<string> {
  o.log.info('this agent has no user JWT yet (joined before decentralised auth): asking the server for one');
  for (let attempt = 1; ; attempt++) {
    try {
      const identity = await migrateIdentity(o);
      return identity.jwt!;
    } catch (err) {
      if (!(err instanceof FerryError) || !['FERRY_SERVER_UNREACHABLE', 'FERRY_TIMEOUT'].includes(err.code)) throw err;
      o.log.warn({ attempt, reason: err.message }, 'cannot get this agent\'s user JWT yet; retrying');
      await new Promise((r) => setTimeout(r, Math.min(30_000, 500 * 2 ** attempt)));
    }
  }
}
