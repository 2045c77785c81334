// Who may call what: the one table of admin API verbs and the roles allowed to call them. The
// server checks it on every signed request, the NATS permissions of each operator's user are
// derived from it, and `ferry operator roles` (and the README) print it. Every verb must appear:
// the type below makes a new verb without a row a compile error.
import type { ApiVerb } from '../protocol/api.js';

export const ROLES = ['viewer', 'deployer', 'release-manager', 'approver', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const ROLE_DESCRIPTIONS: Record<Role, string> = {
  viewer: 'reads: packages, releases, rollouts, agents, CMDB, schedule, audit',
  deployer: 'viewer + rollouts: start, pause, resume, abort, rollback, clone-config',
  'release-manager': 'viewer + packages, releases, DML authorize/retire',
  approver: 'viewer + approve releases',
  admin: 'everything: operators, tokens, agents, keys, notifications, backup',
};

const ALL: readonly Role[] = ROLES;
const ADMIN: readonly Role[] = ['admin'];

export const VERB_ROLES: Record<ApiVerb, readonly Role[]> = {
  'dml.list': ALL,
  'dml.show': ALL,
  'release.list': ALL,
  'release.show': ALL,
  'rollout.status': ALL,
  'rollout.list': ALL,
  'rollout.review': ALL,
  'agents.list': ALL,
  'cmdb.show': ALL,
  'cmdb.versions': ALL,
  'fleet.status': ALL,
  'site.list': ALL,
  'agents.logs': ALL,
  'audit.list': ALL,
  'audit.verify': ALL,
  'audit.refused': ALL,
  schedule: ALL,
  'operator.list': ALL,
  // one's own credentials only (server/operators/service.ts renew)
  'operator.renew': ALL,
  'ui.login': ALL,
  'rollout.start': ['deployer', 'admin'],
  'rollout.action': ['deployer', 'admin'],
  'cmdb.clone': ['deployer', 'admin'],
  'dml.add': ['release-manager', 'admin'],
  'dml.authorize': ['release-manager', 'admin'],
  'dml.retire': ['release-manager', 'admin'],
  'dml.export': ['release-manager', 'admin'],
  'release.create': ['release-manager', 'admin'],
  'release.approve': ['approver', 'admin'],
  'token.create': ADMIN,
  'token.list': ADMIN,
  'token.revoke': ADMIN,
  'agents.revoke': ADMIN,
  'agents.decommission': ADMIN,
  // Tags are how hosts are classified (set by admins' join tokens) and what the clone policy's
  // env tag guards: a deployer who could retag a production host as test could pass that policy.
  'agents.tag': ADMIN,
  'keys.reload': ADMIN,
  'notify.add': ADMIN,
  'notify.list': ADMIN,
  'notify.remove': ADMIN,
  'notify.test': ADMIN,
  'operator.add': ADMIN,
  'site.set': ADMIN,
  'site.remove': ADMIN,
  'operator.revoke': ADMIN,
  'backup.record': ADMIN,
};

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

export function mayCall(role: Role, verb: ApiVerb): boolean {
  // own keys only: a verb named `constructor` or `__proto__` is no verb
  return Object.hasOwn(VERB_ROLES, verb) && VERB_ROLES[verb].includes(role);
}

export function verbsOf(role: Role): ApiVerb[] {
  return (Object.keys(VERB_ROLES) as ApiVerb[]).filter((v) => mayCall(role, v));
}

/** The table as Markdown (README, `ferry operator roles`). */
export function roleTableMarkdown(): string {
  const rows = (Object.keys(VERB_ROLES) as ApiVerb[]).sort().map((v) => `| \`${v}\` | ${ROLES.map((r) => (mayCall(r, v) ? '✓' : '')).join(' | ')} |`);
  return [`| verb | ${ROLES.join(' | ')} |`, `|---|${ROLES.map(() => '---').join('|')}|`, ...rows].join('\n');
}
