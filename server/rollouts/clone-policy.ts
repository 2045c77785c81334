// The deployment policy applied to `ferry cmdb clone-config`: the copy changes one host, so that
// host's environment rules apply. A copy has no release to approve or to have tested first, so an
// environment that asks for approvals or test evidence (production, by default) takes no copies:
// those hosts change only through releases.
import type { Policy } from '../policy/policy.js';

/** Why the policy refuses this copy onto a host of environment `env` ('' = no env tag); empty if allowed. */
export function clonePolicyViolations(policy: Policy, env: string, installs: { name: string; version: string; state: string }[]): string[] {
  const rule = (env && policy.environments[env]) || policy.default;
  const where = env ? `${policy.envTag}=${env}` : `hosts without an ${policy.envTag} tag`;
  const violations: string[] = [];
  if (rule.requireApprovals > 0 || rule.requireCompletedIn.length > 0) {
    violations.push(`${where} hosts change only through approved, tested releases; clone-config copies onto test hosts`);
  }
  if (rule.requireAuthorized) {
    for (const p of installs.filter((p) => p.state !== 'authorized')) violations.push(`${where} needs authorized packages: ${p.name}@${p.version} is ${p.state}`);
  }
  return violations;
}
