// Enrolment: answers join requests on ferry.enroll. A valid token creates the host's CMDB entry
// and its NATS identity (the agent's own nkey; its seed never leaves the host), reloads the NATS
// authorization, and tells the agent its id and the server's public signing key.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { FerryError, toFerryError } from '../../shared/errors.js';
import { decodeMessage, encodeMessage } from '../../shared/protocol/codec.js';
import { joinRequestSchema, type JoinReply } from '../../shared/protocol/messages.js';
import { subjects } from '../../shared/protocol/subjects.js';
import type { CmdbStore } from '../cmdb/store.js';
import type { Db } from '../db/open.js';
import { consumeToken } from './tokens.js';
import { decodeToken } from '../../shared/protocol/token.js';
import type { KeyRing } from '../keys.js';

export class EnrollService {
  private sub?: Subscription;

  constructor(
    private readonly db: Db,
    private readonly nc: NatsConnection,
    private readonly cmdb: CmdbStore,
    private readonly keys: KeyRing,
    /** make the new identity known to NATS (config reload); resolves once it is effective */
    private readonly syncAuth: () => Promise<void>,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.sub = this.nc.subscribe(subjects.enroll, {
      callback: (_err, msg) => {
        void this.handle(msg.data).then((reply) => msg.respond(encodeMessage(reply)));
      },
    });
  }

  stop(): void {
    this.sub?.unsubscribe();
  }

  private async handle(data: Uint8Array): Promise<JoinReply> {
    try {
      const req = decodeMessage(joinRequestSchema, data, 'join request');
      if (this.cmdb.activeIdentities().some((a) => a.nkey === req.nkey)) {
        throw new FerryError('FERRY_CONFLICT', 'this agent key has already joined', { hint: 'a host joins once; use a fresh state directory to join again' });
      }
      // A token pins the root that was current when it was made; the agent would refuse this
      // server's trust document, so refuse the token before anything is enrolled.
      const pinned = decodeToken(req.token).f;
      if (pinned !== this.keys.rootFingerprint) {
        throw new FerryError('FERRY_UNTRUSTED_KEY', `the join token names root key ${pinned}, not this server's ${this.keys.rootFingerprint}`, {
          hint: 'the token was made for another server or before a root rotation: create a new one with ferry token create',
        });
      }
      const tokenTags = consumeToken(this.db, req.token);
      const tags = { ...req.tags, ...tokenTags };
      const id = this.newAgentId(req.hostname);
      this.cmdb.addAgent({ id, nkey: req.nkey, hostname: req.hostname, tags });
      await this.syncAuth();
      this.log.info({ agent: id, hostname: req.hostname }, 'agent joined');
      return { ok: true, agentId: id, trust: this.keys.trust, tags };
    } catch (err) {
      const e = toFerryError(err);
      this.log.warn({ code: e.code, reason: e.message }, 'join refused');
      return { ok: false, error: e.toJSON() };
    }
  }

  private newAgentId(hostname: string): string {
    const base = hostname.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'host';
    for (;;) {
      const id = `${base}-${randomBytes(2).toString('hex')}`;
      if (!this.cmdb.agentExists(id)) return id;
    }
  }
}
