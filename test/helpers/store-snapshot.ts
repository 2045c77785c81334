// What a hostile reply subject must not change at a hub, read as the bootstrap admin: streams
// (messages, sequences, consumers), desired states and their revisions, the DML's object, the
// server's lease, audit rows and agents; and the places such a reply aims at. Shared by the
// reply-subject tests (test/security/reply-subjects.test.ts, site-link-replies.test.ts).
import Database from 'better-sqlite3';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { join } from 'node:path';
import { BUCKETS, subjects } from '../../shared/protocol/subjects.js';
import { decodeToken } from '../../shared/protocol/token.js';

export interface StoreSnapshot {
  streams: Record<string, { messages: number; first: number; last: number; consumers: string[] }>;
  desired: Record<string, number>;
  objects: string[];
  /** the server's lease (who holds it), which no hostile reply may take or delete */
  lease: string;
  audit: number;
  agents: string[];
  /** the sites and the removed sites' revoked links (site.remove must not be reachable as a reply) */
  sites: string[];
}

export interface SnapshotScope {
  /** a connection of the FERRY account (the bootstrap admin) */
  admin: NatsConnection;
  /** the server's FERRY_HOME (its database) */
  home: string;
  /** keys of the desired-state bucket to compare (agent ids, `_trust`) */
  desiredKeys: string[];
  /** the DML object to compare */
  objectName: string;
}

export async function storeSnapshot(scope: SnapshotScope): Promise<StoreSnapshot> {
  const jsm = await jetstreamManager(scope.admin);
  const streams: StoreSnapshot['streams'] = {};
  for await (const si of jsm.streams.list()) {
    const consumers: string[] = [];
    for await (const c of jsm.consumers.list(si.config.name)) consumers.push(c.name);
    // The server renews its lease every few seconds (new sequences, the same value): compared by value below.
    const renewed = si.config.name === `KV_${BUCKETS.leader}`;
    streams[si.config.name] = { messages: si.state.messages, first: renewed ? 0 : si.state.first_seq, last: renewed ? 0 : si.state.last_seq, consumers: consumers.sort() };
  }
  const lease = (await (await new Kvm(scope.admin).open(BUCKETS.leader)).get('leader'))?.string() ?? 'none';
  // Direct gets only: listing keys or objects would create consumers and change what we compare.
  const kv = await new Kvm(scope.admin).open(BUCKETS.desired);
  const desired: Record<string, number> = {};
  for (const key of scope.desiredKeys) desired[key] = (await kv.get(key))?.revision ?? -1;
  const os = await new Objm(scope.admin).open(BUCKETS.dml);
  const info = await os.info(scope.objectName);
  const objects = info ? [`${info.name}:${info.digest}:${info.size}:${info.revision}`] : [];
  const db = new Database(join(scope.home, 'ferry.db'), { readonly: true });
  try {
    const audit = (db.prepare('SELECT count(*) AS n FROM audit').get() as { n: number }).n;
    const agents = (db.prepare('SELECT id, revoked_at, nkey FROM agents ORDER BY id').all() as { id: string; revoked_at: number | null; nkey: string }[]).map((a) => `${a.id}:${a.nkey}:${a.revoked_at ?? 'active'}`);
    const sites = [
      ...(db.prepare('SELECT name FROM sites ORDER BY name').all() as { name: string }[]).map((r) => `site:${r.name}`),
      ...(db.prepare('SELECT nkey FROM site_revocations ORDER BY nkey').all() as { nkey: string }[]).map((r) => `revoked:${r.nkey}`),
    ];
    return { streams, lease, desired, objects, audit, agents, sites };
  } finally {
    db.close();
  }
}

/** The subject of a DML object's metadata (`$O.<bucket>.M.<name in base64url>`). */
export const objectMetaSubject = (objectName: string): string => `$O.${BUCKETS.dml}.M.${Buffer.from(objectName).toString('base64url')}`;

/**
 * Where a hostile client aims the replies at a hub: every place a reply must never write to, in
 * the JetStream API under `api` (`$JS.API` for a client of the hub, `$JS.hub.API` too for a site).
 */
export function hostileReplies(o: { streams: string[]; victim: string; objectName: string; token: string; apis?: string[] }): string[] {
  return [
    ...(o.apis ?? ['$JS.API']).flatMap((api) => [
      ...o.streams.flatMap((s) => [`${api}.STREAM.PURGE.${s}`, `${api}.STREAM.DELETE.${s}`, `${api}.STREAM.UPDATE.${s}`, `${api}.CONSUMER.CREATE.${s}`, `${api}.STREAM.MSG.DELETE.${s}`]),
      `${api}.CONSUMER.DELETE.FERRY_REPORTS.ferry-server`,
      `${api}.STREAM.CREATE.EVIL`,
    ]),
    `$KV.${BUCKETS.desired}.${o.victim}`,
    `$KV.${BUCKETS.desired}._trust`,
    `$KV.${BUCKETS.leader}.leader`,
    `$O.${BUCKETS.dml}.C.evilchunk`,
    objectMetaSubject(o.objectName),
    'ferry.api.agents.revoke',
    'ferry.api.token.create',
    'ferry.api.site.remove',
    // a renewal answered into it would be a request in the server's name (it is dropped: not an inbox)
    'ferry.api.operator.renew',
    subjects.command(o.victim),
    subjects.status(o.victim),
    'ferry.broadcast.evil',
    'ferry.events.evil',
    `${subjects.agentInboxPrefix(o.victim)}.evil`,
    `${subjects.cliInboxPrefix}.evil`,
    `${subjects.serverInboxPrefix}.evil`,
    `${subjects.enrollInboxPrefix(`enroll-${decodeToken(o.token).i}`)}.evil`,
  ];
}
