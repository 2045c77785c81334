// Planning `ferry cmdb clone-config PROD --to TEST`: what the test host must install, downgrade
// and remove so that its installed set is exactly the production host's. Pure: the caller
// supplies both hosts' installed maps (from the CMDB) and what the DML knows of a version.
import { FerryError } from '../../shared/errors.js';
import { planDependencies, removalOrder } from '../releases/dependencies.js';
import { isDowngrade } from './plan.js';

export interface CloneHost {
  id: string;
  hostname: string;
  installed: Record<string, string>;
}

/** What the DML holds of one package version (undefined: not in the DML). */
export type DmlLookup = (name: string, version: string) => { state: string; depends?: Record<string, string> | undefined } | undefined;

export interface ClonePackage {
  name: string;
  version: string;
  /** the test host has a newer version: sent as a signed rollback so the agent accepts it */
  downgrade?: true;
}

export interface ClonePlan {
  /** in install order (dependencies first) */
  install: ClonePackage[];
  /** in removal order (dependents first) */
  remove: string[];
  /** packages the test host already has at the production version */
  unchanged: number;
}

/** The changes that give `test` the installed set of `prod`; refused when that cannot be done. */
export function planClone(prod: CloneHost, test: CloneHost, dml: DmlLookup): ClonePlan {
  if (prod.id === test.id) {
    throw new FerryError('FERRY_USAGE', `clone-config needs two different hosts: ${prod.hostname} (${prod.id}) is both the production and the test host`, {
      hint: 'ferry cmdb clone-config PROD_HOST --to TEST_HOST',
    });
  }
  const wanted = Object.entries(prod.installed).map(([name, version]) => ({ name, version }));
  // Only what the test host must install has to be deployable; a version it already has stays.
  const changed = wanted.filter((p) => test.installed[p.name] !== p.version);
  const missing = changed.filter((p) => dml(p.name, p.version) === undefined).map(ref);
  if (missing.length) {
    throw new FerryError('FERRY_NOT_FOUND', `cannot copy ${prod.hostname}: it runs ${missing.join(', ')}, no longer in the DML`, {
      hint: 'add that version to the DML again (ferry dml add FILE), or update the production host first',
      details: { missing },
    });
  }
  const retired = changed.filter((p) => dml(p.name, p.version)!.state === 'retired').map(ref);
  if (retired.length) {
    throw new FerryError('FERRY_CONFLICT', `cannot copy ${prod.hostname}: it runs ${retired.join(', ')}, retired in the DML`, {
      hint: 'update the production host to a deployable version first (see: ferry cmdb show PROD_HOST)',
      details: { retired },
    });
  }
  // Dependencies first; a dependency the test host keeps is already at the production version.
  const ordered = planDependencies(
    changed.map((p) => ({ ...p, depends: dml(p.name, p.version)!.depends })),
    () => true,
  ).order;
  const install = ordered.map((p): ClonePackage => ({ name: p.name, version: p.version, ...(isDowngrade(test.installed[p.name], p.version) ? { downgrade: true as const } : {}) }));
  const extra = Object.entries(test.installed).filter(([name]) => prod.installed[name] === undefined);
  const remove = removalOrder(extra.map(([name, version]) => ({ name, depends: dml(name, version)?.depends })));
  return { install, remove, unchanged: wanted.length - changed.length };
}

/** The plan in one line: "install a@1, b@2 (downgrade); remove c". */
export function describeClone(plan: Pick<ClonePlan, 'install' | 'remove'>): string {
  const parts = [
    ...(plan.install.length ? [`install ${plan.install.map((p) => `${ref(p)}${p.downgrade ? ' (downgrade)' : ''}`).join(', ')}`] : []),
    ...(plan.remove.length ? [`remove ${plan.remove.join(', ')}`] : []),
  ];
  return parts.join('; ') || 'nothing to change';
}

function ref(p: { name: string; version: string }): string {
  return `${p.name}@${p.version}`;
}
