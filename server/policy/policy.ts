// The deployment policy: per environment (the value of the `env` tag), what a rollout needs before
// it may start. Kept as policy.json in the data directory, read on every rollout start so an edit
// takes effect at once; a broken file refuses rollouts rather than silently allowing them.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as z from 'zod';
import { FerryError } from '../../shared/errors.js';

const ruleSchema = z
  .object({
    /** every package of the release must be `authorized` in the DML */
    requireAuthorized: z.boolean().default(false),
    /** the release needs at least this many approvals (`ferry release approve`) */
    requireApprovals: z.number().int().nonnegative().max(100).default(0),
    /** a rollout of the same release must have completed on hosts of each of these environments */
    requireCompletedIn: z.array(z.string().min(1).max(64)).max(16).default([]),
  })
  .strict();
export type PolicyRule = z.output<typeof ruleSchema>;

export const policySchema = z
  .object({
    version: z.literal(1),
    /** the host tag that names its environment */
    envTag: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).default('env'),
    environments: z.record(z.string().min(1).max(64), ruleSchema).default({}),
    /** for hosts whose environment is not listed (or that have no env tag) */
    default: ruleSchema.default({ requireAuthorized: false, requireApprovals: 0, requireCompletedIn: [] }),
  })
  .strict();
export type Policy = z.output<typeof policySchema>;

/** What `ferry init` writes: production needs authorized packages, an approval and a test run. */
export const DEFAULT_POLICY = {
  version: 1,
  envTag: 'env',
  environments: {
    prod: { requireAuthorized: true, requireApprovals: 1, requireCompletedIn: ['test'] },
  },
  default: { requireAuthorized: false, requireApprovals: 0, requireCompletedIn: [] },
} as const;

export function writeDefaultPolicy(file: string): boolean {
  if (existsSync(file)) return false;
  writeFileSync(file, JSON.stringify(DEFAULT_POLICY, null, 2) + '\n', { mode: 0o644 });
  return true;
}

/** Read and validate the policy; no file means no requirements anywhere. */
export function loadPolicy(file: string): Policy {
  if (!existsSync(file)) return policySchema.parse({ version: 1 });
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new FerryError('FERRY_INVALID_INPUT', `policy ${file} is not valid JSON: ${(err as Error).message}`, { hint: 'fix the file; rollouts are refused until then' });
  }
  const parsed = policySchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new FerryError('FERRY_INVALID_INPUT', `policy ${file}: ${issue.path.join('.') || '(top)'} ${issue.message}`, { hint: 'fix the file; rollouts are refused until then' });
  }
  return parsed.data;
}

export interface PolicyFacts {
  release: string;
  /** a removal (`rollout start --remove`): nothing to authorize or approve; test evidence still applies */
  removal?: boolean;
  /** environments the rollout reaches ('' for hosts without an env tag) */
  environments: string[];
  packages: { name: string; version: string; state: string }[];
  approvals: number;
  /** approvals that do not count (four eyes), said in the verdict */
  uncounted?: { by: string; reason: string }[];
  /** environment → id of a completed rollout of this release there, if any */
  completedIn: (env: string) => string | undefined;
}

export interface PolicyVerdict {
  environments: string[];
  violations: string[];
  /** rollouts that satisfied a requireCompletedIn rule */
  evidence: { environment: string; rollout: string }[];
  /** approvals that did not count (four eyes): who, and why */
  uncountedApprovals?: { by: string; reason: string }[];
}

/** Check a rollout against the policy. Pure. */
export function evaluatePolicy(policy: Policy, facts: PolicyFacts): PolicyVerdict {
  const violations: string[] = [];
  const evidence: PolicyVerdict['evidence'] = [];
  const seen = new Set<string>();
  const add = (v: string) => {
    if (!seen.has(v)) violations.push(v);
    seen.add(v);
  };
  for (const env of [...new Set(facts.environments)].sort()) {
    const rule = (env && policy.environments[env]) || policy.default;
    const where = env ? `${policy.envTag}=${env}` : `hosts without an ${policy.envTag} tag`;
    if (rule.requireAuthorized && !facts.removal) {
      for (const p of facts.packages.filter((p) => p.state !== 'authorized')) add(`${where} needs authorized packages: ${p.name}@${p.version} is ${p.state}`);
    }
    if (!facts.removal && facts.approvals < rule.requireApprovals) {
      const uncounted = facts.uncounted?.length ? ` (not counted: ${facts.uncounted.map((u) => `${u.by} — ${u.reason}`).join('; ')})` : '';
      add(`${where} needs ${rule.requireApprovals} approval(s) of release ${facts.release}, it has ${facts.approvals}${uncounted}`);
    }
    for (const needed of rule.requireCompletedIn) {
      const id = facts.completedIn(needed);
      if (id) evidence.push({ environment: needed, rollout: id });
      else add(`${where} needs a completed rollout of ${facts.removal ? `"${facts.release}"` : facts.release} on ${policy.envTag}=${needed} hosts first`);
    }
  }
  return { environments: [...new Set(facts.environments)].sort(), violations, evidence, ...(facts.uncounted?.length ? { uncountedApprovals: facts.uncounted } : {}) };
}
