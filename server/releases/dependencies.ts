// Dependencies between a release's packages (`depends` in ferry.json): check that they can be
// satisfied and put the packages in install order. Pure: the caller supplies what the DML has.
import semver from 'semver';
import { FerryError } from '../../shared/errors.js';

export interface DependentPackage {
  name: string;
  version: string;
  /** package name → semver range */
  depends?: Record<string, string> | undefined;
}

/** A dependency the release does not ship: the host must already have a matching version. */
export interface ExternalDependency {
  package: string;
  name: string;
  range: string;
}

export interface DependencyPlan<P extends DependentPackage> {
  /** every package after the ones it depends on; otherwise in the order given */
  order: P[];
  external: ExternalDependency[];
}

/**
 * Order a release's packages so dependencies install first, and list the dependencies it does
 * not ship. `dmlHas(name, range)` says whether the DML holds a deployable version in range: a
 * dependency nothing could ever satisfy is refused now rather than on every host later.
 */
export function planDependencies<P extends DependentPackage>(packages: P[], dmlHas: (name: string, range: string) => boolean): DependencyPlan<P> {
  const byName = new Map(packages.map((p) => [p.name, p]));
  const external: ExternalDependency[] = [];
  const needs = new Map<string, string[]>();
  for (const p of packages) {
    const inRelease: string[] = [];
    for (const [dep, range] of Object.entries(p.depends ?? {})) {
      if (dep === p.name) throw new FerryError('FERRY_INVALID_INPUT', `${p.name}@${p.version} depends on itself`);
      const shipped = byName.get(dep);
      if (shipped) {
        if (!semver.satisfies(shipped.version, range)) {
          throw new FerryError('FERRY_INVALID_INPUT', `${p.name}@${p.version} needs ${dep} ${range}, but the release has ${dep}@${shipped.version}`, {
            hint: `add a version of ${dep} that satisfies ${range}`,
          });
        }
        inRelease.push(dep);
      } else {
        if (!dmlHas(dep, range)) {
          throw new FerryError('FERRY_INVALID_INPUT', `${p.name}@${p.version} needs ${dep} ${range}, and no deployable version in the DML satisfies it`, {
            hint: `add ${dep} to the DML and to the release`,
          });
        }
        external.push({ package: p.name, name: dep, range });
      }
    }
    needs.set(p.name, inRelease);
  }
  return { order: topologicalOrder(packages, needs), external };
}

/** Kahn's algorithm, stable: among packages that are ready, the one given first goes first. */
function topologicalOrder<P extends DependentPackage>(packages: P[], needs: Map<string, string[]>): P[] {
  const done = new Set<string>();
  const order: P[] = [];
  while (order.length < packages.length) {
    const next = packages.find((p) => !done.has(p.name) && (needs.get(p.name) ?? []).every((d) => done.has(d)));
    if (!next) {
      const cycle = packages.filter((p) => !done.has(p.name)).map((p) => p.name);
      throw new FerryError('FERRY_INVALID_INPUT', `the release's dependencies form a cycle: ${cycle.join(', ')}`);
    }
    done.add(next.name);
    order.push(next);
  }
  return order;
}

/** Why a host cannot take a release: a dependency it must already have and does not. */
export function unmetExternal(external: ExternalDependency[], installed: Record<string, string>): string | undefined {
  for (const d of external) {
    const have = installed[d.name];
    if (!have || !semver.satisfies(have, d.range)) return `incompatible: ${d.package} needs ${d.name} ${d.range}, host has ${have ? `${d.name}@${have}` : `no ${d.name}`}`;
  }
  return undefined;
}

/**
 * The order to uninstall packages in: every package before the ones it depends on (the reverse
 * of an install order); otherwise alphabetical. Dependencies outside the list are ignored.
 */
export function removalOrder(packages: { name: string; depends?: Record<string, string> | undefined }[]): string[] {
  const sorted = [...packages].sort((a, b) => a.name.localeCompare(b.name));
  const needs = new Map(sorted.map((p) => [p.name, Object.keys(p.depends ?? {}).filter((d) => d !== p.name && sorted.some((q) => q.name === d))]));
  try {
    return topologicalOrder(sorted.map((p) => ({ name: p.name, version: '' })), needs).map((p) => p.name).reverse();
  } catch {
    return sorted.map((p) => p.name); // a cycle cannot be installed either; keep a stable order
  }
}
