// The admin API: one subscription on ferry.api.>, a handler per verb. Requests are validated
// with the verb's schema before the handler runs; every failure becomes a typed wire error.
import { headers as natsHeaders, type NatsConnection, type Subscription, type Msg } from '@nats-io/transport-node';
import { partHeader, REPLY_PART_HEADER, splitReply } from '../../shared/protocol/reply-parts.js';
import type { Logger } from 'pino';
import { errorFromWire, FerryError, toFerryError } from '../../shared/errors.js';
import { apiRequestSchemas, READ_ONLY_VERBS, type ApiReply, type ApiRequestParsed, type ApiVerb } from '../../shared/protocol/api.js';
import { decodeMessage, encodeMessage } from '../../shared/protocol/codec.js';
import { subjects } from '../../shared/protocol/subjects.js';
import type { ApiReplyIn, ApiReplyOf } from '../../shared/protocol/replies.js';
import type { AuditLog } from '../audit/log.js';
import { AUTH_HEADER, parseRequestAuth } from '../../shared/operators/request-signature.js';
import { authorize, type Caller, type RequestAuthenticator } from '../operators/authenticate.js';


/**
 * Where API replies may go: the CLI's inbox in FERRY, or a service import's private `_R_.` reply.
 * A request with any other reply subject (a JetStream API subject, a key, another client's
 * subject) is dropped without acting: the server never publishes where a caller aims it.
 */
/** nats-server's default, when the connection has not said its own. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

const REPLY_PREFIXES = [`${subjects.cliInboxPrefix}.`, '_R_.'];

/** Verbs whose `actor` field is a filter, not the caller (everywhere else the caller's name replaces it). */
const ACTOR_IS_FILTER = new Set<string>(['audit.list']);

/** Each verb's handler returns its reply schema's type (shared/protocol/replies.ts): a change that breaks the shape does not compile. */
export type ApiHandlers = { [V in ApiVerb]: (req: ApiRequestParsed<V>, caller: Caller) => Promise<ApiReplyIn<V>> | ApiReplyIn<V> };

export class ApiRouter {
  private sub?: Subscription;

  constructor(
    private readonly nc: NatsConnection,
    private readonly handlers: ApiHandlers,
    private readonly log: Logger,
    private readonly authenticator: RequestAuthenticator,
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
    let caller: Caller | undefined;
    const after: (() => Promise<void>)[] = [];
    try {
      // Who first: an unsigned, forged, stale, replayed or out-of-role request never reaches a handler.
      const auth = msg.headers?.get(AUTH_HEADER) || undefined;
      caller = this.authenticator.identify(verb, msg.data, auth);
      authorize(caller, verb);
      // Replies go to the caller's own inbox only (operators may subscribe to nothing else).
      if (!msg.reply.startsWith(`${subjects.cliInboxPrefix}.${caller.name}.`) && !msg.reply.startsWith('_R_.')) {
        throw new FerryError('FERRY_FORBIDDEN', `${verb}: replies for operator ${caller.name} go to ${subjects.cliInboxPrefix}.${caller.name}.>`);
      }
      if (!Object.hasOwn(apiRequestSchemas, verb)) throw new FerryError('FERRY_USAGE', `unknown API verb "${verb}"`, { hint: 'is the CLI newer than the server?' });
      const v = verb as ApiVerb;
      req = decodeMessage(apiRequestSchemas[v], msg.data, `${verb} request`) as Record<string, unknown>;
      // The verified name is the actor everywhere (audit, approvals, rollouts, events); a name in the body decides nothing.
      if ('actor' in req && !ACTOR_IS_FILTER.has(verb)) req.actor = caller.name;
      const handler = this.handlers[v] as (r: unknown, c: Caller) => Promise<unknown> | unknown;
      // A handler may keep the signed request (an approval does, to be checked again later).
      result = await handler(req, { ...caller, signed: { auth: auth!, body: msg.data }, afterReply: (task) => after.push(task) });
      reply = { ok: true, result: result ?? null };
    } catch (err) {
      const e = toFerryError(err);
      if (e.code === 'FERRY_INTERNAL') this.log.error({ err, verb }, 'API handler failed');
      reply = { ok: false, error: e.toJSON() };
    }
    this.recordAudit(verb, parseRequestAuth(msg.headers?.get(AUTH_HEADER) || undefined)?.operator, caller, req, result, reply);
    this.respond(msg, verb, encodeMessage(reply));
    if (reply.ok && after.length > 0) await this.runAfterReply(verb, after, true);
  }

  /** A handler's tasks for after its reply (server/operators/service.ts renew: an account update that may close the caller's connection). */
  private async runAfterReply(verb: string, tasks: (() => Promise<void>)[], flush: boolean): Promise<void> {
    try {
      // Once the flush returns, nats-server has taken the reply (routed to the caller) before anything these tasks push.
      if (flush) await this.nc.flush();
      for (const task of tasks) await task();
    } catch (err) {
      this.log.error({ err, verb }, 'a task after an API reply failed');
    }
  }

  /**
   * One message when it fits max_payload, else parts to the caller's inbox (shared/protocol/
   * reply-parts.ts). A service import's `_R_` reply takes one message only: a reply too large for
   * it becomes an error. A failed publish is logged, never thrown (it would stop the server).
   */
  private respond(msg: Msg, verb: string, data: Uint8Array): void {
    try {
      const parts = splitReply(data, this.nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD);
      if (parts.length === 1) {
        msg.respond(data);
        return;
      }
      if (msg.reply!.startsWith('_R_.')) {
        const e = new FerryError('FERRY_INVALID_INPUT', `${verb}: the reply is ${data.length} bytes, more than one message can carry here`, { hint: 'ask for less (a narrower --target or filter)' });
        msg.respond(encodeMessage({ ok: false, error: e.toJSON() } satisfies ApiReply));
        return;
      }
      parts.forEach((part, i) => {
        const h = natsHeaders();
        h.set(REPLY_PART_HEADER, partHeader(i + 1, parts.length));
        this.nc.publish(msg.reply!, part, { headers: h });
      });
    } catch (err) {
      this.log.error({ err, verb, bytes: data.length }, 'could not send an API reply');
    }
  }

  /**
   * One verb for a caller the server has already identified (the web console's signed-in
   * operator): the same role check, request schema, actor rule, handler and audit record as a
   * signed request over NATS. Throws the handler's (or the check's) FerryError.
   */
  async call<V extends ApiVerb>(verb: V, body: Record<string, unknown>, caller: Caller): Promise<ApiReplyOf<V>> {
    const after: (() => Promise<void>)[] = [];
    let reply: ApiReply;
    let req: Record<string, unknown> | undefined;
    let result: unknown;
    try {
      authorize(caller, verb);
      const parsed = apiRequestSchemas[verb].safeParse(body);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new FerryError('FERRY_INVALID_INPUT', `${verb}: ${issue ? `${issue.path.join('.') || 'request'}: ${issue.message}` : 'invalid request'}`);
      }
      req = parsed.data as Record<string, unknown>;
      if ('actor' in req && !ACTOR_IS_FILTER.has(verb)) req.actor = caller.name;
      const handler = this.handlers[verb] as (r: unknown, c: Caller) => Promise<unknown> | unknown;
      result = await handler(req, { ...caller, afterReply: (task) => after.push(task) });
      reply = { ok: true, result: result ?? null };
    } catch (err) {
      const e = toFerryError(err);
      if (e.code === 'FERRY_INTERNAL') this.log.error({ err, verb }, 'API handler failed (console)');
      reply = { ok: false, error: e.toJSON() };
    }
    this.recordAudit(verb, caller.name, caller, req, result, reply);
    if (reply.ok && after.length > 0) await this.runAfterReply(verb, after, false);
    if (!reply.ok) throw errorFromWire(reply.error);
    // the handler's own document (its type is the schema's input; no field is dropped here)
    return result as ApiReplyOf<V>;
  }

  /** Every administrative request, allowed or refused, goes to the audit log; so does every refused read. */
  private recordAudit(verb: string, claimed: string | undefined, caller: Caller | undefined, req: Record<string, unknown> | undefined, result: unknown, reply: ApiReply): void {
    const refused = !reply.ok && (reply.error.code === 'FERRY_FORBIDDEN' || reply.error.code === 'FERRY_SIGNATURE_INVALID');
    if (!this.audit || (!refused && (READ_ONLY_VERBS.has(verb) || req?.dryRun === true))) return;
    const body = req ?? {};
    // An unverified name is recorded as such: it tells who was claimed, never who acted.
    const actor = caller?.name ?? `unverified:${claimed ?? 'unsigned'}`;
    try {
      // a refusal nats-server made, reported by the CLI: recorded under the verb that was refused
      const action = verb === 'audit.refused' && typeof body.verb === 'string' ? body.verb : verb;
      this.audit.record({ actor, action, target: auditTarget(body, result), args: body, error: reply.ok ? undefined : reply.error });
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
