// The admin API: one subscription on ferry.api.>, a handler per verb. Requests are validated
// with the verb's schema before the handler runs; every failure becomes a typed wire error.
import type { NatsConnection, Subscription, Msg } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { FerryError, toFerryError } from '../../shared/errors.js';
import { apiRequestSchemas, type ApiReply, type ApiRequestParsed, type ApiVerb } from '../../shared/protocol/api.js';
import { decodeMessage, encodeMessage } from '../../shared/protocol/codec.js';
import { subjects } from '../../shared/protocol/subjects.js';

export type ApiHandlers = { [V in ApiVerb]: (req: ApiRequestParsed<V>) => Promise<unknown> | unknown };

export class ApiRouter {
  private sub?: Subscription;

  constructor(
    private readonly nc: NatsConnection,
    private readonly handlers: ApiHandlers,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.sub = this.nc.subscribe(subjects.apiAll, { callback: (_err, msg) => void this.handle(msg) });
  }

  stop(): void {
    this.sub?.unsubscribe();
  }

  private async handle(msg: Msg): Promise<void> {
    const verb = msg.subject.slice('ferry.api.'.length);
    let reply: ApiReply;
    try {
      if (!Object.hasOwn(apiRequestSchemas, verb)) throw new FerryError('FERRY_USAGE', `unknown API verb "${verb}"`, { hint: 'is the CLI newer than the server?' });
      const v = verb as ApiVerb;
      const req = decodeMessage(apiRequestSchemas[v], msg.data, `${verb} request`);
      const handler = this.handlers[v] as (r: unknown) => Promise<unknown> | unknown;
      reply = { ok: true, result: (await handler(req)) ?? null };
    } catch (err) {
      const e = toFerryError(err);
      if (e.code === 'FERRY_INTERNAL') this.log.error({ err, verb }, 'API handler failed');
      reply = { ok: false, error: e.toJSON() };
    }
    if (msg.reply) msg.respond(encodeMessage(reply));
  }
}
