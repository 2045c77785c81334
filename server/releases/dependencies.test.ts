import { describe, expect, it } from 'vitest';
import { FerryError } from '../../shared/errors.js';
import { planDependencies, removalOrder, unmetExternal, type DependentPackage } from './dependencies.js';
import { catchFerryError } from '../../test/helpers/errors.js';

const pkg = (name: string, version: string, depends?: Record<string, string>): DependentPackage => ({ name, version, depends });
const names = (ps: DependentPackage[]) => ps.map((p) => p.name);
const dmlHasNothing = () => false;

const invalid = (fn: () => unknown): FerryError => catchFerryError(fn);

describe('planDependencies', () => {
  it('keeps the given order when nothing depends on anything', () => {
    const plan = planDependencies([pkg('c', '1.0.0'), pkg('a', '1.0.0'), pkg('b', '1.0.0')], dmlHasNothing);
    expect(names(plan.order)).toEqual(['c', 'a', 'b']);
    expect(plan.external).toEqual([]);
  });

  it('puts a dependency before its dependent and leaves the rest stable', () => {
    const plan = planDependencies([pkg('x', '1.0.0'), pkg('app', '2.0.0', { lib: '^1.0.0' }), pkg('y', '1.0.0'), pkg('lib', '1.2.0')], dmlHasNothing);
    expect(names(plan.order)).toEqual(['x', 'y', 'lib', 'app']);
  });

  it('orders a chain a→b→c given in reverse as c, b, a', () => {
    const plan = planDependencies([pkg('a', '1.0.0', { b: '1.x' }), pkg('b', '1.0.0', { c: '1.x' }), pkg('c', '1.0.0')], dmlHasNothing);
    expect(names(plan.order)).toEqual(['c', 'b', 'a']);
  });

  it('orders a diamond: the shared dependency once, first; the top last', () => {
    const plan = planDependencies(
      [pkg('top', '1.0.0', { left: '*', right: '*' }), pkg('left', '1.0.0', { base: '>=1' }), pkg('right', '1.0.0', { base: '>=1' }), pkg('base', '1.5.0')],
      dmlHasNothing,
    );
    expect(names(plan.order)).toEqual(['base', 'left', 'right', 'top']);
  });

  it('returns the same package objects it was given', () => {
    const a = { ...pkg('a', '1.0.0'), extra: 42 };
    const plan = planDependencies([a], dmlHasNothing);
    expect(plan.order[0]).toBe(a);
  });

  it('refuses a shipped dependency whose version is outside the range', () => {
    const fe = invalid(() => planDependencies([pkg('app', '1.0.0', { lib: '^2.0.0' }), pkg('lib', '1.9.0')], () => true));
    expect(fe.message).toBe('app@1.0.0 needs lib ^2.0.0, but the release has lib@1.9.0');
    expect(fe.hint).toContain('satisfies ^2.0.0');
  });

  it('does not consult the DML for a dependency the release ships', () => {
    const asked: string[] = [];
    planDependencies([pkg('app', '1.0.0', { lib: '^1' }), pkg('lib', '1.0.0')], (name) => {
      asked.push(name);
      return true;
    });
    expect(asked).toEqual([]);
  });

  it('lists a dependency not shipped but available in the DML as external', () => {
    const asked: [string, string][] = [];
    const plan = planDependencies([pkg('app', '1.0.0', { openssl: '>=3.0.0', lib: '^1' }), pkg('lib', '1.0.0')], (name, range) => {
      asked.push([name, range]);
      return name === 'openssl';
    });
    expect(asked).toEqual([['openssl', '>=3.0.0']]);
    expect(plan.external).toEqual([{ package: 'app', name: 'openssl', range: '>=3.0.0' }]);
    expect(names(plan.order)).toEqual(['lib', 'app']);
  });

  it('refuses a dependency neither shipped nor satisfiable from the DML', () => {
    const fe = invalid(() => planDependencies([pkg('app', '1.0.0', { openssl: '>=3.0.0' })], dmlHasNothing));
    expect(fe.message).toBe('app@1.0.0 needs openssl >=3.0.0, and no deployable version in the DML satisfies it');
    expect(fe.hint).toContain('add openssl');
  });

  it('refuses a package that depends on itself', () => {
    const fe = invalid(() => planDependencies([pkg('app', '1.0.0', { app: '*' })], () => true));
    expect(fe.message).toBe('app@1.0.0 depends on itself');
  });

  it('refuses a two-package cycle and names both', () => {
    const fe = invalid(() => planDependencies([pkg('a', '1.0.0', { b: '*' }), pkg('b', '1.0.0', { a: '*' })], dmlHasNothing));
    expect(fe.message).toBe("the release's dependencies form a cycle: a, b");
  });

  it('refuses a three-package cycle, naming its members but not independent packages', () => {
    const fe = invalid(() =>
      planDependencies([pkg('free', '1.0.0'), pkg('a', '1.0.0', { b: '*' }), pkg('b', '1.0.0', { c: '*' }), pkg('c', '1.0.0', { a: '*' })], dmlHasNothing),
    );
    expect(fe.message).toMatch(/form a cycle: a, b, c$/);
    expect(fe.message).not.toContain('free');
  });
});

describe('unmetExternal', () => {
  const external = [
    { package: 'app', name: 'openssl', range: '>=3.0.0' },
    { package: 'app', name: 'zlib', range: '^1.2.0' },
  ];

  it('reports a dependency the host does not have', () => {
    expect(unmetExternal(external, { zlib: '1.2.13' })).toBe('incompatible: app needs openssl >=3.0.0, host has no openssl');
  });

  it('reports a dependency whose installed version is out of range', () => {
    expect(unmetExternal(external, { openssl: '3.1.0', zlib: '2.0.0' })).toBe('incompatible: app needs zlib ^1.2.0, host has zlib@2.0.0');
  });

  it('returns undefined when every dependency is satisfied', () => {
    expect(unmetExternal(external, { openssl: '3.1.0', zlib: '1.3.1', other: '0.0.1' })).toBeUndefined();
  });

  it('returns undefined when there are no external dependencies', () => {
    expect(unmetExternal([], {})).toBeUndefined();
  });
});

describe('removalOrder', () => {
  it('removes dependents before what they depend on, alphabetically otherwise', () => {
    expect(removalOrder([{ name: 'rt' }, { name: 'app', depends: { rt: '^2' } }, { name: 'zz' }, { name: 'lib', depends: { rt: '*' } }])).toEqual(['zz', 'lib', 'app', 'rt']);
  });
  it('follows chains and ignores dependencies outside the list', () => {
    expect(removalOrder([{ name: 'a' }, { name: 'b', depends: { a: '*' } }, { name: 'c', depends: { b: '*', missing: '*' } }])).toEqual(['c', 'b', 'a']);
  });
  it('keeps a stable order for a cycle rather than failing', () => {
    expect(removalOrder([{ name: 'y', depends: { x: '*' } }, { name: 'x', depends: { y: '*' } }])).toEqual(['x', 'y']);
  });
});
