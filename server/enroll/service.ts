// Enrolment: answers `ferry.enroll.*` for clients of the ENROLL account (they reach it only as a
// service import, so every reply goes to a private `_R_` subject NATS routes back to the caller;
// a request whose reply subject is anything else is dropped unanswered).
// - challenge: for a token a host may still join with (refused as the join would be otherwise),
//   sign the agent's nonce with the online key its pinned root trusts, so the agent knows it
//   talks to the real server before it uses anything of the token's secret; open challenges are
//   capped per token and in all (challenges.ts);
// - join: check the HMAC proof of the token's secret over that challenge (only a proof that
//   verifies uses the challenge up: a bad one, from another holder of the token who read the
//   shared inbox, leaves it to its host), use up one use of the token, record the host and issue
//   its user JWT (signed here: no config write, no reload); the reply is sealed to a key the host
//   made for this join;
// - migrate: an agent that joined before decentralised auth proves its nkey and gets its JWT.
import { randomBytes } from 'node:crypto';
import { fromPublic } from '@nats-io/nkeys';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { signBytes } from '../../shared/crypto/sign.js';
import { seal } from '../../shared/crypto/seal.js';
import { FerryError, toFerryError } from '../../shared/errors.js';
import { decodeMessage, encodeMessage } from '../../shared/protocol/codec.js';
import { challengeTranscript, migrateTranscript, proofMatches } from '../../shared/protocol/enroll.js';
import {
  challengeRequestSchema,
  joinRequestSchema,
  migrateRequestSchema,
  tagsSchema,
  type ChallengeReply,
  type JoinReply,
  type JoinResult,
} from '../../shared/protocol/messages.js';
import { subjects } from '../../shared/protocol/subjects.js';
import type { CmdbStore } from '../cmdb/store.js';
import type { Db } from '../db/open.js';
import type { KeyRing } from '../keys.js';
import type { NatsAuth } from '../nats/nats-auth.js';
import { challengeCapFor, OpenChallenges } from './challenges.js';
import { consumeToken, tokenProofKey, usableToken } from './tokens.js';

const MIGRATE_SKEW_MS = 5 * 60_000;
const REVOKE_USED_UP_AFTER_MS = 2_000;
/**
 * Revoking pushes the enrolment account's claims, and nats-server 2.9 then registers the
 * account's service imports again, dropping the replies of requests in flight through them:
 * another host's join would wait out its request timeout. So the push waits for a quiet moment
 * (no enrolment request for REVOKE_USED_UP_AFTER_MS), at most this long after the last use.
 */
const REVOKE_USED_UP_WITHIN_MS = 30_000;
/** Service-import replies (nats-server's `_R_.` prefix): the only place enrolment answers. */
const SERVICE_REPLY_PREFIX = '_R_.';

export class EnrollService {
  private sub?: Subscription;
  private readonly challenges = new OpenChallenges();
  private revokeTimer?: NodeJS.Timeout;
  /** when the last enrolment request arrived (the revocation push waits for a quiet moment) */
  private lastRequestAt = 0;

  constructor(
    private readonly db: Db,
    private readonly nc: NatsConnection,
    private readonly cmdb: CmdbStore,
    private readonly keys: KeyRing,
    private readonly auth: NatsAuth,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.sub = this.nc.subscribe('ferry.enroll.*', { callback: (_err, msg) => this.dispatch(msg) });
  }

  stop(): void {
    this.sub?.unsubscribe();
    if (this.revokeTimer) {
      clearTimeout(this.revokeTimer);
      this.revokeTimer = undefined;
      void this.auth.push().catch(() => undefined); // the next start preloads it in any case
    }
  }

  private dispatch(msg: Msg): void {
    if (!msg.reply?.startsWith(SERVICE_REPLY_PREFIX)) {
      this.log.warn({ subject: msg.subject }, 'enrolment request with an unexpected reply subject dropped');
      return;
    }
    this.lastRequestAt = Date.now();
    let reply: ChallengeReply | JoinReply;
    try {
      if (msg.subject === subjects.enrollChallenge) reply = this.challenge(msg.data);
      else if (msg.subject === subjects.enrollJoin) reply = this.join(msg.data);
      else if (msg.subject === subjects.enrollMigrate) reply = this.migrate(msg.data);
      else return;
    } catch (err) {
      const e = toFerryError(err);
      this.log.warn({ subject: msg.subject, code: e.code, reason: e.message }, 'enrolment refused');
      reply = { ok: false, error: e.toJSON() };
    }
    msg.respond(encodeMessage(reply));
  }

  private challenge(data: Uint8Array): ChallengeReply {
    const req = decodeMessage(challengeRequestSchema, data, 'challenge request');
    const now = Date.now();
    const { usesLeft } = usableToken(this.db, req.token, now);
    const serverNonce = this.challenges.open(req.token, req.nonce, challengeCapFor(usesLeft), now);
    const sig = signBytes(this.keys.signing.secretKey, challengeTranscript(req.token, req.nonce, serverNonce));
    return { ok: true, serverNonce, trust: this.keys.trust, key: this.keys.signingFingerprint, sig };
  }

  private join(data: Uint8Array): JoinReply {
    const req = decodeMessage(joinRequestSchema, data, 'join request');
    const open = this.challenges.find(req.serverNonce, req.token);
    if (!open) throw new FerryError('FERRY_TOKEN_INVALID', 'join refused: the challenge is unknown, expired or already used', { hint: 'run ferry-agent join again' });
    const binding = { tokenId: req.token, agentNonce: open.agentNonce, serverNonce: req.serverNonce, nkey: req.nkey, hostname: req.hostname, tags: req.tags, replyKey: req.replyKey };
    const proofKey = tokenProofKey(this.db, req.token);
    // A bad proof leaves the challenge open: anyone holding the token can read its server nonce.
    if (!proofKey || !proofMatches(proofKey, binding, req.proof)) throw new FerryError('FERRY_TOKEN_INVALID', 'join token refused: it is unknown to this server', { hint: 'create a new one with: ferry token create' });
    // Proved: the challenge is used now, whatever follows (it cannot be replayed).
    this.challenges.take(req.serverNonce);
    if (this.cmdb.nkeyExists(req.nkey)) {
      throw new FerryError('FERRY_CONFLICT', 'this agent key has already joined', { hint: 'a host joins once; use a fresh state directory to join again' });
    }
    // One transaction (one commit): the token's use, the agent, and the record of its JWT.
    const { agentId, tags, usedUp, jwt } = this.db.transaction(() => {
      const token = consumeToken(this.db, req.token);
      // The site tag is the token's (token create --site): a host that named its own would be
      // listed and targeted as the site's while it connects to the hub. Refused, the use kept.
      if (req.tags.site !== undefined && req.tags.site !== token.tags.site) {
        throw new FerryError('FERRY_INVALID_INPUT', `--tag site=${req.tags.site}: the site tag comes with the join token`, { hint: `join with a token of that site: ferry token create --site ${req.tags.site}` });
      }
      // The agent refuses a reply it cannot parse: check here, before anything is recorded.
      const merged = tagsSchema.safeParse({ ...req.tags, ...token.tags });
      if (!merged.success) throw new FerryError('FERRY_INVALID_INPUT', `the join's tags are not valid: ${merged.error.issues[0]?.message ?? 'invalid'}`);
      const id = this.newAgentId(req.hostname);
      this.cmdb.addAgent({ id, nkey: req.nkey, hostname: req.hostname, tags: merged.data });
      return { agentId: id, tags: merged.data, usedUp: token.usesLeft === 0, jwt: this.auth.issueAgent(id, req.nkey) };
    })();
    if (usedUp) this.revokeUsedUpSoon();
    this.log.info({ agent: agentId, hostname: req.hostname }, 'agent joined');
    const result: JoinResult = { agentId, jwt, tags };
    return { ok: true, sealed: seal(encodeMessage(result), req.replyKey) };
  }

  private migrate(data: Uint8Array): JoinReply {
    const req = decodeMessage(migrateRequestSchema, data, 'migrate request');
    const agent = this.cmdb.getAgent(req.agent);
    const refuse = () => new FerryError('FERRY_NOT_JOINED', `agent ${req.agent} is not a joined, active agent with this key`, { hint: 'join the host again with a new token' });
    if (!agent || agent.revokedAt || agent.nkey !== req.nkey) throw refuse();
    if (Math.abs(Date.now() - req.ts) > MIGRATE_SKEW_MS) throw new FerryError('FERRY_COMMAND_REJECTED', 'migrate request is stale (check the host clock)');
    let valid = false;
    try {
      valid = fromPublic(req.nkey).verify(migrateTranscript(req.agent, req.nkey, req.ts, req.replyKey), Buffer.from(req.sig, 'base64'));
    } catch {
      valid = false;
    }
    if (!valid) throw refuse();
    const jwt = this.auth.issueMigratedAgent(agent.id, agent.nkey);
    this.log.warn({ agent: agent.id }, 'issued a user JWT to an agent from before decentralised auth');
    return { ok: true, sealed: seal(encodeMessage({ jwt }), req.replyKey) };
  }

  /**
   * The token's own enrolment user dies with its last use — a moment after the reply: revoking it
   * closes every connection of that user, the last joiner's too, and its reply must get there
   * first. Until then the token's join requests are refused anyway (no uses left).
   */
  private revokeUsedUpSoon(): void {
    if (this.revokeTimer) return;
    const latest = Date.now() + REVOKE_USED_UP_WITHIN_MS;
    const fire = () => {
      const quietFor = Date.now() - this.lastRequestAt;
      if (quietFor < REVOKE_USED_UP_AFTER_MS && Date.now() < latest) {
        this.revokeTimer = setTimeout(fire, REVOKE_USED_UP_AFTER_MS - quietFor);
        return;
      }
      this.revokeTimer = undefined;
      this.auth.push().catch((err: unknown) => this.log.error({ err }, "cannot revoke a used-up token's enrolment user"));
    };
    this.revokeTimer = setTimeout(fire, REVOKE_USED_UP_AFTER_MS);
  }

  private newAgentId(hostname: string): string {
    const base = hostname.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'host';
    for (;;) {
      const id = `${base}-${randomBytes(2).toString('hex')}`;
      if (!this.cmdb.agentExists(id)) return id;
    }
  }
}
