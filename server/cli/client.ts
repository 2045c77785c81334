// How the CLI reaches a running server: its NATS address from <data-dir>/server.json (or
// --nats), the admin identity from <data-dir>/keys/admin.creds (or --creds / FERRY_CREDS), then admin requests.
import { existsSync, readFileSync } from 'node:fs';
import { errors as natsErrors, headers as natsHeaders } from '@nats-io/transport-node';
import { parseOperatorKey, type OperatorKey } from '../../shared/operators/credentials.js';
import { AUTH_HEADER, signRequest } from '../../shared/operators/request-signature.js';
import { FerryError, errorFromWire } from '../../shared/errors.js';
import { connectNats, type NatsConnection } from '../../shared/nats/connect.js';
import { readCredsFile } from '../../shared/nats/creds.js';
import { fileErrorReason } from '../../shared/file-errors.js';
import { apiReplySchema, READ_ONLY_VERBS, type ApiRequest, type ApiVerb } from '../../shared/protocol/api.js';
import { decodeMessage, encodeMessage } from '../../shared/protocol/codec.js';
import { subjects } from '../../shared/protocol/subjects.js';
import { apiReplySchemas, type ApiReplyOf } from '../../shared/protocol/replies.js';
import { MAX_REPLY_BYTES, ReplyAssembler, REPLY_PART_HEADER } from '../../shared/protocol/reply-parts.js';
import { dataPaths, resolveDataDir, type RuntimeInfo } from '../config.js';
import { checkRequestShape, checkRequestText, inputErrorFromServer } from './input.js';
import { firstAnswer } from './resend.js';

/** A read-only request unanswered this long is sent again (server/cli/resend.ts); FERRY_CLI_RESEND_MS overrides it (tests). */
const RESEND_AFTER_MS = 10_000;

export interface ConnectionFlags {
  dataDir?: string | undefined;
  nats?: string | undefined;
  creds?: string | undefined;
  tlsCa?: string | undefined;
}

export class AdminClient {
  private constructor(
    readonly nc: NatsConnection,
    /** the key that signs this operator's requests */
    readonly operator: OperatorKey,
    /** the credentials file this connection was made with (`ferry operator renew` rewrites it) */
    readonly credsFile: string,
    private readonly resendAfterMs = Number(process.env.FERRY_CLI_RESEND_MS) || RESEND_AFTER_MS,
  ) {}

  static async connect(flags: ConnectionFlags): Promise<AdminClient> {
    const paths = dataPaths(resolveDataDir(flags.dataDir));
    let url = flags.nats;
    let tlsCaFile = flags.tlsCa;
    if (!url) {
      if (!existsSync(paths.runtime)) {
        throw new FerryError('FERRY_SERVER_UNREACHABLE', `no running server found for ${paths.dir}`, {
          hint: existsSync(paths.db) ? `start it with: ferry server --data-dir ${paths.dir}` : `run: ferry init --data-dir ${paths.dir}, then ferry server`,
        });
      }
      const runtime = JSON.parse(readFileSync(paths.runtime, 'utf8')) as RuntimeInfo;
      url = runtime.natsUrl;
      tlsCaFile ??= runtime.tlsCa;
    }
    const named = flags.creds ?? process.env.FERRY_CREDS;
    const credsFile = named ?? paths.adminCreds;
    // A file named by --creds, FERRY_CREDS or the config file that cannot be read is that file's
    // problem; the data directory's own admin.creds missing is one never initialised (readCredsFile).
    if (named !== undefined) assertReadable(credsFile);
    const creds = readCredsFile(credsFile);
    const operator = parseOperatorKey(readFileSync(credsFile, 'utf8'));
    if (!operator) {
      throw new FerryError('FERRY_CREDS_INVALID', `${credsFile} has no operator key (it cannot sign admin requests)`, {
        hint: 'use the file `ferry operator add` wrote, or the data directory\'s keys/admin.creds (ferry server adds the key at start)',
      });
    }
    // Each operator's replies come to an inbox of their own: their NATS user may read nothing else.
    const inboxPrefix = `${subjects.cliInboxPrefix}.${operator.operator}`;
    return new AdminClient(await connectNats({ url, creds, name: `ferry-cli (${operator.operator})`, inboxPrefix, timeoutMs: 3000, tlsCaFile }), operator, credsFile);
  }

  async request<V extends ApiVerb>(verb: V, body: ApiRequest<V>, timeoutMs = 60_000): Promise<ApiReplyOf<V>> {
    return this.send(verb, body, timeoutMs, true);
  }

  /**
   * The caller's NATS user issued anew (`operator.renew`). Credentials from before the verb may not
   * publish its subject: nats-server's refusal is then reported (`audit.refused`, which every
   * operator's user may publish), and the server answers that report with the renewal.
   */
  async renew(timeoutMs = 60_000): Promise<ApiReplyOf<'operator.renew'>> {
    try {
      return await this.send('operator.renew', {}, timeoutMs, false);
    } catch (err) {
      if (!(err instanceof NatsRefused)) throw err;
      return this.send('audit.refused', { verb: 'operator.renew' }, timeoutMs, false);
    }
  }

  private async send<V extends ApiVerb>(verb: V, body: ApiRequest<V>, timeoutMs: number, reportRefusal: boolean): Promise<ApiReplyOf<V>> {
    checkRequestText(body, verb);
    checkRequestShape(verb, body);
    let data: Uint8Array;
    try {
      const payload = encodeMessage(body);
      // Each ask is signed anew: the server refuses a request signature it has seen (a replay).
      const ask = (waitMs: number) => {
        const h = natsHeaders();
        h.set(AUTH_HEADER, signRequest(this.operator, verb, payload));
        return this.roundTrip(subjects.api(verb), payload, h, waitMs);
      };
      data = READ_ONLY_VERBS.has(verb) ? await firstAnswer(ask, { timeoutMs, resendAfterMs: this.resendAfterMs, isNoAnswer: (e) => e instanceof natsErrors.TimeoutError }) : await ask(timeoutMs);
    } catch (err) {
      if (err instanceof natsErrors.NoRespondersError || (err as Error).message?.includes('503')) {
        throw new FerryError('FERRY_SERVER_UNREACHABLE', 'no Ferry server is answering on this NATS', { hint: 'is `ferry server` running?' });
      }
      if (isPublishRefused(err, subjects.api(verb)) && !reportRefusal) throw new NatsRefused(verb);
      if (isPublishRefused(err, subjects.api(verb)) && verb !== 'audit.refused') {
        // nats-server refused the subject (the role's NATS permissions): the server says which
        // role is needed and records the refusal.
        await this.request('audit.refused', { verb }, 10_000);
        throw new FerryError('FERRY_FORBIDDEN', `${verb} is not allowed for operator ${this.operator.operator}`);
      }
      if (err instanceof natsErrors.TimeoutError) throw new FerryError('FERRY_TIMEOUT', `the server did not answer ${verb} within ${timeoutMs / 1000}s`);
      throw new FerryError('FERRY_SERVER_UNREACHABLE', `request ${verb} failed: ${(err as Error).message}`);
    }
    const reply = decodeMessage(apiReplySchema, data, `${verb} reply`, MAX_REPLY_BYTES);
    if (!reply.ok) throw inputErrorFromServer(verb, errorFromWire(reply.error));
    return parseReply(verb, reply.result);
  }

  /**
   * The request and its reply, which may come in parts (a reply larger than max_payload; see
   * shared/protocol/reply-parts.ts). Errors are the client library's, as with `request` (no responders,
   * a refused publish); none within `timeoutMs` is a TimeoutError.
   */
  private async roundTrip(subject: string, payload: Uint8Array, h: ReturnType<typeof natsHeaders>, timeoutMs: number): Promise<Uint8Array> {
    const replies = await this.nc.requestMany(subject, payload, { headers: h, maxWait: timeoutMs, strategy: 'timer' });
    const parts = new ReplyAssembler();
    for await (const m of replies) {
      const whole = parts.add(m.headers?.get(REPLY_PART_HEADER) || undefined, m.data);
      if (whole) return whole; // leaving the loop ends the request
    }
    throw new natsErrors.TimeoutError();
  }

  async close(): Promise<void> {
    await this.nc.close();
  }
}

/**
 * A reply read through its verb's schema (shared/protocol/replies.ts): a server that sends another
 * shape is named in one line with the first path that differs. Fields the schema does not know
 * (a newer server's) are dropped.
 */
export function parseReply<V extends ApiVerb>(verb: V, result: unknown): ApiReplyOf<V> {
  const parsed = apiReplySchemas[verb].safeParse(result);
  if (parsed.success) {
    if (process.env.FERRY_CHECK_REPLIES === '1') checkNothingDropped(verb, result, parsed.data);
    return parsed.data as ApiReplyOf<V>;
  }
  const issue = parsed.error.issues[0];
  const where = issue && issue.path.length > 0 ? issue.path.join('.') : 'reply';
  throw new FerryError('FERRY_INVALID_MESSAGE', `${verb} reply: ${where}: ${issue?.message ?? 'not the expected shape'}`, { hint: 'is the CLI older or newer than the server?' });
}

/**
 * The tests' check (FERRY_CHECK_REPLIES=1, set by vitest.config.ts) that a schema lists every
 * field the server sends: a field the parse dropped is a schema that forgot it (and `--json`
 * would not print it).
 */
function checkNothingDropped(verb: string, sent: unknown, kept: unknown, path: string[] = []): void {
  if (Array.isArray(sent) && Array.isArray(kept)) {
    sent.forEach((v, i) => checkNothingDropped(verb, v, kept[i], [...path, String(i)]));
  } else if (sent && typeof sent === 'object' && kept && typeof kept === 'object') {
    for (const [k, v] of Object.entries(sent)) {
      if (!(k in kept) && v !== undefined) throw new FerryError('FERRY_INVALID_MESSAGE', `${verb} reply: ${[...path, k].join('.')}: a field its schema does not list (shared/protocol/replies.ts)`);
      checkNothingDropped(verb, v, (kept as Record<string, unknown>)[k], [...path, k]);
    }
  }
}

/** The credentials file the caller named can be read, else FERRY_CREDS_INVALID naming it and why. */
function assertReadable(file: string): void {
  try {
    readFileSync(file);
  } catch (err) {
    throw new FerryError('FERRY_CREDS_INVALID', `cannot read the credentials file ${file}: ${fileErrorReason(err)}`, {
      hint: 'pass the file ferry operator add wrote (--creds FILE or FERRY_CREDS), or leave both out for the data directory\'s keys/admin.creds',
    });
  }
}

/** nats-server refused the subject of a verb (AdminClient.renew falls back on it). */
class NatsRefused extends FerryError {
  constructor(verb: string) {
    super('FERRY_FORBIDDEN', `nats-server refused ${verb} for these credentials`);
  }
}

/** nats-server refused to let this user publish the subject (the error may arrive wrapped). */
function isPublishRefused(err: unknown, subject: string): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof natsErrors.PermissionViolationError && e.operation === 'publish') return true;
    if (e.message.includes(`Permissions Violation for Publish to "${subject}"`)) return true;
  }
  return false;
}
