// Renders the `accounts { ... }` block of the embedded nats-server's configuration.
//
// One account, FERRY, with JetStream enabled and explicit nkey users only: there is no
// `no_auth_user` and no user in the global account, so an anonymous connection is refused
// with "Authorization Violation". Every identifier that ends up in the text is validated
// first (agent ids, nkeys) and every string is quoted, so nothing can inject config text.
import { FerryError } from '../../shared/errors.js';
import { AGENT_ID_PATTERN, BUCKETS, ENROLL_INBOX_PREFIX, ENROLL_USER, REPORT_STREAM, TRUST_KEY, subjects } from '../../shared/protocol/subjects.js';
import { NKEY_USER_PATTERN } from '../../shared/protocol/messages.js';

export interface AgentIdentity {
  /** `[a-z0-9][a-z0-9-]{0,62}`; not a reserved id (see RESERVED_AGENT_IDS). */
  id: string;
  /** Public user nkey, `U...` (56 characters). */
  nkey: string;
}

export interface AuthIdentities {
  serverNkey: string;
  adminNkey: string;
  /**
   * The enrolment user's password (it travels in join tokens). A password, not an nkey: nats-server
   * 2.9 refuses nkey logins made while it reloads its configuration, which it does on every join,
   * so under a burst of joins nkey-based enrolment mostly failed.
   */
  enrollPassword: string;
  agents: AgentIdentity[];
}

export { BUCKETS, REPORT_STREAM, ENROLL_INBOX_PREFIX, ENROLL_USER };
export const ACCOUNT = 'FERRY';

/** Subject the enroll user may publish to, and its inbox prefix (`_INBOX_enroll`). */
export const ENROLL_SUBJECT = subjects.enroll;

/**
 * Agent ids that would collide with another user's subjects: an agent called `enroll`
 * would be allowed to subscribe to `_INBOX_enroll.>`, where enrollment replies go.
 */
export const RESERVED_AGENT_IDS: readonly string[] = ['enroll'];

const AGENT_ID_RE = AGENT_ID_PATTERN;
const ENROLL_PASSWORD_RE = /^[A-Za-z0-9_-]{32,128}$/;
const USER_NKEY_RE = NKEY_USER_PATTERN;

/** The inbox prefix an agent must use (`connect({ inboxPrefix })`) to receive replies. */
export function agentInboxPrefix(agentId: string): string {
  assertAgentId(agentId);
  return `_INBOX_${agentId}`;
}

export function isValidAgentId(id: unknown): id is string {
  return typeof id === 'string' && AGENT_ID_RE.test(id) && !RESERVED_AGENT_IDS.includes(id);
}

export function isValidUserNkey(nkey: unknown): nkey is string {
  return typeof nkey === 'string' && USER_NKEY_RE.test(nkey);
}

function assertAgentId(id: unknown): asserts id is string {
  if (!isValidAgentId(id)) {
    throw new FerryError('FERRY_INVALID_INPUT', `invalid agent id ${JSON.stringify(id)}`, {
      hint: 'agent ids are 1-63 characters of a-z, 0-9 and "-", starting with a letter or digit (not "enroll")',
    });
  }
}

function assertNkey(nkey: unknown, who: string): asserts nkey is string {
  if (!isValidUserNkey(nkey)) {
    throw new FerryError('FERRY_INVALID_INPUT', `invalid public user nkey for ${who}`, {
      hint: 'a public user nkey is 56 characters: "U" followed by base32 (A-Z, 2-7)',
    });
  }
}

/** Publish/subscribe allow-lists of an agent user. Nothing else is allowed. */
export function agentPermissions(agentId: string): { publish: string[]; subscribe: string[] } {
  assertAgentId(agentId);
  const dmlStream = `OBJ_${BUCKETS.dml}`;
  const desiredStream = `KV_${BUCKETS.desired}`;
  return {
    publish: [
      `ferry.agent.${agentId}.>`,
      '$JS.API.INFO',
      `$JS.API.STREAM.INFO.${dmlStream}`,
      `$JS.API.DIRECT.GET.${dmlStream}`,
      `$JS.API.DIRECT.GET.${dmlStream}.>`,
      `$JS.API.DIRECT.GET.${desiredStream}.$KV.${BUCKETS.desired}.${agentId}`,
      `$JS.API.DIRECT.GET.${desiredStream}.$KV.${BUCKETS.desired}.${TRUST_KEY}`,
    ],
    subscribe: [`ferry.cmd.${agentId}`, 'ferry.broadcast.>', `_INBOX_${agentId}.>`],
  };
}

const FULL_ACCESS = { publish: ['>'], subscribe: ['>'] };
const ENROLL_PERMISSIONS = { publish: [ENROLL_SUBJECT], subscribe: [`${ENROLL_INBOX_PREFIX}.>`] };

/** Check everything renderAuthConfig would render; throws FERRY_INVALID_INPUT. */
export function validateAuthIdentities(ids: AuthIdentities): void {
  assertNkey(ids.serverNkey, 'the server user');
  assertNkey(ids.adminNkey, 'the admin user');
  if (typeof ids.enrollPassword !== 'string' || !ENROLL_PASSWORD_RE.test(ids.enrollPassword)) {
    throw new FerryError('FERRY_INVALID_INPUT', 'the enroll password must be 32-128 characters of A-Z, a-z, 0-9, - and _');
  }
  if (!Array.isArray(ids.agents)) throw new FerryError('FERRY_INVALID_INPUT', 'agents must be an array');
  const nkeys = new Set([ids.serverNkey, ids.adminNkey]);
  if (nkeys.size !== 2) {
    throw new FerryError('FERRY_INVALID_INPUT', 'the server and admin users must have distinct nkeys');
  }
  const agentIds = new Set<string>();
  for (const agent of ids.agents) {
    assertAgentId(agent?.id);
    assertNkey(agent.nkey, `agent ${agent.id}`);
    if (agentIds.has(agent.id)) throw new FerryError('FERRY_INVALID_INPUT', `duplicate agent id ${agent.id}`);
    if (nkeys.has(agent.nkey)) {
      throw new FerryError('FERRY_INVALID_INPUT', `agent ${agent.id} reuses an nkey that is already in use`);
    }
    agentIds.add(agent.id);
    nkeys.add(agent.nkey);
  }
}

/** A double-quoted config string. Inputs are validated, so this never needs to escape. */
function q(s: string): string {
  if (/["\\\n\r\t\u0000-\u001f]/.test(s)) {
    throw new FerryError('FERRY_INTERNAL', `refusing to quote ${JSON.stringify(s)} into the nats config`);
  }
  return `"${s}"`;
}

function renderUser(login: string | { user: string; password: string }, perms: { publish: string[]; subscribe: string[] }, indent: string): string {
  const list = (xs: string[]) => `[${xs.map(q).join(', ')}]`;
  return [
    `${indent}{`,
    ...(typeof login === 'string' ? [`${indent}  nkey: ${q(login)}`] : [`${indent}  user: ${q(login.user)}`, `${indent}  password: ${q(login.password)}`]),
    `${indent}  permissions: {`,
    `${indent}    publish: { allow: ${list(perms.publish)} }`,
    `${indent}    subscribe: { allow: ${list(perms.subscribe)} }`,
    `${indent}  }`,
    `${indent}}`,
  ].join('\n');
}

/** The `accounts { ... }` block (validated first: throws FERRY_INVALID_INPUT). */
export function renderAuthConfig(ids: AuthIdentities): string {
  validateAuthIdentities(ids);
  const indent = '      ';
  const users: string[] = [
    `${indent}# server`,
    renderUser(ids.serverNkey, FULL_ACCESS, indent),
    `${indent}# admin`,
    renderUser(ids.adminNkey, FULL_ACCESS, indent),
    `${indent}# enroll`,
    renderUser({ user: ENROLL_USER, password: ids.enrollPassword }, ENROLL_PERMISSIONS, indent),
  ];
  for (const agent of ids.agents) {
    users.push(`${indent}# agent ${agent.id}`, renderUser(agent.nkey, agentPermissions(agent.id), indent));
  }
  return [
    'accounts {',
    `  ${q(ACCOUNT)}: {`,
    '    jetstream: enabled',
    '    users: [',
    users.join('\n'),
    '    ]',
    '  }',
    '}',
    '',
  ].join('\n');
}
