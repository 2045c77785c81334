// An agent at a site connects to the site's leafnode first and to the hub only as a fallback. A
// client stays where it is once connected, so after a site restart its agents would keep reading
// packages across the WAN until their hub connection happened to drop. While connected anywhere
// but the site, the agent checks now and then whether the site is back — and linked to the hub, or
// the agent would be cut off there — and, when it is, reconnects: the site is tried first again.
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { toFerryError } from '../shared/errors.js';
import { connectNats } from '../shared/nats/connect.js';
import { directGet } from '../shared/nats/object-read.js';
import { BUCKETS, HUB_DOMAIN, jsApiPrefix, subjects } from '../shared/protocol/subjects.js';
import type { AgentIdentity } from './config.js';

export interface SiteReturnOptions {
  identity: Pick<AgentIdentity, 'agentId' | 'site' | 'tlsCa'>;
  creds: { jwt: string; seed: string };
  log: Logger;
}

/** "host:port" of a NATS URL, as the client names its current server. */
export function hostPort(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || '4222'}`;
}

/** Whether `nc` is connected to the site's leafnode (false for an agent that is not at a site). */
export function atSite(nc: NatsConnection, site: { url: string }): boolean {
  return site.url.split(',').some((u) => hostPort(u.trim()) === nc.getServer());
}

/**
 * One check: if `nc` is on the hub and the site answers, with its link to the hub up (our own
 * desired-state key read through it from the hub's JetStream), reconnect. Returns whether it did.
 */
export async function returnToSite(nc: NatsConnection, o: SiteReturnOptions): Promise<boolean> {
  const site = o.identity.site;
  if (!site || nc.isClosed() || atSite(nc, site)) return false;
  let probe: NatsConnection | undefined;
  try {
    probe = await connectNats({
      url: site.url,
      creds: o.creds,
      name: `ferry-agent ${o.identity.agentId} (site probe)`,
      inboxPrefix: subjects.agentInboxPrefix(o.identity.agentId), // the only inbox the agent may read
      failFirstConnect: true,
      attempts: 1,
      timeoutMs: 5000,
      tlsCaFile: o.identity.tlsCa,
    });
    const hub = jsApiPrefix(HUB_DOMAIN);
    await directGet(probe, `${hub}.DIRECT.GET.KV_${BUCKETS.desired}.$KV.${BUCKETS.desired}.${o.identity.agentId}`, undefined, 5000, 'desired state through the site');
  } catch (err) {
    o.log.debug({ site: site.name, reason: toFerryError(err).message }, 'site not back yet (or not linked to the hub); staying on the hub');
    return false;
  } finally {
    await probe?.close().catch(() => undefined);
  }
  o.log.info({ site: site.name, from: nc.getServer() }, 'site is back: reconnecting to it');
  await nc.reconnect();
  return true;
}
