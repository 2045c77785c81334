import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../shared/errors.js';
import { DEFAULT_POLICY, evaluatePolicy, loadPolicy, policySchema, writeDefaultPolicy, type Policy, type PolicyFacts } from './policy.js';
import { catchFerryError } from '../../test/helpers/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-policy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (content?: string) => {
  const f = join(dir, `policy-${n++}.json`);
  if (content !== undefined) writeFileSync(f, content);
  return f;
};

function invalid(fn: () => unknown): FerryError {
  const fe = catchFerryError(fn);
  expect(fe.hint).toContain('rollouts are refused');
  return fe;
}

describe('loadPolicy', () => {
  it('means no requirements anywhere when the file is missing', () => {
    const p = loadPolicy(file());
    expect(p).toEqual({ version: 1, envTag: 'env', environments: {}, default: { requireAuthorized: false, requireApprovals: 0, requireCompletedIn: [] } });
  });

  it('reads the default policy back as written', () => {
    const f = file(JSON.stringify(DEFAULT_POLICY));
    expect(loadPolicy(f)).toEqual(DEFAULT_POLICY);
  });

  it('fills in defaults for omitted rule fields', () => {
    const p = loadPolicy(file(JSON.stringify({ version: 1, environments: { prod: { requireApprovals: 2 } } })));
    expect(p.environments.prod).toEqual({ requireAuthorized: false, requireApprovals: 2, requireCompletedIn: [] });
    expect(p.envTag).toBe('env');
  });

  it('refuses a file that is not JSON, on one line', () => {
    const f = file('{ "version": 1,\n  oops }');
    const fe = invalid(() => loadPolicy(f));
    expect(fe.message).toContain(`policy ${f} is not valid JSON`);
  });

  it('refuses a negative approval count, naming the path', () => {
    const f = file(JSON.stringify({ version: 1, environments: { prod: { requireApprovals: -1 } } }));
    const fe = invalid(() => loadPolicy(f));
    expect(fe.message).toContain(`policy ${f}: environments.prod.requireApprovals`);
  });

  it('refuses an unknown key in a rule, naming the path', () => {
    const f = file(JSON.stringify({ version: 1, environments: { prod: { requireApproval: 1 } } }));
    const fe = invalid(() => loadPolicy(f));
    expect(fe.message).toContain(`policy ${f}: environments.prod`);
    expect(fe.message).toContain('requireApproval');
  });

  it('refuses an unknown top-level key and a wrong version', () => {
    expect(invalid(() => loadPolicy(file(JSON.stringify({ version: 1, enviroments: {} })))).message).toContain('enviroments');
    expect(invalid(() => loadPolicy(file(JSON.stringify({ version: 2 })))).message).toContain(': version ');
  });

  it('refuses an invalid env tag', () => {
    expect(invalid(() => loadPolicy(file(JSON.stringify({ version: 1, envTag: 'has space' })))).message).toContain(': envTag ');
  });
});

describe('writeDefaultPolicy', () => {
  it('writes DEFAULT_POLICY when there is no file', () => {
    const f = file();
    expect(writeDefaultPolicy(f)).toBe(true);
    expect(JSON.parse(readFileSync(f, 'utf8'))).toEqual(DEFAULT_POLICY);
    expect(loadPolicy(f)).toEqual(DEFAULT_POLICY);
  });

  it('never overwrites an existing (edited) file', () => {
    const f = file();
    expect(writeDefaultPolicy(f)).toBe(true);
    const edited = JSON.stringify({ version: 1, environments: { prod: { requireApprovals: 3 } } });
    writeFileSync(f, edited);
    expect(writeDefaultPolicy(f)).toBe(false);
    expect(readFileSync(f, 'utf8')).toBe(edited);
  });
});

describe('evaluatePolicy', () => {
  const policy: Policy = policySchema.parse(DEFAULT_POLICY);

  const facts = (over: Partial<PolicyFacts> = {}): PolicyFacts => ({
    release: 'rel-1',
    environments: ['prod'],
    packages: [
      { name: 'web', version: '1.0.0', state: 'authorized' },
      { name: 'db', version: '2.0.0', state: 'authorized' },
    ],
    approvals: 1,
    completedIn: (env) => (env === 'test' ? 'ro-test-1' : undefined),
    ...over,
  });

  it('lets a prod rollout through when every requirement is met, with the evidence', () => {
    expect(evaluatePolicy(policy, facts())).toEqual({ environments: ['prod'], violations: [], evidence: [{ environment: 'test', rollout: 'ro-test-1' }] });
  });

  it('prod needs authorized packages: names each one that is not', () => {
    const v = evaluatePolicy(
      policy,
      facts({
        packages: [
          { name: 'web', version: '1.0.0', state: 'tested' },
          { name: 'db', version: '2.0.0', state: 'authorized' },
          { name: 'cache', version: '0.1.0', state: 'uploaded' },
        ],
      }),
    );
    expect(v.violations).toEqual(['env=prod needs authorized packages: web@1.0.0 is tested', 'env=prod needs authorized packages: cache@0.1.0 is uploaded']);
  });

  it('prod needs an approval', () => {
    expect(evaluatePolicy(policy, facts({ approvals: 0 })).violations).toEqual(['env=prod needs 1 approval(s) of release rel-1, it has 0']);
  });

  it('prod needs a completed test rollout first', () => {
    const v = evaluatePolicy(policy, facts({ completedIn: () => undefined }));
    expect(v.violations).toEqual(['env=prod needs a completed rollout of rel-1 on env=test hosts first']);
    expect(v.evidence).toEqual([]);
  });

  it('reports all violations together', () => {
    const v = evaluatePolicy(policy, facts({ approvals: 0, completedIn: () => undefined, packages: [{ name: 'web', version: '1.0.0', state: 'tested' }] }));
    expect(v.violations).toHaveLength(3);
  });

  it('non-prod environments and hosts without an env tag use the default rule', () => {
    const v = evaluatePolicy(policy, facts({ environments: ['test', '', 'staging'], approvals: 0, completedIn: () => undefined, packages: [{ name: 'web', version: '1.0.0', state: 'uploaded' }] }));
    expect(v).toEqual({ environments: ['', 'staging', 'test'], violations: [], evidence: [] });
  });

  it('a strict default applies to hosts without an env tag and to unlisted environments', () => {
    const strict = policySchema.parse({ version: 1, default: { requireApprovals: 2 } });
    const v = evaluatePolicy(strict, facts({ environments: ['', 'dev'], approvals: 1 }));
    expect(v.violations).toEqual([
      'hosts without an env tag needs 2 approval(s) of release rel-1, it has 1',
      'env=dev needs 2 approval(s) of release rel-1, it has 1',
    ]);
  });

  it('a rollout that reaches prod among others is held to the prod rule', () => {
    const v = evaluatePolicy(policy, facts({ environments: ['test', 'prod', 'test'], approvals: 0 }));
    expect(v.environments).toEqual(['prod', 'test']);
    expect(v.violations).toEqual(['env=prod needs 1 approval(s) of release rel-1, it has 0']);
  });

  it('does not repeat an identical violation', () => {
    // The same environment listed twice, and a rule that names the same prerequisite twice.
    const v = evaluatePolicy(policy, facts({ environments: ['prod', 'prod'], approvals: 0 }));
    expect(v.violations).toEqual(['env=prod needs 1 approval(s) of release rel-1, it has 0']);
    const twice = policySchema.parse({ version: 1, environments: { prod: { requireCompletedIn: ['test', 'test'] } } });
    expect(evaluatePolicy(twice, facts({ completedIn: () => undefined })).violations).toEqual(['env=prod needs a completed rollout of rel-1 on env=test hosts first']);
  });

  it('environments sharing a rule each get their own violation, naming them', () => {
    const shared = policySchema.parse({
      version: 1,
      environments: { 'prod-eu': { requireCompletedIn: ['test', 'stage'] }, 'prod-us': { requireCompletedIn: ['test', 'stage'] } },
    });
    const v = evaluatePolicy(shared, facts({ environments: ['prod-us', 'prod-eu'], completedIn: (e) => (e === 'test' ? 'ro-t' : undefined) }));
    expect(v.violations).toEqual([
      'env=prod-eu needs a completed rollout of rel-1 on env=stage hosts first',
      'env=prod-us needs a completed rollout of rel-1 on env=stage hosts first',
    ]);
    expect(v.evidence).toEqual([
      { environment: 'test', rollout: 'ro-t' },
      { environment: 'test', rollout: 'ro-t' },
    ]);
  });

  it('uses a custom envTag in its messages', () => {
    const custom = policySchema.parse({ version: 1, envTag: 'stage', environments: { live: { requireApprovals: 1, requireCompletedIn: ['qa'] } } });
    const v = evaluatePolicy(custom, facts({ environments: ['live', ''], approvals: 0, completedIn: () => undefined }));
    expect(v.violations).toEqual(['stage=live needs 1 approval(s) of release rel-1, it has 0', 'stage=live needs a completed rollout of rel-1 on stage=qa hosts first']);
    const untagged = policySchema.parse({ version: 1, envTag: 'stage', default: { requireApprovals: 1 } });
    expect(evaluatePolicy(untagged, facts({ environments: [''], approvals: 0 })).violations).toEqual(['hosts without an stage tag needs 1 approval(s) of release rel-1, it has 0']);
  });
});
