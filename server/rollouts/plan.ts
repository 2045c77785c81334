// Pure planning of a rollout: which hosts are targeted, which are skipped and why, and which
// wave each eligible host lands in. No I/O here, so it is unit-tested directly and the same
// plan is shown by --dry-run and stored by a real start.
import semver from 'semver';
import { createHash } from 'node:crypto';
import { FerryError } from '../../shared/errors.js';
import { matchSelector, type Selector } from '../../shared/selectors.js';
import { unmetExternal, type ExternalDependency } from '../releases/dependencies.js';

export interface PlanHost {
  id: string;
  hostname: string;
  facts: Record<string, string>;
  tags: Record<string, string>;
  online: boolean;
  installed: Record<string, string>;
}

export interface PlanPackage {
  name: string;
  version: string;
  requires?: { os?: string[] | undefined; arch?: string[] | undefined } | undefined;
}

export interface PlannedHost {
  agent: string;
  hostname: string;
  /** wave index, or null when skipped */
  wave: number | null;
  reason: string;
  /** the versions of the release's packages before the rollout (for rollback) */
  fromVersions: Record<string, string>;
  /** packages this rollout would take to an older version on the host (shown by --dry-run) */
  downgrades?: { name: string; from: string; to: string }[];
}

export interface Plan {
  hosts: PlannedHost[];
  waveSizes: number[];
  skipped: number;
}

export interface PlanOptions {
  selector: Selector;
  waves: string[];
  includeOffline: boolean;
  /** dependencies the release does not ship: a host without them is incompatible */
  external?: ExternalDependency[] | undefined;
  /** replaces the install rules for why a targeted host is skipped (e.g. a removal's) */
  skipReason?: (host: PlanHost) => string | undefined;
}

/** Decide every host's fate and wave. Deterministic for the same fleet. */
export function planRollout(fleet: PlanHost[], packages: PlanPackage[], opts: PlanOptions): Plan {
  const targeted = fleet.filter((h) => matchSelector(opts.selector, { ...h.facts, id: h.id, hostname: h.hostname, ...installedFacts(h.installed) }, h.tags));
  const eligible: PlanHost[] = [];
  const skipped: PlannedHost[] = [];
  for (const host of targeted) {
    const fromVersions = pick(host.installed, packages.map((p) => p.name));
    const why = opts.skipReason ? opts.skipReason(host) : skipReason(host, packages, opts);
    if (why) skipped.push({ agent: host.id, hostname: host.hostname, wave: null, reason: why, fromVersions });
    else eligible.push(host);
  }
  const ordered = orderByStrata(eligible);
  const waveSizes = planWaves(ordered.length, opts.waves);
  const hosts: PlannedHost[] = [];
  let next = 0;
  waveSizes.forEach((size, wave) => {
    for (const host of ordered.slice(next, next + size)) {
      const downgrades = opts.skipReason ? [] : downgradesOn(host, packages);
      hosts.push({ agent: host.id, hostname: host.hostname, wave, reason: 'matched the selector', fromVersions: pick(host.installed, packages.map((p) => p.name)), ...(downgrades.length ? { downgrades } : {}) });
    }
    next += size;
  });
  return { hosts: [...hosts, ...skipped], waveSizes, skipped: skipped.length };
}

function skipReason(host: PlanHost, packages: PlanPackage[], opts: PlanOptions): string | undefined {
  for (const p of packages) {
    const os = p.requires?.os;
    if (os?.length && !os.includes(host.facts.os ?? '')) return `incompatible: ${p.name} requires os ${os.join('|')}, host is ${host.facts.os ?? 'unknown'}`;
    const arch = p.requires?.arch;
    if (arch?.length && !arch.includes(host.facts.arch ?? '')) return `incompatible: ${p.name} requires arch ${arch.join('|')}, host is ${host.facts.arch ?? 'unknown'}`;
  }
  const unmet = unmetExternal(opts.external ?? [], host.installed);
  if (unmet) return unmet;
  if (packages.every((p) => host.installed[p.name] === p.version)) return 'already at this version';
  if (!host.online && !opts.includeOffline) return 'offline';
  return undefined;
}

/** Plan the removal of one package: hosts that do not have it are skipped as "not installed". */
export function planRemoval(fleet: PlanHost[], name: string, opts: Omit<PlanOptions, 'skipReason'>): Plan {
  return planRollout(fleet, [{ name, version: '0.0.0' }], {
    ...opts,
    skipReason: (host) => (host.installed[name] === undefined ? 'not installed' : !host.online && !opts.includeOffline ? 'offline' : undefined),
  });
}

/**
 * Turn cumulative wave targets (`1`, `10%`, … `100%`) into per-wave host counts.
 * Empty waves (a target already reached) are dropped, so every wave has at least one host.
 */
export function planWaves(total: number, specs: string[]): number[] {
  if (specs.length === 0) throw new FerryError('FERRY_INVALID_INPUT', 'no waves given', { hint: 'e.g. --waves 1,10%,50%,100%' });
  if (specs[specs.length - 1] !== '100%') throw new FerryError('FERRY_INVALID_INPUT', `the last wave must be 100%, got ${specs[specs.length - 1]}`, { hint: 'e.g. --waves 1,10%,50%,100%' });
  for (const spec of specs) cumulativeTarget(spec, total); // each token is valid
  assertWavesGrow(specs);
  const sizes: number[] = [];
  let reached = 0;
  for (const spec of specs) {
    // A percentage can come out below an earlier count on a small fleet: that wave is then empty.
    const target = Math.max(reached, Math.min(total, cumulativeTarget(spec, total)));
    if (target > reached) sizes.push(target - reached);
    reached = target;
  }
  return sizes;
}

/** Counts must not decrease, nor percentages, whatever the fleet size. */
function assertWavesGrow(specs: string[]): void {
  let count = 0;
  let pct = 0;
  for (const spec of specs) {
    const isPct = spec.endsWith('%');
    const value = isPct ? Number(spec.slice(0, -1)) : Number(spec);
    if (Number.isNaN(value)) continue; // reported by cumulativeTarget
    if (isPct ? value < pct : value < count) throw new FerryError('FERRY_INVALID_INPUT', `waves must not shrink: ${spec} comes after a larger wave`, { hint: 'e.g. --waves 1,10%,50%,100%' });
    if (isPct) pct = value;
    else count = value;
  }
}

function cumulativeTarget(spec: string, total: number): number {
  if (/^\d+$/.test(spec)) {
    if (Number(spec) === 0) throw new FerryError('FERRY_INVALID_INPUT', 'wave 0 has no hosts: a wave is at least 1 host (or a percentage)', { hint: 'e.g. --waves 1,10%,50%,100%' });
    return Number(spec);
  }
  const m = /^(\d+(?:\.\d+)?)%$/.exec(spec);
  if (!m) throw new FerryError('FERRY_INVALID_INPUT', `"${spec}" is not a host count or percentage`, { hint: 'e.g. --waves 1,10%,50%,100%' });
  const pct = Number(m[1]);
  if (pct <= 0 || pct > 100) throw new FerryError('FERRY_INVALID_INPUT', `wave ${spec} must be between 0% and 100%`);
  // Multiply first: (7 / 100) * 100 is 7.000000000000001 in floating point.
  return Math.ceil((pct * total) / 100 - 1e-9);
}

/**
 * Order hosts so that any prefix represents the fleet: group by stratum (os, arch, virtual,
 * site, role), then take one host from each stratum in turn, largest strata first. Within a
 * stratum, order by a hash of the id so the choice is stable but not alphabetical.
 */
export function orderByStrata(hosts: PlanHost[]): PlanHost[] {
  const strata = new Map<string, PlanHost[]>();
  for (const h of hosts) {
    const key = [h.facts.os, h.facts.arch, h.facts.virtual, h.tags.site, h.tags.role].map((v) => v ?? '').join('|');
    const list = strata.get(key) ?? [];
    list.push(h);
    strata.set(key, list);
  }
  const groups = [...strata.entries()]
    .map(([key, list]) => ({ key, list: list.sort((a, b) => cmp(stableHash(a.id), stableHash(b.id)) || cmp(a.id, b.id)) }))
    .sort((a, b) => b.list.length - a.list.length || cmp(a.key, b.key));
  const out: PlanHost[] = [];
  for (let i = 0; out.length < hosts.length; i++) {
    for (const g of groups) if (i < g.list.length) out.push(g.list[i]!);
  }
  return out;
}

function downgradesOn(host: PlanHost, packages: PlanPackage[]): { name: string; from: string; to: string }[] {
  return packages.filter((p) => isDowngrade(host.installed[p.name], p.version)).map((p) => ({ name: p.name, from: host.installed[p.name]!, to: p.version }));
}

export function isDowngrade(from: string | undefined, to: string): boolean {
  return from !== undefined && semver.valid(from) !== null && semver.lt(to, from);
}

function installedFacts(installed: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(installed).map(([k, v]) => [`installed.${k}`, v]));
}

function pick(installed: Record<string, string>, names: string[]): Record<string, string> {
  return Object.fromEntries(names.filter((n) => installed[n] !== undefined).map((n) => [n, installed[n]!]));
}

function stableHash(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
