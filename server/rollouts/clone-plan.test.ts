// Planning `ferry cmdb clone-config PROD --to TEST`: the changes that give the test host exactly
// the production host's versions, and the refusals.
import { describe, expect, it } from 'vitest';
import { FerryError } from '../../shared/errors.js';
import { describeClone, planClone, type DmlLookup } from './clone-plan.js';

const host = (id: string, installed: Record<string, string>) => ({ id, hostname: `${id}.example`, installed });
const dml =
  (extra: Record<string, { state?: string; depends?: Record<string, string> }> = {}): DmlLookup =>
  (name, version) =>
    extra[`${name}@${version}`] === undefined ? { state: 'authorized' } : { state: extra[`${name}@${version}`]!.state ?? 'authorized', depends: extra[`${name}@${version}`]!.depends };

function refusal(fn: () => unknown): FerryError {
  try {
    fn();
  } catch (err) {
    if (err instanceof FerryError) return err;
    throw err;
  }
  throw new Error('expected a FerryError');
}

describe('planClone', () => {
  it('installs what differs, downgrades as such, removes what production does not have, keeps the rest', () => {
    const plan = planClone(host('prod', { web: '1.0.0', db: '2.0.0', cache: '1.1.0' }), host('test', { web: '2.0.0', db: '2.0.0', extra: '0.1.0' }), dml());
    expect(plan.install).toEqual([
      { name: 'web', version: '1.0.0', downgrade: true },
      { name: 'cache', version: '1.1.0' },
    ]);
    expect(plan.remove).toEqual(['extra']);
    expect(plan.unchanged).toBe(1);
    expect(describeClone(plan)).toBe('install web@1.0.0 (downgrade), cache@1.1.0; remove extra');
  });

  it('installs dependencies first and removes dependents first', () => {
    const lookup = dml({ 'app@1.0.0': { depends: { rt: '^1' } }, 'plugin@1.0.0': { depends: { base: '*' } } });
    const plan = planClone(host('prod', { app: '1.0.0', rt: '1.2.0' }), host('test', { base: '1.0.0', plugin: '1.0.0' }), lookup);
    expect(plan.install.map((p) => p.name)).toEqual(['rt', 'app']);
    expect(plan.remove).toEqual(['plugin', 'base']);
  });

  it('an identical test host needs nothing', () => {
    const plan = planClone(host('prod', { web: '1.0.0' }), host('test', { web: '1.0.0' }), dml());
    expect(plan).toEqual({ install: [], remove: [], unchanged: 1 });
  });

  it('a retired version the test host already runs stays (only what must be installed has to be deployable)', () => {
    const plan = planClone(host('prod', { web: '1.0.0' }), host('test', { web: '1.0.0', extra: '1.0.0' }), dml({ 'web@1.0.0': { state: 'retired' } }));
    expect(plan).toEqual({ install: [], remove: ['extra'], unchanged: 1 });
  });

  it('refuses the same host twice (FERRY_USAGE)', () => {
    const e = refusal(() => planClone(host('a', {}), host('a', {}), dml()));
    expect(e.code).toBe('FERRY_USAGE');
    expect(e.message).toMatch(/two different hosts/);
  });

  it('refuses a production version that is no longer in the DML (FERRY_NOT_FOUND) or retired (FERRY_CONFLICT)', () => {
    const gone: DmlLookup = (name, version) => (name === 'web' && version === '0.9.0' ? undefined : { state: 'authorized' });
    const missing = refusal(() => planClone(host('prod', { web: '0.9.0', db: '1.0.0' }), host('test', {}), gone));
    expect(missing.code).toBe('FERRY_NOT_FOUND');
    expect(missing.message).toBe('cannot copy prod.example: it runs web@0.9.0, no longer in the DML');
    const retired = refusal(() => planClone(host('prod', { web: '1.0.0' }), host('test', { web: '2.0.0' }), dml({ 'web@1.0.0': { state: 'retired' } })));
    expect(retired.code).toBe('FERRY_CONFLICT');
    expect(retired.message).toBe('cannot copy prod.example: it runs web@1.0.0, retired in the DML');
  });
});
