// What the server tells an agent, each checked before it is believed: the trust document (a
// newer one only if it is a valid successor of ours), the agent's own desired state, and commands
// pushed to it (trusted signer, audience, subject, expiry, never seen before). Reads go to the
// desired-state bucket by direct get, from the sources agent/site-reads.ts names. What to *do*
// with a verified desired state or command is agent/runtime.ts's.
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { keyFingerprint, type SignedEnvelope } from '../shared/crypto/sign.js';
import { openTrusted, signedTrustSchema } from '../shared/crypto/trust.js';
import { FerryError, toFerryError } from '../shared/errors.js';
import { directGet } from '../shared/nats/object-read.js';
import { decodeMessage } from '../shared/protocol/codec.js';
import { commandSchema, desiredStateSchema, signedEnvelopeSchema, type Command, type DesiredState } from '../shared/protocol/messages.js';
import { BUCKETS, TRUST_KEY, subjects } from '../shared/protocol/subjects.js';
import type { AgentIdentity } from './config.js';
import type { Journal } from './install/journal.js';
import { desiredStateApis } from './site-reads.js';
import type { AgentTrust } from './trust.js';

/** Commands issued this far in the future are refused (clock skew allowance). */
const MAX_CLOCK_SKEW_MS = 5 * 60_000;

export interface SignedInputsOptions {
  identity: AgentIdentity;
  trust: AgentTrust;
  /** remembers command nonces (replays are refused) */
  journal: Journal;
  log: Logger;
  /** the current connection, if any */
  connection: () => NatsConnection | undefined;
}

export class SignedInputs {
  constructor(private readonly o: SignedInputsOptions) {}

  private get agentId(): string {
    return this.o.identity.agentId;
  }

  /** Read the trust document; accept it only if it is a valid successor of ours. Never throws. */
  async refreshTrust(): Promise<void> {
    const nc = this.o.connection();
    if (!nc || nc.isClosed()) return;
    try {
      const msg = await this.readKey(nc, TRUST_KEY, 'trust document');
      if (!msg || msg.headers?.get('KV-Operation')) return;
      if (this.o.trust.update(decodeMessage(signedTrustSchema, msg.data, 'trust document'))) {
        this.o.log.info({ version: this.o.trust.doc.version, expiresAt: this.o.trust.doc.expiresAt }, 'accepted a new trust document');
      }
    } catch (err) {
      this.o.log.warn({ reason: toFerryError(err).toLine() }, 'trust document refused');
    }
  }

  /** This agent's signed desired state as stored (not yet verified), or undefined when there is none or no connection. */
  async readDesired(): Promise<SignedEnvelope | undefined> {
    const nc = this.o.connection();
    if (!nc || nc.isClosed()) return undefined;
    const msg = await this.readKey(nc, this.agentId, 'desired state');
    if (!msg || msg.headers?.get('KV-Operation')) return undefined; // none yet, or deleted
    return decodeMessage(signedEnvelopeSchema, msg.data, 'desired state');
  }

  /** A desired state signed by a trusted key, for this agent. A key we do not know yet may be a rotation: the trust document is read first. */
  async openDesired(envelope: SignedEnvelope): Promise<DesiredState> {
    await this.learnSigner(envelope);
    const desired = openTrusted(this.o.trust.doc, 'commands', envelope, desiredStateSchema, 'desired state');
    if (desired.agent !== this.agentId) throw new FerryError('FERRY_COMMAND_REJECTED', `desired state is for ${desired.agent}`);
    return desired;
  }

  /** A pushed command: trusted signer, addressed to this agent on its subject, not expired, not issued in the future, never seen before. */
  async openCommand(data: Uint8Array, now = Date.now()): Promise<Command> {
    const envelope = decodeMessage(signedEnvelopeSchema, data, 'command');
    await this.learnSigner(envelope);
    const cmd = openTrusted(this.o.trust.doc, 'commands', envelope, commandSchema, 'command');
    if (cmd.audience !== this.agentId) throw new FerryError('FERRY_COMMAND_REJECTED', `command is addressed to ${cmd.audience}, not to this agent`);
    if (cmd.subject !== subjects.command(this.agentId)) throw new FerryError('FERRY_COMMAND_REJECTED', `command was meant for subject ${cmd.subject}`);
    if (cmd.expiresAt < now) throw new FerryError('FERRY_COMMAND_REJECTED', `command expired at ${new Date(cmd.expiresAt).toISOString()}`);
    if (cmd.issuedAt > now + MAX_CLOCK_SKEW_MS) throw new FerryError('FERRY_COMMAND_REJECTED', 'command is issued in the future');
    if (!this.o.journal.rememberNonce(cmd.nonce, cmd.expiresAt)) throw new FerryError('FERRY_COMMAND_REJECTED', 'command was already received (replay)');
    return cmd;
  }

  private async learnSigner(envelope: SignedEnvelope): Promise<void> {
    if (!this.o.trust.doc.keys.some((k) => keyFingerprint(k.publicKey) === envelope.key)) await this.refreshTrust();
  }

  /** A key of the desired-state bucket, from the first source that answers (agent/site-reads.ts). */
  private async readKey(nc: NatsConnection, key: string, what: string): Promise<Msg | null> {
    const apis = desiredStateApis(this.o.identity);
    for (let i = 0; ; i++) {
      try {
        return await directGet(nc, `${apis[i]!}.DIRECT.GET.KV_${BUCKETS.desired}.$KV.${BUCKETS.desired}.${key}`, undefined, 5000, what);
      } catch (err) {
        if (i === apis.length - 1) throw err;
      }
    }
  }
}
