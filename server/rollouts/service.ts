// Rollout use cases behind the admin API: plan and start, clone-config, operator actions. The
// status documents are built by status-view.ts; which rollouts hold a host, by conflicts.ts.
import { randomBytes } from 'node:crypto';
import { FerryError } from '../../shared/errors.js';
import { globMatch, parseSelector } from '../../shared/selectors.js';
import type { ApiRequestParsed } from '../../shared/protocol/api.js';
import type { CmdbStore } from '../cmdb/store.js';
import type { DmlService } from '../dml/service.js';
import type { Release, ReleaseStore } from '../releases/store.js';
import { planRemoval, planRollout, type PlanHost, type PlannedHost } from './plan.js';
import { describeClone, planClone } from './clone-plan.js';
import { clonePolicyViolations } from './clone-policy.js';
import { approvalsOf } from '../releases/four-eyes.js';
import { DEFAULT_PHASED_WAVES, parseRolloutOptions } from './options.js';
import { allSkipped, noTargetsError, notInstalledError } from './targets.js';
import { nextRolloutState } from './lifecycle.js';
import type { RolloutEngine } from './engine.js';
import type { RolloutOptions, RolloutPolicyRecord, RolloutRow, RolloutStore } from './store.js';
import { endFollowing } from './follow.js';
import { changedPackages, conflictError, describeConflict, findConflicts, supersede } from './conflicts.js';
import { buildReview, type RolloutReview } from './review.js';
import { rolloutList, rolloutStatus, type RolloutSummary } from './status-view.js';
import { evaluatePolicy, loadPolicy, type Policy } from '../policy/policy.js';

/** The status document lives with the protocol (shared/protocol/replies/rollouts.ts). */
export type { RolloutStatusDoc } from '../../shared/protocol/replies.js';
import type { CmdbCloneReply, RolloutStartReply, RolloutStatusDoc } from '../../shared/protocol/replies.js';

export class RolloutService {
  constructor(
    private readonly store: RolloutStore,
    private readonly engine: RolloutEngine,
    private readonly releases: ReleaseStore,
    private readonly dml: DmlService,
    private readonly cmdb: CmdbStore,
    private readonly isOnline: (lastSeen: number | null) => boolean,
    private readonly policyFile: string,
  ) {}

  async start(req: ApiRequestParsed<'rollout.start'>): Promise<RolloutStartReply> {
    const removal = removalOf(req);
    const release = removal === undefined ? this.releases.require(req.release!) : undefined;
    const label = release?.name ?? removalLabel(removal!);
    const packages = (release?.packages ?? []).map((p) => {
      const pkg = this.dml.requireDeployable(p.name, p.version);
      return { name: p.name, version: p.version, state: pkg.state, requires: pkg.manifest.requires };
    });
    if (req.force && !req.reason) throw new FerryError('FERRY_USAGE', '--force needs --reason TEXT (the override is audited)');
    if (req.strategy === 'big-bang' && req.waves) throw new FerryError('FERRY_USAGE', '--waves applies only to --strategy phased', { hint: 'add --strategy phased (the default strategy is big-bang)' });
    if (req.timeZone !== undefined && !req.window) throw new FerryError('FERRY_USAGE', '--timezone is the time zone of --window; give a --window too');
    if (req.reason !== undefined && !req.force) throw new FerryError('FERRY_USAGE', '--reason explains a --force; without --force nothing is overridden');
    // Implied values are said out loud, in the result and on the CLI's stderr.
    const notes: string[] = [];
    if (req.strategy === 'phased' && !req.waves) notes.push(`--strategy phased without --waves: using the default waves ${DEFAULT_PHASED_WAVES.join(',')}`);
    if (req.window && req.timeZone === undefined) notes.push(`--window without --timezone: the window "${req.window}" is in UTC`);
    const waves = req.strategy === 'big-bang' ? ['100%'] : (req.waves ?? [...DEFAULT_PHASED_WAVES]);
    const options: RolloutOptions = {
      waves,
      soakMs: req.soakMs,
      maxFailures: req.maxFailures,
      onFailure: req.onFailure,
      hostTimeoutMs: req.hostTimeoutMs,
      includeOffline: req.includeOffline,
      ...(req.window ? { window: req.window, timeZone: req.timeZone ?? 'UTC' } : {}),
      ...(req.startAt ? { startAt: req.startAt } : {}),
      ...(removal !== undefined ? { remove: removal } : {}),
      ...(req.maxRateBps ? { maxRateBps: req.maxRateBps } : {}),
      ...(req.follow ? { follow: true } : {}),
    };
    // Every option checked once, before anything is planned or stored (the engine keeps the parsed form).
    parseRolloutOptions(options);
    const installed = this.cmdb.allInstalled();
    const fleet: PlanHost[] = this.cmdb.listAgents().map((a) => ({
      id: a.id,
      hostname: a.hostname,
      facts: a.facts,
      tags: a.tags,
      online: this.isOnline(a.lastSeen),
      installed: installed.get(a.id) ?? {},
    }));
    const selector = parseSelector(req.target);
    const plan =
      removal === undefined
        ? planRollout(fleet, packages, { selector, waves, includeOffline: req.includeOffline, external: release!.requires })
        : planRemoval(fleet, removal, { selector, waves, includeOffline: req.includeOffline });
    // Nobody to reach: refused (a dry run shows the plan and says a start would be refused).
    const targeted = new Set(plan.hosts.map((h) => h.agent));
    let empty =
      plan.hosts.length === 0
        ? noTargetsError(selector, fleet, `rollout of ${label} refused`)
        : removal !== undefined && plan.hosts.every((h) => h.fromVersions[removal] === undefined)
          ? notInstalledError(removal, selector, fleet.filter((h) => targeted.has(h.id)), `rollout of ${label} refused`)
          : undefined;
    // Hosts matched but none receives anything (offline, incompatible, every holder offline):
    // as empty as no match. Every host already at this version is a success with a note.
    const skipped = empty ? undefined : allSkipped(plan.hosts, selector, `rollout of ${label} refused`);
    if (skipped && 'note' in skipped) notes.push(skipped.note);
    else if (skipped) empty = skipped.error;
    if (empty && req.allowEmpty) notes.push(`${empty.message.replace(/^rollout of .*? refused: /, '')}; ${req.dryRun ? 'it would start' : 'started'} anyway (--allow-empty)`);
    else if (empty && req.dryRun) notes.push(`a start would be refused: ${empty.toLine()}`);
    else if (empty) throw empty;
    const names = removal !== undefined ? [removal] : packages.map((p) => p.name);
    const conflicts = findConflicts(this.store, (r) => this.packageNamesOf(r), names, plan.hosts);
    if (conflicts.length > 0 && !req.supersede && !req.dryRun) throw conflictError(label, conflicts);
    const record = this.checkPolicy(req, release, packages, fleet, selector, plan.hosts);
    // A newer rollout of any of the same packages ends the following of older ones.
    const followed = this.store.following().filter((r) => this.packageNamesOf(r).some((n) => names.includes(n)));
    if (req.dryRun && followed.length) notes.push(`a start would end the following of ${followed.map((r) => `${r.id} (${r.release})`).join(', ')}`);
    if (req.dryRun) {
      return {
        dryRun: true,
        release: label,
        operation: removal === undefined ? 'install' : 'remove',
        strategy: req.strategy,
        target: selector.text,
        options,
        policy: record,
        waves: plan.waveSizes.map((size, index) => ({ index, hosts: size })),
        hosts: plan.hosts,
        downgrades: plan.hosts.filter((h) => h.downgrades?.length).length,
        conflicts: conflicts.map(describeConflict),
        notes,
      };
    }
    if (record.violations.length > 0 && !req.force) {
      throw new FerryError('FERRY_POLICY_DENIED', `rollout of ${label} refused by policy: ${record.violations.join('; ')}`, {
        hint: 'meet the requirements, or override with --force --reason TEXT (audited)',
        details: { policy: record },
      });
    }
    const id = `r-${randomBytes(4).toString('hex')}`;
    const now = Date.now();
    this.store.transaction(() => {
      this.store.insertRollout(
        { id, release: label, strategy: req.strategy, state: 'running', target: selector.text, options, createdAt: now, actor: req.actor },
        plan.waveSizes,
        plan.hosts.map((h) => ({ agent: h.agent, wave: h.wave ?? -1, state: h.wave === null ? 'skipped' : 'pending', fromVersions: h.fromVersions, reason: h.reason })),
      );
      this.store.savePolicy(id, record);
      if (record.override) this.store.addEvent(id, req.actor, 'policy-override', `${req.reason}: ${record.violations.join('; ')}`);
      for (const c of conflicts) supersede(this.store, c, id, req.actor);
      for (const r of followed) endFollowing(this.store, r.id, req.actor, `superseded by ${id} (${label})`);
    });
    for (const r of followed) notes.push(`rollout ${r.id} (${r.release}) no longer follows its target: superseded by ${id}`);
    this.store.setState(id, 'running', { startedAt: now });
    await this.engine.tick();
    return { ...this.status(id), policy: record, notes, superseded: conflicts.map(describeConflict) };
  }

  /**
   * `ferry cmdb clone-config PROD --to TEST`: one rollout that gives the test host exactly the
   * versions the production host runs (installs, downgrades and removals), recording which host
   * it copied. A test host that already matches gets no rollout.
   */
  async cloneConfig(req: ApiRequestParsed<'cmdb.clone'>): Promise<CloneResult> {
    const prod = this.requireHost(req.from, 'production');
    const test = this.requireHost(req.to, 'test');
    const testInstalled = this.cmdb.installedOf(test.id);
    const plan = planClone({ ...prod, installed: this.cmdb.installedOf(prod.id) }, { ...test, installed: testInstalled }, (name, version) => {
      const pkg = this.dml.get(name, version);
      return pkg && { state: pkg.state, depends: pkg.manifest.depends };
    });
    const from = { agent: prod.id, hostname: prod.hostname };
    const to = { agent: test.id, hostname: test.hostname };
    const summary = { from, to, install: plan.install, remove: plan.remove, unchanged: plan.unchanged };
    if (plan.install.length === 0 && plan.remove.length === 0) return { identical: true, ...summary };
    const label = cloneLabel(prod.hostname);
    const names = [...plan.install.map((p) => p.name), ...plan.remove];
    // what a rollback of the copy puts back on the test host
    const fromVersions = Object.fromEntries(names.filter((n) => testInstalled[n] !== undefined).map((n) => [n, testInstalled[n]!]));
    const planned: PlannedHost[] = [{ agent: test.id, hostname: test.hostname, wave: 0, reason: `copy of ${prod.hostname}`, fromVersions }];
    const conflicts = findConflicts(this.store, (r) => this.packageNamesOf(r), names, planned);
    const policy = loadPolicy(this.policyFile);
    const violations = clonePolicyViolations(policy, test.tags[policy.envTag] ?? '', plan.install.map((p) => ({ ...p, state: this.dml.get(p.name, p.version)!.state })));
    const notes = this.isOnline(test.lastSeen) ? [] : [`${test.hostname} is offline: it converges when it returns`];
    if (req.dryRun) return { dryRun: true, ...summary, conflicts: conflicts.map(describeConflict), violations, notes };
    if (violations.length > 0) {
      throw new FerryError('FERRY_POLICY_DENIED', `copy of ${prod.hostname} onto ${test.hostname} refused by policy: ${violations.join('; ')}`, {
        hint: 'copy onto a host of a test environment (see: ferry agents list)',
        details: { violations },
      });
    }
    if (conflicts.length > 0 && !req.supersede) throw conflictError(label, conflicts);
    const options: RolloutOptions = {
      waves: ['100%'],
      soakMs: 0,
      maxFailures: '0',
      onFailure: 'halt',
      hostTimeoutMs: req.hostTimeoutMs,
      // one host named on purpose: an offline test host converges when it returns
      includeOffline: true,
      clone: { from: prod.id, fromHostname: prod.hostname, install: plan.install, remove: plan.remove },
    };
    parseRolloutOptions(options);
    const id = `r-${randomBytes(4).toString('hex')}`;
    const now = Date.now();
    this.store.transaction(() => {
      this.store.insertRollout({ id, release: label, strategy: 'big-bang', state: 'running', target: `id=${test.id}`, options, createdAt: now, actor: req.actor }, [1], [
        { agent: test.id, wave: 0, state: 'pending', fromVersions, reason: `copy of ${prod.hostname}` },
      ]);
      this.store.addEvent(id, req.actor, 'clone-config', `${test.hostname} (${test.id}) gets the versions of ${prod.hostname} (${prod.id}): ${describeClone(plan)}`);
      for (const c of conflicts) supersede(this.store, c, id, req.actor);
    });
    this.store.setState(id, 'running', { startedAt: now });
    await this.engine.tick();
    return { ...this.status(id), ...summary, notes, superseded: conflicts.map(describeConflict) };
  }

  /** A host named on the command line: it must exist and still be in the fleet. */
  private requireHost(name: string, role: 'production' | 'test'): { id: string; hostname: string; lastSeen: number | null; tags: Record<string, string> } {
    const a = this.cmdb.findAgent(name);
    if (!a) throw new FerryError('FERRY_NOT_FOUND', `no ${role} host "${name}" in the CMDB`, { hint: 'give an agent id or hostname (see: ferry agents list)' });
    if (a.decommissionedAt || a.revokedAt) {
      throw new FerryError('FERRY_CONFLICT', `${role} host ${a.hostname} (${a.id}) is ${a.decommissionedAt ? 'decommissioned' : 'revoked'}`, { hint: 'see: ferry agents list' });
    }
    return { id: a.id, hostname: a.hostname, lastSeen: a.lastSeen, tags: a.tags };
  }

  async act(req: ApiRequestParsed<'rollout.action'>): Promise<RolloutStatusDoc> {
    const rollout = this.require(req.id);
    if (req.action === 'stop-follow') return this.stopFollow(rollout, req.actor);
    // The lifecycle table decides what is allowed (FERRY_CONFLICT otherwise).
    const next = nextRolloutState(rollout.id, rollout.state, req.action);
    switch (req.action) {
      case 'pause':
        this.store.setState(rollout.id, next, { reason: `paused by ${req.actor}` });
        break;
      case 'resume':
        // 'running' re-checks the schedule on the next tick and waits again if it must.
        this.store.setState(rollout.id, next, { reason: `resumed by ${req.actor}` });
        break;
      case 'abort': {
        // From rolling-back: the rollout stops waiting; a rollback reported later is still recorded.
        const unreported = rollout.state === 'rolling-back' ? this.store.pendingRollbacks(rollout.id) : 0;
        const detail = unreported ? ` (rollback not reported by ${unreported} host(s))` : '';
        // Nothing more goes out: the waves not finished end, the hosts never sent are skipped.
        this.store.transaction(() => {
          this.store.setState(rollout.id, next, { endedAt: Date.now(), reason: `aborted by ${req.actor}${detail}` });
          this.store.closeWaves(rollout.id, `not sent: the rollout was aborted by ${req.actor}`);
        });
        break;
      }
      case 'rollback':
        // Also for a finished rollout: it is rolling-back again until every host reported.
        await this.engine.rollBack(rollout, req.actor, `rollback requested by ${req.actor}`);
        break;
      case 'retry': {
        // Only hosts no newer rollout took over are sent again.
        const failed = this.store.hosts(rollout.id).filter((h) => h.state === 'failed' || h.state === 'rolled-back');
        if (failed.length === 0) throw new FerryError('FERRY_CONFLICT', `rollout ${rollout.id} has no failed hosts to retry`, { hint: `see: ferry rollout status ${rollout.id}` });
        this.store.reopenFailed(rollout.id, `retry of ${failed.length} failed host(s) by ${req.actor}`);
        break;
      }
      case 'start-now':
        if (!rollout.options.startAt) throw new FerryError('FERRY_CONFLICT', `rollout ${rollout.id} has no start time to skip (it is ${rollout.state}: ${rollout.reason ?? 'waiting'})`, { hint: 'only a rollout waiting for --start-at can start now; a window is waited for' });
        this.store.dropStartAt(rollout.id);
        this.engine.forgetSettings(rollout.id);
        this.store.setState(rollout.id, next, { reason: `started now by ${req.actor}` });
        break;
    }
    this.store.addEvent(rollout.id, req.actor, req.action);
    await this.engine.tick();
    return this.status(rollout.id);
  }

  /** `ferry rollout stop-follow`: no further host is brought in; those already sent finish. */
  private stopFollow(rollout: RolloutRow, actor: string): RolloutStatusDoc {
    if (!rollout.options.follow) {
      throw new FerryError('FERRY_CONFLICT', `rollout ${rollout.id} does not follow its target (it was started without --follow)`, { hint: 'only a rollout started with --follow can stop following' });
    }
    if (!endFollowing(this.store, rollout.id, actor, `stopped by ${actor}`)) {
      throw new FerryError('FERRY_CONFLICT', `rollout ${rollout.id} no longer follows its target: ${rollout.followEndReason ?? 'it stopped'}`, { hint: `see: ferry rollout status ${rollout.id}` });
    }
    return this.status(rollout.id);
  }

  /** The packages a rollout changes: its release's, or the one it removes. */
  private packageNamesOf(r: RolloutRow): string[] {
    return changedPackages(r, (name) => this.releases.get(name));
  }

  /** The policy verdict and risk for a rollout about to start (also shown by --dry-run). */
  private checkPolicy(
    req: ApiRequestParsed<'rollout.start'>,
    release: Release | undefined,
    packages: { name: string; version: string; state: string }[],
    fleet: PlanHost[],
    selector: ReturnType<typeof parseSelector>,
    planned: PlannedHost[],
  ): RolloutPolicyRecord {
    const policy = loadPolicy(this.policyFile);
    const tagsOf = new Map(fleet.map((h) => [h.id, h.tags]));
    const receiving = planned.filter((h) => h.wave !== null);
    const environments = new Set(receiving.map((h) => tagsOf.get(h.agent)?.[policy.envTag] ?? ''));
    for (const env of selectorEnvironments(policy, selector)) environments.add(env);
    const label = release?.name ?? removalLabel(req.remove!);
    const approvals = release ? approvalsOf(this.releases.db, release, req.actor) : [];
    const verdict = evaluatePolicy(policy, {
      release: label,
      removal: release === undefined,
      environments: [...environments],
      packages,
      // four eyes: the owner's and the starter's own approvals do not count
      approvals: approvals.filter((a) => a.counts).length,
      uncounted: approvals.filter((a) => !a.counts).map((a) => ({ by: a.by, reason: a.reason! })),
      completedIn: (env) => this.completedIn(label, policy.envTag, env),
    });
    const share = fleet.length ? receiving.length / fleet.length : 0;
    const risk = release ? this.releases.risk(release, share) : this.releases.riskFor([req.remove!], share);
    const override = verdict.violations.length > 0 && req.force ? { actor: req.actor, reason: req.reason!, at: new Date().toISOString() } : null;
    return { ...verdict, override, risk, targets: receiving.length, fleet: fleet.length };
  }

  /** A completed rollout of this release in which a host of that environment succeeded. */
  private completedIn(release: string, envTag: string, env: string): string | undefined {
    const agents = new Map(this.cmdb.listAgents(true).map((a) => [a.id, a.tags]));
    return this.store
      .list()
      .filter((r) => r.release === release && r.state === 'completed')
      .find((r) => this.store.hosts(r.id).some((h) => h.state === 'succeeded' && agents.get(h.agent)?.[envTag] === env))?.id;
  }

  status(id?: string): RolloutStatusDoc {
    return rolloutStatus(this.store, this.require(id ?? this.store.latestId()), this.cmdb.hostnames());
  }

  list(): RolloutSummary[] {
    return rolloutList(this.store);
  }

  /** Whether a newer rollout took hosts over from this one (--supersede; on its timeline). */
  wasSuperseded(id: string): boolean {
    return this.store.events(id).some((e) => e.action === 'superseded');
  }

  review(id: string): RolloutReview {
    return buildReview(this.store, this.releases, this.cmdb, this.require(id));
  }

  private require(id: string | undefined): RolloutRow {
    const rollout = id ? this.store.get(id) : undefined;
    if (!rollout) throw new FerryError('FERRY_NOT_FOUND', id ? `rollout ${id} does not exist` : 'there are no rollouts yet', { hint: 'see: ferry rollout list' });
    return rollout;
  }
}

/** Environments a selector names outright (env=prod, tag.env=prod, env=pro*). */
function selectorEnvironments(policy: Policy, selector: ReturnType<typeof parseSelector>): string[] {
  const names = Object.keys(policy.environments);
  return selector.terms
    .filter((t) => t.op === '=' && (t.key === policy.envTag || t.key === `tag.${policy.envTag}`))
    .flatMap((t) => (/[*?]/.test(t.pattern) ? names.filter((n) => globMatch(t.pattern, n)) : [t.pattern]));
}

/** A rollout start names a release to install or a package to remove: exactly one of them. */
function removalOf(req: ApiRequestParsed<'rollout.start'>): string | undefined {
  if (req.release !== undefined && req.remove !== undefined) {
    throw new FerryError('FERRY_USAGE', 'give either a RELEASE to install or --remove PACKAGE, not both', { hint: 'ferry rollout start RELEASE … | ferry rollout start --remove PACKAGE …' });
  }
  if (req.release === undefined && req.remove === undefined) {
    throw new FerryError('FERRY_USAGE', 'say what to roll out: a RELEASE, or --remove PACKAGE', { hint: 'ferry rollout start RELEASE … | ferry rollout start --remove PACKAGE …' });
  }
  return req.remove;
}

/** How a clone-config rollout appears in the `release` field (a space: never a release name). */
export function cloneLabel(prodHostname: string): string {
  return `copy of ${prodHostname}`;
}

/** What clone-config answers: the test host already matched, the plan (--dry-run), or the rollout started. */
export type CloneResult = CmdbCloneReply;

/** How a removal appears in the `release` field (never a valid release name: it has a space). */
export function removalLabel(name: string): string {
  return `remove ${name}`;
}
