// Where an agent reads JetStream from. An agent at a site (ferry token create --site) is connected
// to the site's leafnode, whose own JetStream domain answers `$JS.API`: there the DML is the
// site's mirror, and the agent's desired state is only at the hub (`$JS.hub.API`, across the
// link). If the agent fell back to the hub itself, `$JS.API` is the hub's, so each read tries its
// sources in order. Everything else about a read (direct gets only, digests checked) is unchanged.
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { FerryError, toFerryError } from '../shared/errors.js';
import { readObjectMeta, readObjectToFile, type ObjectReadOptions } from '../shared/nats/object-read.js';
import { HUB_DOMAIN, jsApiPrefix } from '../shared/protocol/subjects.js';
import type { AgentIdentity } from './config.js';
import { atSite } from './site-return.js';

const LOCAL = jsApiPrefix();
const HUB = jsApiPrefix(HUB_DOMAIN);

/** Desired state and trust document: at the hub (the site has no copy), else wherever we are. */
export function desiredStateApis(identity: Pick<AgentIdentity, 'site'>): string[] {
  return identity.site ? [HUB, LOCAL] : [LOCAL];
}

/**
 * Package bytes: the site's mirror first, the hub while the mirror has not caught up; at a site
 * with a --max-rate (`mirrorOnly`, from the desired state) the mirror alone.
 */
export function dmlApis(identity: Pick<AgentIdentity, 'site'>, mirrorOnly = false): string[] {
  return identity.site && !mirrorOnly ? [LOCAL, HUB] : [LOCAL];
}

/** How long an agent at a rate-limited site waits for its mirror to hold a package. */
const MIRROR_WAIT_MS = 6 * 3600_000;

/**
 * At a site with a --max-rate: the object from the site's mirror only, waiting (polling its
 * metadata, up to 30 s apart) until the mirror holds this version of it. A read that fails part-way
 * (a chunk the mirror lost, which the server repairs by making the mirror again) waits and tries
 * again. Never the hub: the mirror, paced at the site's rate, is all that crosses the link.
 */
async function readFromMirror(nc: NatsConnection, site: string, opts: ObjectReadOptions & { dest: string; expectedSha256: string; expectedSize: number; durable?: boolean }, log: Logger): Promise<void> {
  const deadline = Date.now() + MIRROR_WAIT_MS;
  let said = false;
  for (let wait = 1000; ; wait = Math.min(wait * 2, 30_000)) {
    let why: string;
    try {
      const meta = await readObjectMeta(nc, opts.bucket, opts.name, 5000, LOCAL);
      if (meta.sha256Hex === opts.expectedSha256.toLowerCase() && meta.size === opts.expectedSize) {
        await readObjectToFile(nc, { ...opts, apiPrefix: LOCAL });
        log.info({ object: opts.name, source: `site ${site}` }, 'package downloaded');
        return;
      }
      why = 'the mirror holds another version of it';
    } catch (err) {
      why = toFerryError(err).message;
    }
    if (Date.now() + wait > deadline) throw new FerryError('FERRY_TIMEOUT', `site ${site}'s mirror did not provide ${opts.name} within ${MIRROR_WAIT_MS / 3600_000} h (${why})`);
    if (!said) log.info({ object: opts.name, site, reason: why }, 'waiting for the site mirror (the site has a --max-rate: no download from the hub)');
    said = true;
    await new Promise((r) => setTimeout(r, wait));
  }
}

/**
 * Download a DML object from the first source that has all of it. A mirror keeps the hub's
 * sequence numbers and receives messages in order, and an object's metadata is written after all
 * its chunks: a mirror whose last sequence reached the metadata's (the metadata, with the
 * expected digest, is there) holds every chunk before it. A mirror without it is behind: the hub
 * serves the object. A failure part-way (a chunk missing, the site unreachable) also falls back.
 */
export async function readDmlObject(
  nc: NatsConnection,
  identity: Pick<AgentIdentity, 'site'>,
  opts: ObjectReadOptions & { dest: string; expectedSha256: string; expectedSize: number; durable?: boolean },
  log: Logger,
  mirrorOnly = false,
): Promise<void> {
  if (mirrorOnly && identity.site) return readFromMirror(nc, identity.site.name, opts, log);
  const apis = dmlApis(identity);
  for (let i = 0; i < apis.length; i++) {
    const apiPrefix = apis[i]!;
    const last = i === apis.length - 1;
    try {
      if (!last) {
        const meta = await readObjectMeta(nc, opts.bucket, opts.name, 5000, apiPrefix);
        if (meta.sha256Hex !== opts.expectedSha256.toLowerCase() || meta.size !== opts.expectedSize) {
          log.info({ object: opts.name, source: apiPrefix }, 'the site mirror holds another version of this object (behind the hub); downloading from the hub');
          continue;
        }
      }
      await readObjectToFile(nc, { ...opts, apiPrefix });
      log.info({ object: opts.name, source: sourceName(nc, identity, apiPrefix) }, 'package downloaded');
      return;
    } catch (err) {
      if (last) throw err;
      log.info({ object: opts.name, source: apiPrefix, reason: toFerryError(err).message }, 'not (all) at the site mirror yet; downloading from the hub');
    }
  }
}

/** Where a read through `apiPrefix` went: the site's mirror only when connected to the site (on the hub, `$JS.API` is the hub's). */
function sourceName(nc: NatsConnection, identity: Pick<AgentIdentity, 'site'>, apiPrefix: string): string {
  if (!identity.site) return 'server';
  return apiPrefix === LOCAL && atSite(nc, identity.site) ? `site ${identity.site.name}` : 'hub';
}
