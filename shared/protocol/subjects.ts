// Every NATS subject, bucket and stream name Ferry uses, in one place.
// Agent ids are subject-safe by construction (see AGENT_ID_PATTERN), so they can be
// interpolated into subjects without escaping.

export const AGENT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

export const BUCKETS = { dml: 'ferry-dml', desired: 'ferry-desired', leader: 'ferry-leader' } as const;
/**
 * Each operator's own upload bucket (`ferry dml add` puts the package there, then the server takes
 * it): one per person, because whoever may write into an object store may also purge it
 * (`Nats-Rollup: all`) and read or replace every object in it. Operator names are subject- and
 * bucket-safe (OPERATOR_NAME_RE), and never reused.
 */
export const uploadBucket = (operator: string) => `ferry-upload-${operator}`;
/** The stream name prefix of every operator's upload bucket. */
export const UPLOAD_STREAM_PREFIX = `OBJ_${uploadBucket('')}`;
/** The one upload bucket every operator shared before per-operator buckets: deleted at start. */
export const LEGACY_UPLOAD_BUCKET = 'ferry-upload';
export const REPORT_STREAM = 'FERRY_REPORTS';
/**
 * JetStream domains (sites as leafnodes, docs/scaling.md): the hub's, when it accepts sites, and
 * each site's own. `$JS.API.>` never crosses a leafnode link between domains; the hub is reached
 * from a site as `$JS.<HUB_DOMAIN>.API.>`.
 */
export const HUB_DOMAIN = 'hub';
export const siteDomain = (site: string) => `site-${site}`;
/** The JetStream API prefix of a domain (undefined: the local one). */
export const jsApiPrefix = (domain?: string) => (domain ? `$JS.${domain}.API` : '$JS.API');
/** The key of the signed trust document in the desired-state bucket (no agent id can clash). */
export const TRUST_KEY = '_trust';
export const REPORT_CONSUMER = 'ferry-server';

export const subjects = {
  /** admin request to the server: ferry.api.<verb>, e.g. ferry.api.rollout.start */
  api: (verb: string) => `ferry.api.${verb}`,
  apiAll: 'ferry.api.>',
  /** enrolment (from the ENROLL account): a challenge the server signs, then the join itself */
  enrollChallenge: 'ferry.enroll.challenge',
  enrollJoin: 'ferry.enroll.join',
  /** an agent from before decentralised auth asks for its user JWT */
  enrollMigrate: 'ferry.enroll.migrate',
  /** replies to one enrolment credential (`enroll-<token id>`) or migrating agent */
  enrollInboxPrefix: (name: string) => `_INBOX_enroll.${name}`,
  command: (agentId: string) => `ferry.cmd.${agentId}`,
  broadcast: (topic: string) => `ferry.broadcast.${topic}`,
  status: (agentId: string) => `ferry.agent.${agentId}.status`,
  inventory: (agentId: string) => `ferry.agent.${agentId}.inventory`,
  heartbeat: (agentId: string) => `ferry.agent.${agentId}.heartbeat`,
  allHeartbeats: 'ferry.agent.*.heartbeat',
  /** reports captured by the REPORT_STREAM so none is lost while the server is down */
  reportSubjects: ['ferry.agent.*.status', 'ferry.agent.*.inventory'],
  agentInboxPrefix: (agentId: string) => `_INBOX.${agentId}`,
  /** the admin CLI's and the server's own inboxes (in the FERRY account) */
  cliInboxPrefix: '_INBOX_cli',
  serverInboxPrefix: '_INBOX_server',
  /**
   * The JetStream API prefix a site's mirror is given (its `external.api`): its consumer request
   * reaches the hub's server, which checks it and creates the consumer (server/sites/mirror-consumers.ts).
   * Each site has its own, naming it; its link user may publish only there, so the subject proves
   * which site asks. The bare prefix is what sites added before per-site prefixes use.
   */
  mirrorApiPrefix: 'ferry.mirror',
  siteMirrorApiPrefix: (site: string) => `ferry.mirror.${site}`,
  /** replies to the server's requests about one site's mirror (outside every inbox): all a site may answer on */
  siteReplyPrefix: (site: string) => `ferry.site.${site}.reply`,
} as const;

/** The agent id a report subject belongs to, or undefined when the subject is not one. */
export function agentIdFromSubject(subject: string): string | undefined {
  const parts = subject.split('.');
  if (parts.length !== 4 || parts[0] !== 'ferry' || parts[1] !== 'agent') return undefined;
  const id = parts[2]!;
  return AGENT_ID_PATTERN.test(id) ? id : undefined;
}
