// Releases: named sets of DML packages that ship together, in dependency order, with their change
// record (RFC, owner, notes, risk, rollback plan) and approvals. Immutable once created, except
// that approvals are added.
import semver from 'semver';
import { FerryError } from '../../shared/errors.js';
import type { Db } from '../db/open.js';
import type { DmlService } from '../dml/service.js';
import { planDependencies, type ExternalDependency } from './dependencies.js';
import { parsePackageRef } from './package-ref.js';
import { assessRisk, type RiskAssessment, type RiskLevel } from './risk.js';

export const DEFAULT_ROLLBACK_PLAN =
  'Automatic: a host whose install or health check fails returns to the version it had, and the whole release is rolled back on that host. ' +
  'Fleet-wide: ferry rollout rollback ID (or --on-failure rollback) returns every changed host to its previous versions.';

/** A release and its approvals as the API sends them (shared/protocol/replies/releases.ts). */
export type Release = ReleaseDoc;
export type Approval = ReleaseDoc['approvals'][number];
import type { ReleaseDoc } from '../../shared/protocol/replies.js';

export interface CreateReleaseInput {
  name: string;
  packages: string[];
  rfc?: string | undefined;
  owner?: string | undefined;
  notes?: string | undefined;
  risk?: RiskLevel | undefined;
  rollbackPlan?: string | undefined;
}

interface ReleaseRow {
  name: string;
  packages: string;
  rfc: string | null;
  notes: string | null;
  owner: string | null;
  risk: string | null;
  rollback_plan: string | null;
  external_depends: string;
  created_at: number;
}

export class ReleaseStore {
  constructor(
    /** read by four-eyes.ts (who created a release) */
    readonly db: Db,
    private readonly dml: DmlService,
  ) {}

  create(input: CreateReleaseInput): Release {
    if (this.get(input.name)) throw new FerryError('FERRY_ALREADY_EXISTS', `release ${input.name} already exists`, { hint: 'releases are immutable: use a new name' });
    const refs = input.packages.map(parsePackageRef);
    const names = new Set<string>();
    const packages = refs.map((p) => {
      if (names.has(p.name)) throw new FerryError('FERRY_INVALID_INPUT', `release names ${p.name} twice`);
      names.add(p.name);
      const pkg = this.dml.requireDeployable(p.name, p.version);
      return { name: p.name, version: p.version, depends: pkg.manifest.depends };
    });
    const plan = planDependencies(packages, (name, range) => this.dml.list().some((d) => d.name === name && d.state !== 'retired' && semver.satisfies(d.version, range)));
    this.db
      .prepare('INSERT INTO releases (name, packages, rfc, notes, owner, risk, rollback_plan, external_depends, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(
        input.name,
        JSON.stringify(plan.order.map((p) => ({ name: p.name, version: p.version }))),
        input.rfc ?? null,
        input.notes ?? null,
        input.owner ?? null,
        input.risk ?? null,
        input.rollbackPlan ?? null,
        JSON.stringify(plan.external),
        Date.now(),
      );
    return this.get(input.name)!;
  }

  /**
   * Record one person's approval (again: their first approval stands) at `at`, with what proves it:
   * the signed request that made it, or the server's seal over a console approval (approval-seal.ts).
   */
  approve(name: string, actor: string, comment?: string, signed?: { auth: string; body: string }, at = Date.now()): Release {
    const release = this.require(name);
    for (const p of release.packages) this.dml.requireDeployable(p.name, p.version);
    this.db
      .prepare('INSERT INTO release_approvals (release, actor, ts, comment, auth, body) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING')
      .run(name, actor, at, comment ?? null, signed?.auth ?? null, signed?.body ?? null);
    return this.require(name);
  }

  get(name: string): Release | undefined {
    const row = this.db.prepare('SELECT * FROM releases WHERE name = ?').get(name) as ReleaseRow | undefined;
    if (!row) return undefined;
    const approvals = (this.db.prepare('SELECT actor, ts, comment FROM release_approvals WHERE release = ? ORDER BY ts').all(name) as { actor: string; ts: number; comment: string | null }[]).map(
      (a) => ({ actor: a.actor, at: new Date(a.ts).toISOString(), ...(a.comment ? { comment: a.comment } : {}) }),
    );
    return {
      name: row.name,
      packages: JSON.parse(row.packages) as Release['packages'],
      requires: JSON.parse(row.external_depends) as ExternalDependency[],
      ...(row.rfc ? { rfc: row.rfc } : {}),
      ...(row.owner ? { owner: row.owner } : {}),
      ...(row.notes ? { notes: row.notes } : {}),
      ...(row.risk ? { riskOverride: row.risk as RiskLevel } : {}),
      rollbackPlan: row.rollback_plan ?? DEFAULT_ROLLBACK_PLAN,
      approvals,
      createdAt: new Date(row.created_at).toISOString(),
    };
  }

  require(name: string): Release {
    const r = this.get(name);
    if (!r) throw new FerryError('FERRY_NOT_FOUND', `release ${name} does not exist`, { hint: 'see: ferry release list' });
    return r;
  }

  list(): Release[] {
    return (this.db.prepare('SELECT name FROM releases ORDER BY created_at DESC').all() as { name: string }[]).map((r) => this.get(r.name)!);
  }

  /** The release's risk for a rollout that reaches this share of the fleet. */
  risk(release: Release, fleetShare: number): RiskAssessment {
    return this.riskFor(release.packages.map((p) => p.name), fleetShare, release.riskOverride);
  }

  /** The risk of changing these packages on this share of the fleet (e.g. removing one). */
  riskFor(packageNames: string[], fleetShare: number, override?: RiskLevel): RiskAssessment {
    return assessRisk({ fleetShare, history: this.failureHistory(packageNames) }, override);
  }

  /**
   * How hosts fared in every earlier rollout that shipped any of these packages. Only what the
   * package did counts: a host sent back by a fleet rollback (an operator's decision, or
   * --on-failure rollback after another host failed) installed it fine, and an install the agent
   * refused outright (FERRY_COMMAND_REJECTED, e.g. a downgrade another rollout raced) never ran.
   */
  private failureHistory(names: string[]): { finished: number; failed: number } {
    const rows = this.db
      .prepare(
        `SELECT CASE WHEN h.cause = 'fleet-rollback' THEN 'succeeded' ELSE h.state END AS state, COUNT(*) AS n FROM rollout_hosts h
         JOIN rollouts r ON r.id = h.rollout_id JOIN releases rel ON rel.name = r.release
         WHERE h.state IN ('succeeded', 'failed', 'rolled-back')
           AND NOT (h.state = 'failed' AND coalesce(h.error, '') LIKE 'FERRY_COMMAND_REJECTED:%')
           AND EXISTS (SELECT 1 FROM json_each(rel.packages) j WHERE json_extract(j.value, '$.name') IN (SELECT value FROM json_each(?)))
         GROUP BY 1`,
      )
      .all(JSON.stringify(names)) as { state: string; n: number }[];
    const finished = rows.reduce((n, r) => n + r.n, 0);
    const failed = rows.filter((r) => r.state !== 'succeeded').reduce((n, r) => n + r.n, 0);
    return { finished, failed };
  }
}
