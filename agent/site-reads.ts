// Where an agent reads JetStream from. An agent at a site (ferry token create --site) is connected
// to the site's leafnode, whose own JetStream domain answers `$JS.API`: there the DML is the
// site's mirror, and the agent's desired state is only at the hub (`$JS.hub.API`, across the
// link). If the agent fell back to the hub itself, `$JS.API` is the hub's, so each read tries its
// sources in order. Everything else about a read (direct gets only, digests checked) is unchanged.
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { toFerryError } from '../shared/errors.js';
import { readObjectMeta, readObjectToFile, type ObjectReadOptions } from '../shared/nats/object-read.js';
import { HUB_DOMAIN, jsApiPrefix } from '../shared/protocol/subjects.js';
import type { AgentIdentity } from './config.js';

const LOCAL = jsApiPrefix();
const HUB = jsApiPrefix(HUB_DOMAIN);

/** Desired state and trust document: at the hub (the site has no copy), else wherever we are. */
export function desiredStateApis(identity: Pick<AgentIdentity, 'site'>): string[] {
  return identity.site ? [HUB, LOCAL] : [LOCAL];
}

/** Package bytes: the site's mirror first, the hub while the mirror has not caught up. */
export function dmlApis(identity: Pick<AgentIdentity, 'site'>): string[] {
  return identity.site ? [LOCAL, HUB] : [LOCAL];
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
): Promise<void> {
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
      log.info({ object: opts.name, source: apiPrefix === LOCAL && identity.site ? `site ${identity.site.name}` : apiPrefix === HUB ? 'hub' : 'server' }, 'package downloaded');
      return;
    } catch (err) {
      if (last) throw err;
      log.info({ object: opts.name, source: apiPrefix, reason: toFerryError(err).message }, 'not (all) at the site mirror yet; downloading from the hub');
    }
  }
}
