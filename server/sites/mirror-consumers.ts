// The consumer a site's mirror asks for, made by the server. A mirror creates a push consumer on
// the stream it mirrors, and a consumer's delivery subject is a write with JetStream's authority
// (a delivery to `$JS.API.STREAM.PURGE.<stream>` would purge it): a site must not choose it. The
// mirror's `external.api` is `ferry.mirror.<site>`, so its request comes here (a service of FERRY
// that AGENTS, where sites link, imports) on a subject naming the site, which only that site's
// link user may publish; the server keeps only what a mirror needs, insists on a mirror's own
// delivery subject (`$JS.M.<token>`, streamed to AGENTS and nowhere else), adds the site's
// `--max-rate` (rate_limit_bps: nats-server paces a push consumer's deliveries), and asks
// JetStream for that consumer. Replies go only to a service import's private `_R_` subject.
// Every consumer made for a site is recorded (site_mirror_consumers, at most
// MAX_MIRROR_CONSUMERS_PER_SITE: any valid request over the site's link makes one, so the last
// one made need not be the mirror's): `site set` changes the rate of each, `site remove` deletes each.
// Sites added before per-site prefixes ask on the bare `ferry.mirror` prefix: answered as before,
// without a rate (the server cannot tell which site asks there).
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { LEGACY_MIRROR_CONSUMER_CREATE, MIRROR_CONSUMER_CREATE } from '../nats/auth-config.js';
import { BUCKETS, subjects } from '../../shared/protocol/subjects.js';
import { MAX_MIRROR_CONSUMERS_PER_SITE, type MirrorConsumerRecord, type SiteStore } from './store.js';

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
  /** per site, the end of its queue: one site's requests, rate changes and cap checks run one at a time */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly log: Logger,
    private readonly sites?: SiteStore,
  ) {}

  start(): void {
    for (const subject of [MIRROR_CONSUMER_CREATE, LEGACY_MIRROR_CONSUMER_CREATE]) this.subs.push(this.nc.subscribe(subject, { callback: (_err, msg) => void this.handle(msg).catch((err: unknown) => this.log.warn({ err: String(err) }, 'mirror consumer request failed')) }));
  }

  stop(): void {
    for (const sub of this.subs) sub.unsubscribe();
  }

  /** Run `job` after the site's earlier jobs: the cap holds and a rate change sees every consumer made before it. */
  private serial<T>(site: string, job: () => Promise<T>): Promise<T> {
    const run = (this.queues.get(site) ?? Promise.resolve()).then(job, job);
    const tail = run.catch(() => undefined);
    this.queues.set(site, tail);
    void tail.then(() => {
      if (this.queues.get(site) === tail) this.queues.delete(site);
    });
    return run;
  }

  /**
   * Give every consumer the server made for a site's mirror the site's current rate (its
   * --max-rate changed): any valid request over the site's link makes one, so the mirror's own is
   * not necessarily the last. nats-server 2.9 updates a consumer's rate_limit_bps in place when the
   * same consumer is created again by name with only that changed (consumer.go updateConfig):
   * deliveries go on from where they are, at the new rate. A consumer that was gone is made anew
   * by that request (JetStream creates what it does not find by the name): its creation time then
   * differs from the recorded one, so it is deleted again and forgotten. When the update fails the
   * consumer is deleted: the mirror, its deliveries and heartbeats stopped, asks again within
   * seconds through handle() and gets one with the new rate, from its last sequence on.
   * 'deleted' when one was, else 'updated' when one was, else 'none' (no mirror yet, or all gone:
   * the next one gets the new rate).
   */
  applyRate(site: string): Promise<'updated' | 'deleted' | 'none'> {
    return this.serial(site, async () => {
      const record = this.sites?.get(site);
      if (!record) return 'none';
      const outcomes: ('updated' | 'deleted' | 'none')[] = [];
      for (const made of this.sites!.mirrorConsumers(site)) outcomes.push(await this.applyRateTo(site, made, record.maxRateBps));
      return outcomes.includes('deleted') ? 'deleted' : outcomes.includes('updated') ? 'updated' : 'none';
    });
  }

  private async applyRateTo(site: string, made: MirrorConsumerRecord, maxRateBps: number | null): Promise<'updated' | 'deleted' | 'none'> {
    const { rate_limit_bps: _old, ...rest } = made.config;
    const config = { ...rest, ...(maxRateBps ? { rate_limit_bps: maxRateBps * 8 } : {}), name: made.name };
    try {
      const reply = (await this.nc.request(`$JS.API.CONSUMER.CREATE.${DML_STREAM}.${made.name}`, JSON.stringify({ stream_name: DML_STREAM, config }), { timeout: 5000 })).json<ConsumerCreateReply>();
      if (reply.error === undefined) {
        const created = typeof reply.created === 'string' ? reply.created : null;
        // A record from before creation times were kept cannot tell: taken as updated, its time kept from now on.
        if (made.jsCreated !== null && created !== made.jsCreated) {
          await this.deleteConsumer(site, made.name);
          this.sites?.dropMirrorConsumer(site, made.name);
          this.log.info({ site, consumer: made.name }, 'the site\'s mirror consumer was gone; forgotten');
          return 'none';
        }
        this.sites?.updateMirrorConsumer(site, { name: made.name, config, jsCreated: created });
        this.log.info({ site, consumer: made.name, maxRateBps }, 'the site\'s mirror consumer has its new rate');
        return 'updated';
      }
      this.log.warn({ site, consumer: made.name, error: reply.error }, 'cannot update the site\'s mirror consumer; deleting it');
    } catch (err) {
      this.log.warn({ site, consumer: made.name, err: String(err) }, 'cannot update the site\'s mirror consumer; deleting it');
    }
    const deleted = await this.deleteConsumer(site, made.name);
    if (deleted !== 'failed') this.sites?.dropMirrorConsumer(site, made.name);
    return deleted === 'deleted' ? 'deleted' : 'none';
  }

  /**
   * Delete a consumer the server made for a site's mirror, by its name at the hub (site remove:
   * the mirror's consumers go with the site). 'gone' when JetStream has no such consumer (it drops
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

  /**
   * Room for one more consumer of the site: at MAX_MIRROR_CONSUMERS_PER_SITE recorded, its oldest
   * are deleted at the hub (a mirror's live consumer is its newest) and forgotten. False when one
   * cannot be deleted: the request is refused then (a mirror asks again).
   */
  private async makeRoom(site: string): Promise<boolean> {
    const made = this.sites!.mirrorConsumers(site);
    for (const old of made.slice(0, Math.max(0, made.length - MAX_MIRROR_CONSUMERS_PER_SITE + 1))) {
      if ((await this.deleteConsumer(site, old.name)) === 'failed') return false;
      this.sites!.dropMirrorConsumer(site, old.name);
      this.log.warn({ site, consumer: old.name, max: MAX_MIRROR_CONSUMERS_PER_SITE }, 'the site has asked for the most mirror consumers it may have; its oldest is deleted');
    }
    return true;
  }

  private refuse(msg: Msg, site: string | undefined, error: string): void {
    this.log.warn({ site, error }, 'mirror consumer request refused');
    msg.respond(JSON.stringify({ type: 'io.nats.jetstream.api.v1.consumer_create_response', error: { code: 400, err_code: 10000, description: `ferry: ${error}` } }));
  }

  private async handle(msg: Msg): Promise<void> {
    if (!msg.reply?.startsWith('_R_.')) {
      this.log.warn({ reply: msg.reply?.slice(0, 128) }, 'mirror consumer request with an unexpected reply subject dropped');
      return;
    }
    // The subject names the site (only its link user may publish it): its rate applies.
    const siteName = siteOfRequest(msg.subject);
    if (siteName === undefined) return this.create(msg, undefined);
    return this.serial(siteName, () => this.create(msg, siteName));
  }

  private async create(msg: Msg, siteName: string | undefined): Promise<void> {
    let req: MirrorConsumerRequest;
    try {
      req = msg.json<MirrorConsumerRequest>();
    } catch {
      req = {};
    }
    const site = siteName === undefined ? undefined : this.sites?.get(siteName);
    const checked = siteName !== undefined && (!site || site.mirrorApi !== subjects.siteMirrorApiPrefix(siteName)) ? { error: `no site ${siteName} with this mirror prefix` } : checkedMirrorConsumer(req, { maxRateBps: site?.maxRateBps ?? null });
    if ('error' in checked) return this.refuse(msg, siteName, checked.error);
    if (site && !(await this.makeRoom(site.name))) return this.refuse(msg, site.name, `site ${site.name} has ${MAX_MIRROR_CONSUMERS_PER_SITE} mirror consumers and the oldest cannot be deleted now`);
    try {
      const reply = (await this.nc.request(`$JS.API.CONSUMER.CREATE.${DML_STREAM}`, JSON.stringify({ stream_name: DML_STREAM, config: checked.config }), { timeout: 5000 })).json<ConsumerCreateReply>();
      if (site && typeof reply.name === 'string') {
        const jsCreated = typeof reply.created === 'string' ? reply.created : null;
        if (!this.sites!.addMirrorConsumer(site.name, { name: reply.name, config: checked.config, jsCreated })) {
          // The site was removed meanwhile (its revocation closes the link): its consumer goes too.
          // (At the cap only if room was not made above: not recorded, so not kept either.)
          await this.deleteConsumer(site.name, reply.name);
          return this.refuse(msg, site.name, this.sites!.get(site.name) ? `site ${site.name} has ${MAX_MIRROR_CONSUMERS_PER_SITE} mirror consumers` : `no site ${site.name}`);
        }
        this.log.info({ site: site.name, consumer: reply.name, maxRateBps: site.maxRateBps }, 'made the site\'s mirror consumer');
      }
      msg.respond(JSON.stringify(asNotYetDelivered(reply, checked.config)));
    } catch (err) {
      this.log.warn({ err: String(err) }, 'cannot create a mirror consumer');
    }
  }
}
