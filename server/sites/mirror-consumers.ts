// The consumer a site's mirror asks for, made by the server. A mirror creates a push consumer on
// the stream it mirrors, and a consumer's delivery subject is a write with JetStream's authority
// (a delivery to `$JS.API.STREAM.PURGE.<stream>` would purge it): a site must not choose it. The
// mirror's `external.api` is `ferry.mirror.<site>`, so its request comes here (a service of FERRY
// that AGENTS, where sites link, imports) on a subject naming the site, which only that site's
// link user may publish; the server keeps only what a mirror needs, insists on a mirror's own
// delivery subject (`$JS.M.<token>`, streamed to AGENTS and nowhere else), adds the site's
// `--max-rate` (rate_limit_bps: nats-server paces a push consumer's deliveries), and asks
// JetStream for that consumer. Replies go only to a service import's private `_R_` subject.
// Sites added before per-site prefixes ask on the bare `ferry.mirror` prefix: answered as before,
// without a rate (the server cannot tell which site asks there).
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { LEGACY_MIRROR_CONSUMER_CREATE, MIRROR_CONSUMER_CREATE } from '../nats/auth-config.js';
import { BUCKETS, subjects } from '../../shared/protocol/subjects.js';
import type { SiteStore } from './store.js';

const DML_STREAM = `OBJ_${BUCKETS.dml}`;
const DELIVERY_RE = /^\$JS\.M\.[A-Za-z0-9]{1,64}$/;
const MAX_HEARTBEAT_NS = 60e9;

interface MirrorConsumerRequest {
  stream_name?: unknown;
  config?: Record<string, unknown>;
}

/**
 * The consumer config JetStream gets, or why the request is refused. `maxRateBps` (bytes per
 * second, the site's --max-rate) becomes the consumer's rate_limit_bps, which nats-server 2.9
 * takes in bits per second.
 */
export function checkedMirrorConsumer(req: MirrorConsumerRequest, site: { maxRateBps?: number | null } = {}): { config: Record<string, unknown> } | { error: string } {
  const c = req.config;
  if (req.stream_name !== DML_STREAM || !c || typeof c !== 'object') return { error: `only a mirror of ${DML_STREAM} may ask here` };
  if (typeof c.deliver_subject !== 'string' || !DELIVERY_RE.test(c.deliver_subject)) return { error: 'a mirror delivers to $JS.M.<token>' };
  if (c.filter_subject !== undefined && c.filter_subject !== '') return { error: 'a mirror of the DML takes all of it' };
  const policy = c.deliver_policy;
  if (policy !== 'all' && policy !== 'by_start_sequence') return { error: 'deliver_policy must be all or by_start_sequence' };
  const start = c.opt_start_seq;
  if (policy === 'by_start_sequence' && (typeof start !== 'number' || !Number.isSafeInteger(start) || start < 0)) return { error: 'opt_start_seq must be a sequence' };
  const heartbeat = typeof c.idle_heartbeat === 'number' && c.idle_heartbeat > 0 && c.idle_heartbeat <= MAX_HEARTBEAT_NS ? c.idle_heartbeat : 1e9;
  return {
    config: {
      deliver_subject: c.deliver_subject,
      deliver_policy: policy,
      ...(policy === 'by_start_sequence' ? { opt_start_seq: start } : {}),
      ack_policy: 'none',
      ack_wait: 22 * 3600 * 1e9,
      max_deliver: 1,
      idle_heartbeat: heartbeat,
      flow_control: true,
      direct: true,
      ...(site.maxRateBps ? { rate_limit_bps: site.maxRateBps * 8 } : {}),
    },
  };
}

interface ConsumerCreateReply {
  error?: unknown;
  delivered?: { consumer_seq: number; stream_seq: number };
  [key: string]: unknown;
}

/**
 * The reply as of the consumer's creation. A mirror skips every sequence up to the reply's
 * `delivered.stream_seq` as gone from the origin; a push consumer starts delivering at once, so a
 * reply made (or relayed) after its first deliveries made nats-server 2.9 skip messages it was
 * about to receive (a hole in the mirror, seen here under load). Before any delivery it is the
 * start sequence less one (for `all`, 0: holes at the origin's start are then skipped as the
 * deliveries show them).
 */
export function asNotYetDelivered(reply: ConsumerCreateReply, config: Record<string, unknown>): ConsumerCreateReply {
  if (reply.error !== undefined || reply.delivered === undefined) return reply;
  const start = config.deliver_policy === 'by_start_sequence' ? Number(config.opt_start_seq) : 1;
  return { ...reply, delivered: { ...reply.delivered, consumer_seq: 0, stream_seq: Math.max(0, start - 1) } };
}

/** The site a per-site request subject names (`ferry.mirror.<site>.CONSUMER.CREATE.…`); undefined for the legacy one. */
export function siteOfRequest(subject: string): string | undefined {
  const parts = subject.split('.');
  return parts.length === 6 ? parts[2] : undefined;
}

export class MirrorConsumers {
  private subs: Subscription[] = [];

  constructor(
    private readonly nc: NatsConnection,
    private readonly log: Logger,
    private readonly sites?: SiteStore,
  ) {}

  start(): void {
    for (const subject of [MIRROR_CONSUMER_CREATE, LEGACY_MIRROR_CONSUMER_CREATE]) this.subs.push(this.nc.subscribe(subject, { callback: (_err, msg) => void this.handle(msg) }));
  }

  stop(): void {
    for (const sub of this.subs) sub.unsubscribe();
  }

  /**
   * Give the consumer the server made last for a site's mirror the site's current rate (its
   * --max-rate changed). nats-server 2.9 updates a consumer's rate_limit_bps in place when the
   * same consumer is created again by name with only that changed (consumer.go updateConfig):
   * deliveries go on from where they are, at the new rate. When that fails the consumer is
   * deleted: the mirror, its deliveries and heartbeats stopped, asks again within seconds through
   * handle() and gets one with the new rate, from its last sequence on. 'none' when there is no
   * consumer to change (no mirror yet, or it went already: the next one gets the new rate).
   */
  async applyRate(site: string): Promise<'updated' | 'deleted' | 'none'> {
    const made = this.sites?.mirrorConsumer(site);
    const record = this.sites?.get(site);
    if (!made || !record) return 'none';
    const { rate_limit_bps: _old, ...rest } = made.config;
    const config = { ...rest, ...(record.maxRateBps ? { rate_limit_bps: record.maxRateBps * 8 } : {}), name: made.name };
    try {
      const reply = (await this.nc.request(`$JS.API.CONSUMER.CREATE.${DML_STREAM}.${made.name}`, JSON.stringify({ stream_name: DML_STREAM, config }), { timeout: 5000 })).json<ConsumerCreateReply>();
      if (reply.error === undefined) {
        this.sites?.setMirrorConsumer(site, { name: made.name, config });
        this.log.info({ site, consumer: made.name, maxRateBps: record.maxRateBps }, 'the site\'s mirror consumer has its new rate');
        return 'updated';
      }
      // 10014: consumer not found: the mirror has made (or will make) another, with the new rate.
      if ((reply.error as { err_code?: number }).err_code === 10014) return 'none';
      this.log.warn({ site, consumer: made.name, error: reply.error }, 'cannot update the site\'s mirror consumer; deleting it');
    } catch (err) {
      this.log.warn({ site, consumer: made.name, err: String(err) }, 'cannot update the site\'s mirror consumer; deleting it');
    }
    return (await this.deleteConsumer(site, made.name)) === 'deleted' ? 'deleted' : 'none';
  }

  /**
   * Delete a consumer the server made for a site's mirror, by its name at the hub (site remove:
   * the mirror's consumer goes with the site). 'gone' when JetStream has no such consumer (it drops
   * one itself about 5 s after nothing receives its deliveries); 'failed' is logged here.
   */
  async deleteConsumer(site: string, name: string): Promise<'deleted' | 'gone' | 'failed'> {
    try {
      const reply = (await this.nc.request(`$JS.API.CONSUMER.DELETE.${DML_STREAM}.${name}`, '', { timeout: 5000 })).json<{ success?: boolean; error?: { err_code?: number } }>();
      if (reply.success === true) return 'deleted';
      if (reply.error?.err_code === 10014 /* consumer not found */) return 'gone';
      this.log.warn({ site, consumer: name, error: reply.error }, 'cannot delete the site\'s mirror consumer');
    } catch (err) {
      this.log.warn({ site, consumer: name, err: String(err) }, 'cannot delete the site\'s mirror consumer');
    }
    return 'failed';
  }

  private async handle(msg: Msg): Promise<void> {
    if (!msg.reply?.startsWith('_R_.')) {
      this.log.warn({ reply: msg.reply?.slice(0, 128) }, 'mirror consumer request with an unexpected reply subject dropped');
      return;
    }
    let req: MirrorConsumerRequest;
    try {
      req = msg.json<MirrorConsumerRequest>();
    } catch {
      req = {};
    }
    // The subject names the site (only its link user may publish it): its rate applies.
    const siteName = siteOfRequest(msg.subject);
    const site = siteName === undefined ? undefined : this.sites?.get(siteName);
    const checked = siteName !== undefined && (!site || site.mirrorApi !== subjects.siteMirrorApiPrefix(siteName)) ? { error: `no site ${siteName} with this mirror prefix` } : checkedMirrorConsumer(req, { maxRateBps: site?.maxRateBps ?? null });
    if ('error' in checked) {
      this.log.warn({ site: siteName, error: checked.error }, 'mirror consumer request refused');
      msg.respond(JSON.stringify({ type: 'io.nats.jetstream.api.v1.consumer_create_response', error: { code: 400, err_code: 10000, description: `ferry: ${checked.error}` } }));
      return;
    }
    try {
      const reply = (await this.nc.request(`$JS.API.CONSUMER.CREATE.${DML_STREAM}`, JSON.stringify({ stream_name: DML_STREAM, config: checked.config }), { timeout: 5000 })).json<ConsumerCreateReply>();
      if (site && typeof reply.name === 'string') this.sites?.setMirrorConsumer(site.name, { name: reply.name, config: checked.config });
      if (site) this.log.info({ site: site.name, consumer: reply.name, maxRateBps: site.maxRateBps }, 'made the site\'s mirror consumer');
      msg.respond(JSON.stringify(asNotYetDelivered(reply, checked.config)));
    } catch (err) {
      this.log.warn({ err: String(err) }, 'cannot create a mirror consumer');
    }
  }
}
