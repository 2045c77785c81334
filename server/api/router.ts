// The admin API: one subscription on ferry.api.>, a handler per verb. Requests are validated
// with the verb's schema before the handler runs; every failure becomes a typed wire error.
import type { NatsConnection, Subscription, Msg } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { FerryError, toFerryError } from '../../shared/errors.js';
import { apiRequestSchemas, type ApiReply, type ApiRequestParsed, type ApiVerb } from '../../shared/protocol/api.js';
import { decodeMessage, encodeMessage } from '../../shared/protocol/codec.js';
import { subjects } from '../../shared/protocol/subjects.js';
import type { AuditLog } from '../audit/log.js';

/** Verbs that only read; every other verb is an administrative action and is audited. */
const READ_ONLY_VERBS = new Set<string>(['dml.list', 'dml.show', 'release.list', 'release.show', 'rollout.status', 'rollout.list', 'rollout.review', 'agents.list', 'cmdb.show', 'cmdb.versions', 'fleet.status', 'agents.logs', 'audit.list', 'schedule', 'notify.list', 'token.list']);

/**
 * Where API replies may go: the CLI's inbox in FERRY, or a service import's private `_R_.` reply.
 * A request with any other reply subject (a JetStream API subject, a key, another client's
 * subject) is dropped without acting: the server never publishes where a caller aims it.
 */
const REPLY_PREFIXES = [`${subjects.cliInboxPrefix}.`, '_R_.'];

/** The NATS header the CLI names its user in (the admin credential is shared by the admin role). */
const ACTOR_HEADER = 'Ferry-Actor';

export type ApiHandlers = { [V in ApiVerb]: (req: ApiRequestParsed<V>) => Promise<unknown> | unknown };

export class ApiRouter {
  private sub?: Subscription;

  constructor(
    private readonly nc: NatsConnection,
    private readonly handlers: ApiHandlers,
    private readonly log: Logger,
    private readonly audit?: AuditLog,
  ) {}

  start(): void {
    this.sub = this.nc.subscribe(subjects.apiAll, { callback: (_err, msg) => void this.handle(msg) });
  }

  stop(): void {
    this.sub?.unsubscribe();
  }

  private async handle(msg: Msg): Promise<void> {
    const verb = msg.subject.slice('ferry.api.'.length);
    if (!msg.reply || !REPLY_PREFIXES.some((p) => msg.reply!.startsWith(p))) {
      this.log.warn({ verb, reply: msg.reply?.slice(0, 128) }, 'API request with an unexpected reply subject dropped');
      return;
    }
    let reply: ApiReply;
    let req: Record<string, unknown> | undefined;
    let result: unknown;
    try {
      if (!Object.hasOwn(apiRequestSchemas, verb)) throw new FerryError('FERRY_USAGE', `unknown API verb "${verb}"`, { hint: 'is the CLI newer than the server?' });
      const v = verb as ApiVerb;
      req = decodeMessage(apiRequestSchemas[v], msg.data, `${verb} request`) as Record<string, unknown>;
      const handler = this.handlers[v] as (r: unknown) => Promise<unknown> | unknown;
      result = await handler(req);
      reply = { ok: true, result: result ?? null };
    } catch (err) {
      const e = toFerryError(err);
      if (e.code === 'FERRY_INTERNAL') this.log.error({ err, verb }, 'API handler failed');
      reply = { ok: false, error: e.toJSON() };
    }
    this.recordAudit(verb, msg, req, result, reply);
    msg.respond(encodeMessage(reply));
  }

  /** Every administrative request, allowed or refused, goes to the audit log. */
  private recordAudit(verb: string, msg: Msg, req: Record<string, unknown> | undefined, result: unknown, reply: ApiReply): void {
    if (!this.audit || READ_ONLY_VERBS.has(verb) || req?.dryRun === true) return;
    const body = req ?? {};
    const named = (msg.headers?.get(ACTOR_HEADER) ?? '').replace(/[\u0000-\u001f\u007f-\u009f]/g, '').slice(0, 128);
    const actor = named || (typeof body.actor === 'string' ? body.actor : '') || 'admin';
    try {
      this.audit.record({ actor, action: verb, target: auditTarget(body, result), args: body, error: reply.ok ? undefined : reply.error });
    } catch (err) {
      this.log.error({ err, verb }, 'cannot write the audit log');
    }
  }
}

/** What an action was about, in the words an operator would search for. */
function auditTarget(req: Record<string, unknown>, result: unknown): string | null {
  const r = (result ?? {}) as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const name = str(req.name) ?? str(r.name);
  const version = str(req.version) ?? str(r.version);
  if (name && version) return `${name}@${version}`;
  return name ?? str(req.release) ?? str(req.id) ?? str(req.host) ?? str(req.package) ?? str(r.id) ?? null;
}
