// Who may do what on NATS: the permission table of every identity that is not the server, and
// the exports/imports that join the accounts. One table, from which the account JWTs are built
// (server/nats/accounts.ts) and the attack tests generate their cases.
//
// The accounts (decentralised auth, docs in SECURITY.md):
// - FERRY holds every stream, KV bucket and object store; only the server and the bootstrap admin
//   log in there. It exports, as *services*, exactly what agents and enrolment may ask of it, so NATS maps
//   every reply to a private `_R_` subject: a reply subject set by a client can never name
//   anything in FERRY (a JetStream API subject, a key, another agent's subject there).
// - AGENTS holds one user per host, each signed with the account's scoped signing key, whose
//   template fixes the permissions by the user's name (its agent id): own report subjects, own
//   command subject, broadcasts, own inbox, direct gets of the DML and of its own desired state.
// - ENROLL holds one user per join token (scoped the same way), who may only ask for a challenge
//   and a join.
// - MIGRATE lets agents that joined before decentralised auth fetch their JWT (its key is derived
//   from the root fingerprint, so such an agent can sign itself a user there; see
//   shared/nats/migration-key.ts); it takes no connection once every agent has its JWT.
// - OPERATORS holds the users of people, whatever their role, admins included (server/operators/):
//   they reach the admin API (the verbs of their role), for release managers and admins their own
//   upload bucket (one per person: see uploadServices) and the DML's direct gets, all as services
//   of FERRY, so their reply subjects never name anything there either. Only the bootstrap admin
//   (keys/admin.creds, the data directory's holder) is an unrestricted user of FERRY; admins added
//   before are too until `ferry operator renew` moves them here (FERRY then revokes their key).
// - SYS is nats-server's system account; the server pushes account updates (revocations) there.
import { FerryError } from '../../shared/errors.js';
import { AGENT_ID_PATTERN, BUCKETS, HUB_DOMAIN, TRUST_KEY, jsApiPrefix, siteDomain, subjects, uploadBucket } from '../../shared/protocol/subjects.js';

/** In a scoped signing key's template, replaced by nats-server with the user JWT's name. */
export const NAME = '{{name()}}';

export interface Permissions {
  publish: string[];
  subscribe: string[];
}

const DML_STREAM = `OBJ_${BUCKETS.dml}`;
const DESIRED_STREAM = `KV_${BUCKETS.desired}`;
/** The hub's JetStream API as a site sees it (sites as leafnodes: `$JS.API` stays at the site). */
const HUB_API = jsApiPrefix(HUB_DOMAIN);

/** What every agent may do, with NAME standing for its agent id. */
export const AGENT_TEMPLATE: Permissions = {
  publish: [
    subjects.status(NAME),
    subjects.inventory(NAME),
    subjects.heartbeat(NAME),
    `$JS.API.DIRECT.GET.${DML_STREAM}`,
    `$JS.API.DIRECT.GET.${DML_STREAM}.>`,
    `$JS.API.DIRECT.GET.${DESIRED_STREAM}.$KV.${BUCKETS.desired}.${NAME}`,
    `$JS.API.DIRECT.GET.${DESIRED_STREAM}.$KV.${BUCKETS.desired}.${TRUST_KEY}`,
    // The same reads at the hub, for an agent at a site (whose `$JS.API` is the site's mirror):
    // its desired state lives only at the hub, and the DML there is the fallback while the
    // mirror catches up.
    `${HUB_API}.DIRECT.GET.${DML_STREAM}`,
    `${HUB_API}.DIRECT.GET.${DML_STREAM}.>`,
    `${HUB_API}.DIRECT.GET.${DESIRED_STREAM}.$KV.${BUCKETS.desired}.${NAME}`,
    `${HUB_API}.DIRECT.GET.${DESIRED_STREAM}.$KV.${BUCKETS.desired}.${TRUST_KEY}`,
  ],
  subscribe: [subjects.command(NAME), subjects.broadcast('>'), `${subjects.agentInboxPrefix(NAME)}.>`],
};

/**
 * A site's leafnode link: a user of AGENTS (not FERRY) at the hub, one per site, signed with the
 * account's own key. What the site sends enters AGENTS and reaches FERRY only through AGENTS's
 * service imports, like the agents' own messages: a reply subject set at the site is mapped to a
 * private `_R_` subject and can never name anything in FERRY. For a leafnode, `publish` is what the
 * site may send into the hub and `subscribe` what the hub sends to it. The site sends its agents'
 * reports, heartbeats and reads at the hub (desired state; the DML while the mirror lags), its
 * mirror's consumer request (to the server, which checks it: a consumer's delivery subject is a
 * write) and flow control, and replies to the server's requests about its mirror on a reply prefix
 * of its own; it receives commands, broadcasts, replies, the mirror's deliveries, and the server's
 * requests to its JetStream domain (about the mirror only).
 */
export function siteLinkPermissions(site: string): Permissions {
  const siteApi = jsApiPrefix(siteDomain(site));
  return {
    publish: [
      subjects.status('*'),
      subjects.inventory('*'),
      subjects.heartbeat('*'),
      `${HUB_API}.DIRECT.GET.${DESIRED_STREAM}.$KV.${BUCKETS.desired}.*`,
      `${HUB_API}.DIRECT.GET.${DML_STREAM}`,
      `${HUB_API}.DIRECT.GET.${DML_STREAM}.>`,
      mirrorConsumerCreate(site),
      MIRROR_FLOW_CONTROL,
      `${subjects.siteReplyPrefix(site)}.>`,
    ],
    subscribe: ['ferry.cmd.*', subjects.broadcast('>'), '_R_.>', '$JSC.R.>', MIRROR_DELIVERY, ...['INFO', 'CREATE', 'DELETE'].map((op) => `${siteApi}.STREAM.${op}.${DML_STREAM}`)],
  };
}

/**
 * A site mirror's consumer request, answered by the server (it creates a checked consumer): each
 * site's own subject (its mirror's API prefix names it, and its link user may publish only that
 * one), so the server knows which site asks and a site cannot ask in another's name.
 */
export const mirrorConsumerCreate = (site: string): string => `${subjects.siteMirrorApiPrefix(site)}.CONSUMER.CREATE.${DML_STREAM}`;
/** Every site's consumer request (what the server answers and FERRY exports). */
export const MIRROR_CONSUMER_CREATE = mirrorConsumerCreate('*');
/**
 * The one subject of sites added before per-site prefixes (their link users may publish it and
 * nothing of the per-site kind): the server still answers it, without knowing the site, so their
 * consumers get no rate limit (README, "Sites").
 */
export const LEGACY_MIRROR_CONSUMER_CREATE = `${subjects.mirrorApiPrefix}.CONSUMER.CREATE.${DML_STREAM}`;
/** Flow control of a mirror's consumer (the site answers it). */
export const MIRROR_FLOW_CONTROL = `$JS.FC.${DML_STREAM}.>`;
/** Where a mirror's consumer delivers: `$JS.M.<token>` (nats-server's own choice for mirrors). */
export const MIRROR_DELIVERY = '$JS.M.*';
/** The server's requests to sites' JetStream domains about their mirror. */
export const SITE_MIRROR_REQUESTS: readonly string[] = [`$JS.*.API.STREAM.INFO.${DML_STREAM}`, `$JS.*.API.STREAM.CREATE.${DML_STREAM}`, `$JS.*.API.STREAM.DELETE.${DML_STREAM}`];

/**
 * What FERRY offers AGENTS for sites' links, beyond what agents use: services (the mirror's
 * consumer request and flow control, sites' replies to the server) and streams (the mirror's
 * deliveries, the server's requests to sites). No agent's permissions reach them.
 */
export const SITE_SERVICES: readonly string[] = [MIRROR_CONSUMER_CREATE, LEGACY_MIRROR_CONSUMER_CREATE, MIRROR_FLOW_CONTROL, `${subjects.siteReplyPrefix('*')}.>`];
export const SITE_STREAMS: readonly string[] = [MIRROR_DELIVERY, ...SITE_MIRROR_REQUESTS];

/** What the holder of a join token's enrolment credential may do (NAME: `enroll-<token id>`). */
export const ENROLL_TEMPLATE: Permissions = {
  publish: [subjects.enrollChallenge, subjects.enrollJoin],
  subscribe: [`${subjects.enrollInboxPrefix(NAME)}.>`],
};

/** What an agent from before decentralised auth does in MIGRATE (NAME: its agent id); the account allows nothing more. */
export const MIGRATE_TEMPLATE: Permissions = {
  publish: [subjects.enrollMigrate],
  subscribe: [`${subjects.enrollInboxPrefix(NAME)}.>`],
};

/** The server's own user in FERRY: its streams, its services' replies, its commands. */
export const SERVER_PERMISSIONS: Permissions = {
  publish: [
    '$JS.API.>',
    // sites' mirrors of the DML (server/sites/mirrors.ts), in each site's JetStream domain
    `$JS.*.API.STREAM.INFO.${DML_STREAM}`,
    `$JS.*.API.STREAM.CREATE.${DML_STREAM}`,
    `$JS.*.API.STREAM.DELETE.${DML_STREAM}`,
    '$JS.ACK.>',
    `$KV.${BUCKETS.desired}.>`,
    // the lease of the one server against an external NATS (server/nats/leader-lease.ts)
    `$KV.${BUCKETS.leader}.>`,
    `$O.${BUCKETS.dml}.>`,
    'ferry.cmd.*',
    subjects.broadcast('>'),
    'ferry.events.>',
    // replies: to service imports (agents, enrolment) and to the admin CLI's inbox only
    '_R_.>',
    `${subjects.cliInboxPrefix}.>`,
  ],
  subscribe: [subjects.apiAll, 'ferry.enroll.*', subjects.allHeartbeats, `${subjects.serverInboxPrefix}.>`, MIRROR_CONSUMER_CREATE, LEGACY_MIRROR_CONSUMER_CREATE, `${subjects.siteReplyPrefix('*')}.>`],
};

/**
 * What FERRY offers the OPERATORS account to every operator: the admin API (and the account's
 * JetStream info, which opening an object store asks for). Each operator's own user JWT narrows it
 * to the verbs of their role (server/operators/nats-permissions.ts); the DML's direct gets come
 * from the agents' exports; each uploader's bucket is offered on its own (uploadServices).
 */
export const OPERATOR_SERVICES: readonly string[] = [subjects.apiAll, '$JS.API.INFO'];

/**
 * What `ferry dml add` needs of one operator's own upload bucket: write into it, read it back
 * (the object store checks what it wrote). Never a wildcard over buckets: a user who may publish
 * into an object store's stream may purge it with `Nats-Rollup: all` (the store itself writes
 * its metadata with `Nats-Rollup: sub`, so the stream allows rollups), read any message in it by
 * sequence, and replace any object's metadata. FERRY exports these per operator who may upload
 * (and is not revoked), so even the account boundary names only their own buckets.
 */
export function uploadServices(operator: string): string[] {
  const bucket = uploadBucket(operator);
  return [`$JS.API.STREAM.INFO.OBJ_${bucket}`, `$JS.API.STREAM.MSG.GET.OBJ_${bucket}`, `$JS.API.DIRECT.GET.OBJ_${bucket}.>`, `$O.${bucket}.>`];
}

/** Replace NAME in a template: the permissions one user ends up with. */
export function expandTemplate(template: Permissions, name: string): Permissions {
  const fill = (s: string) => s.split('.').map((t) => (t === NAME ? name : t.replace(NAME, name))).join('.');
  return { publish: template.publish.map(fill), subscribe: template.subscribe.map(fill) };
}

/** The permissions of one agent: what nats-server derives from the template and its id. */
export function agentPermissions(agentId: string): Permissions {
  assertAgentId(agentId);
  return expandTemplate(AGENT_TEMPLATE, agentId);
}

/**
 * Subjects FERRY offers to other accounts as services: every subject an agent or an enrolment
 * client may publish to, with NAME as a wildcard. The reports stream captures the report
 * subjects; JetStream answers the direct gets; the server answers enrolment.
 */
export function serviceExports(template: Permissions): string[] {
  const subjectsOf = [...new Set(template.publish.map((s) => s.split('.').map((t) => (t === NAME ? '*' : t)).join('.')))];
  // nats-server refuses an account whose exports overlap (`….*` already covers `…._trust`).
  return subjectsOf.filter((s) => !subjectsOf.some((other) => other !== s && subjectCovers(other, s)));
}

/** Whether the wildcard subject `pattern` matches every subject `subject` matches. */
export function subjectCovers(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const t = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return t.length > i;
    if (i >= t.length || (p[i] !== '*' && p[i] !== t[i]) || (p[i] === '*' && t[i] === '>')) return false;
  }
  return p.length === t.length;
}

/** Streams FERRY sends into AGENTS: commands (an agent reads only its own) and broadcasts. */
export const AGENT_STREAM_IMPORTS: readonly string[] = ['ferry.cmd.*', subjects.broadcast('>')];

/**
 * Agent ids that would collide with another identity's subjects. Enrolment inboxes live under
 * their own prefix, so no agent id can reach them; kept for ids the CLI treats specially.
 */
export const RESERVED_AGENT_IDS: readonly string[] = ['enroll'];

export function isValidAgentId(id: unknown): id is string {
  return typeof id === 'string' && AGENT_ID_PATTERN.test(id) && !RESERVED_AGENT_IDS.includes(id);
}

function assertAgentId(id: unknown): asserts id is string {
  if (!isValidAgentId(id)) {
    throw new FerryError('FERRY_INVALID_INPUT', `invalid agent id ${JSON.stringify(id)}`, {
      hint: 'agent ids are 1-63 characters of a-z, 0-9 and "-", starting with a letter or digit (not "enroll")',
    });
  }
}
