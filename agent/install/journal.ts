// The agent's journal (SQLite in the state directory): what is installed, every operation and the
// step it reached (saved before the step runs, so a crash can be recovered), seen command
// nonces, the last applied desired-state generation, and reports waiting to be sent.
import Database from 'better-sqlite3';
import { statementCache, type Prepare } from '../../shared/sqlite.js';
import type { Manifest } from '../../shared/package/mod.js';
import { nextReportCounter } from '../../shared/protocol/report-signature.js';
import type { InstallStep, OperationKind } from './states.js';

export const JOURNAL_FORMAT = 1;

export interface InstalledPackage {
  name: string;
  version: string;
  previousVersion: string | null;
  manifest: Manifest;
  installedAt: number;
  /** the operation (rollout) that installed it, and until when it is health-watched */
  operation: string | null;
  watchUntil: number;
}

export interface OperationRow {
  id: number;
  operation: string;
  package: string;
  version: string;
  fromVersion: string | null;
  kind: OperationKind;
  step: InstallStep;
  error: string | null;
  saves: number;
  startedAt: number;
  updatedAt: number;
  record: string | null;
  manifest: Manifest | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS installed (
  name TEXT PRIMARY KEY, version TEXT NOT NULL, previous_version TEXT, manifest TEXT NOT NULL, installed_at INTEGER NOT NULL,
  operation TEXT, watch_until INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS versions (
  name TEXT NOT NULL, version TEXT NOT NULL, manifest TEXT NOT NULL, added_at INTEGER NOT NULL, PRIMARY KEY (name, version));
CREATE TABLE IF NOT EXISTS operations (
  id INTEGER PRIMARY KEY, operation TEXT NOT NULL, package TEXT NOT NULL, version TEXT NOT NULL, from_version TEXT,
  kind TEXT NOT NULL, step TEXT NOT NULL, error TEXT, saves INTEGER NOT NULL DEFAULT 0, started_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL, record TEXT, manifest TEXT);
CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, subject TEXT NOT NULL, payload BLOB NOT NULL, created_at INTEGER NOT NULL);
`;

export interface PendingReport {
  id: number;
  subject: string;
  payload: Uint8Array;
  /** set once the report was signed (when it was first sent) */
  signature?: { counter: number; sig: string };
}

const FINAL_STEPS: InstallStep[] = ['done', 'failed', 'rolled-back'];

export class Journal {
  private readonly db: Database.Database;
  private readonly sql: Prepare;

  constructor(file: string, sync: 'full' | 'normal' = 'full') {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // FULL: a step recorded as saved must survive a power cut.
    this.db.pragma(`synchronous = ${sync === 'normal' ? 'NORMAL' : 'FULL'}`);
    this.db.exec(SCHEMA);
    // Added later: the hooks' output of each operation (journals from before get the column).
    const columns = this.db.prepare('PRAGMA table_info(operations)').all() as { name: string }[];
    if (!columns.some((c) => c.name === 'output')) this.db.exec('ALTER TABLE operations ADD COLUMN output TEXT');
    const outbox = this.db.prepare('PRAGMA table_info(outbox)').all() as { name: string }[];
    // Added later: a report's signature, made when it is first sent (agent/reporter.ts).
    if (!outbox.some((c) => c.name === 'counter')) this.db.exec('ALTER TABLE outbox ADD COLUMN counter INTEGER; ALTER TABLE outbox ADD COLUMN sig TEXT');
    // Added later: the operation of a queued progress report (a newer report of it replaces it).
    if (!outbox.some((c) => c.name === 'progress_of')) this.db.exec('ALTER TABLE outbox ADD COLUMN progress_of TEXT');
    this.sql = statementCache(this.db);
    this.sql("INSERT OR IGNORE INTO meta (key, value) VALUES ('format', ?)").run(String(JOURNAL_FORMAT));
  }

  close(): void {
    this.db.close();
  }

  getMeta(key: string): string | undefined {
    return (this.sql('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  setMeta(key: string, value: string): void {
    this.sql('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  installed(): InstalledPackage[] {
    return (this.sql('SELECT * FROM installed ORDER BY name').all() as RawInstalled[]).map(toInstalled);
  }

  installedOne(name: string): InstalledPackage | undefined {
    const row = this.sql('SELECT * FROM installed WHERE name = ?').get(name) as RawInstalled | undefined;
    return row && toInstalled(row);
  }

  installedMap(): Record<string, string> {
    return Object.fromEntries(this.installed().map((p) => [p.name, p.version]));
  }

  setInstalled(name: string, version: string, previousVersion: string | null, manifest: Manifest, watch: { operation?: string; watchUntil?: number } = {}): void {
    this.sql(
      'INSERT INTO installed (name, version, previous_version, manifest, installed_at, operation, watch_until) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET version = excluded.version, previous_version = excluded.previous_version, manifest = excluded.manifest, installed_at = excluded.installed_at, operation = excluded.operation, watch_until = excluded.watch_until',
    ).run(name, version, previousVersion, JSON.stringify(manifest), Date.now(), watch.operation ?? null, watch.watchUntil ?? 0);
  }

  /** Installed packages still inside their health-watch period. */
  watched(now = Date.now()): InstalledPackage[] {
    return (this.sql('SELECT * FROM installed WHERE watch_until > ? ORDER BY name').all(now) as RawInstalled[]).map(toInstalled);
  }

  removeInstalled(name: string): void {
    this.sql('DELETE FROM installed WHERE name = ?').run(name);
  }

  /** Versions kept on disk for a package, newest first. */
  versions(name: string): { version: string; manifest: Manifest }[] {
    return (this.sql('SELECT version, manifest FROM versions WHERE name = ? ORDER BY added_at DESC, rowid DESC').all(name) as { version: string; manifest: string }[]).map((r) => ({
      version: r.version,
      manifest: JSON.parse(r.manifest) as Manifest,
    }));
  }

  addVersion(name: string, version: string, manifest: Manifest): void {
    this.sql('INSERT INTO versions (name, version, manifest, added_at) VALUES (?, ?, ?, ?) ON CONFLICT(name, version) DO UPDATE SET manifest = excluded.manifest, added_at = excluded.added_at').run(name, version, JSON.stringify(manifest), Date.now());
  }

  dropVersion(name: string, version: string): void {
    this.sql('DELETE FROM versions WHERE name = ? AND version = ?').run(name, version);
  }

  beginOperation(o: { operation: string; package: string; version: string; fromVersion: string | null; kind: OperationRow['kind']; step: InstallStep; record?: string }): number {
    const now = Date.now();
    const insert = this.sql('INSERT INTO operations (operation, package, version, from_version, kind, step, saves, started_at, updated_at, record) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?)');
    return Number(insert.run(o.operation, o.package, o.version, o.fromVersion, o.kind, o.step, now, now, o.record ?? null).lastInsertRowid);
  }

  /** Remember the verified manifest of an operation's package, for recovery after a crash. */
  saveManifest(id: number, manifest: Manifest): void {
    this.sql('UPDATE operations SET manifest = ? WHERE id = ?').run(JSON.stringify(manifest), id);
  }

  /** The hooks' output so far of an operation (redacted and capped by the caller). */
  saveOutput(id: number, output: string): void {
    this.sql('UPDATE operations SET output = ? WHERE id = ?').run(output, id);
  }

  /** The hooks' output of an operation, if any hook ran. */
  outputOf(id: number): string | null {
    return (this.sql('SELECT output FROM operations WHERE id = ?').get(id) as { output: string | null } | undefined)?.output ?? null;
  }

  /** Save the step an operation is about to run; returns how many saves it has had. */
  saveStep(id: number, step: InstallStep, error?: string): number {
    this.sql('UPDATE operations SET step = ?, error = coalesce(?, error), saves = saves + 1, updated_at = ? WHERE id = ?').run(step, error ?? null, Date.now(), id);
    return (this.sql('SELECT saves FROM operations WHERE id = ?').get(id) as { saves: number }).saves;
  }

  /** The signed DML record a version was installed from (to fetch it again), if the journal has it. */
  recordFor(name: string, version: string): string | undefined {
    const row = this.sql("SELECT record FROM operations WHERE package = ? AND version = ? AND kind = 'install' AND record IS NOT NULL ORDER BY id DESC LIMIT 1").get(name, version) as { record: string } | undefined;
    return row?.record;
  }

  unfinishedOperations(): OperationRow[] {
    const marks = FINAL_STEPS.map(() => '?').join(',');
    return (this.sql(`SELECT * FROM operations WHERE step NOT IN (${marks}) ORDER BY id`).all(...FINAL_STEPS) as RawOperation[]).map(toOperation);
  }

  recentOperations(limit = 20): OperationRow[] {
    return (this.sql('SELECT * FROM operations ORDER BY id DESC LIMIT ?').all(limit) as RawOperation[]).map(toOperation);
  }

  /** Record a command nonce; false if it was seen before (a replay). */
  rememberNonce(nonce: string, expiresAt: number): boolean {
    const now = Date.now();
    this.sql('DELETE FROM nonces WHERE expires_at < ?').run(now);
    return this.sql('INSERT OR IGNORE INTO nonces (nonce, expires_at) VALUES (?, ?)').run(nonce, expiresAt).changes === 1;
  }

  /**
   * Queue a report to send. A status report of an operation (`status`) replaces that operation's
   * progress reports still waiting here: they would reach the server already out of date — a small
   * install passes through five states in milliseconds — and each one costs the server a write, an
   * event and an acknowledgement. A final report is never replaced, and the order is kept (the new
   * row comes after every row still queued).
   *
   * The new row is inserted before the old ones go: a row id is one more than the largest in the
   * table, so deleting the newest row first handed its id to the new row — and the reporter, still
   * sending the deleted one, then dropped the new report by that id when it was acknowledged.
   */
  queueReport(subject: string, payload: Uint8Array, status?: { operation: string; final: boolean }): number {
    return this.db.transaction(() => {
      const progressOf = status && !status.final ? status.operation : null;
      const id = Number(this.sql('INSERT INTO outbox (subject, payload, created_at, progress_of) VALUES (?, ?, ?, ?)').run(subject, Buffer.from(payload), Date.now(), progressOf).lastInsertRowid);
      if (status) this.sql('DELETE FROM outbox WHERE progress_of = ? AND id < ?').run(status.operation, id);
      return id;
    })();
  }

  pendingReports(limit = 100): PendingReport[] {
    return (this.sql('SELECT id, subject, payload, counter, sig FROM outbox ORDER BY id LIMIT ?').all(limit) as { id: number; subject: string; payload: Buffer; counter: number | null; sig: string | null }[]).map((r) => ({
      id: r.id,
      subject: r.subject,
      payload: new Uint8Array(r.payload),
      ...(r.counter !== null && r.sig !== null ? { signature: { counter: r.counter, sig: r.sig } } : {}),
    }));
  }

  /**
   * Give a queued report its counter and signature, once (a report sent again is the same report):
   * the counter comes after every one given before (kept in `meta`, so across restarts too).
   */
  signReport(id: number, sign: (counter: number) => string): { counter: number; sig: string } {
    return this.db.transaction(() => {
      const counter = nextReportCounter(Number(this.getMeta('report_counter') ?? 0));
      const sig = sign(counter);
      this.setMeta('report_counter', String(counter));
      this.sql('UPDATE outbox SET counter = ?, sig = ? WHERE id = ?').run(counter, sig, id);
      return { counter, sig };
    })();
  }

  dropReport(id: number): void {
    this.sql('DELETE FROM outbox WHERE id = ?').run(id);
  }
}

interface RawInstalled {
  name: string;
  version: string;
  previous_version: string | null;
  manifest: string;
  installed_at: number;
  operation: string | null;
  watch_until: number;
}

interface RawOperation {
  id: number;
  operation: string;
  package: string;
  version: string;
  from_version: string | null;
  kind: OperationRow['kind'];
  step: InstallStep;
  error: string | null;
  saves: number;
  started_at: number;
  updated_at: number;
  record: string | null;
  manifest: string | null;
}

function toInstalled(r: RawInstalled): InstalledPackage {
  return {
    name: r.name,
    version: r.version,
    previousVersion: r.previous_version,
    manifest: JSON.parse(r.manifest) as Manifest,
    installedAt: r.installed_at,
    operation: r.operation,
    watchUntil: r.watch_until,
  };
}

function toOperation(r: RawOperation): OperationRow {
  return {
    id: r.id,
    operation: r.operation,
    package: r.package,
    version: r.version,
    fromVersion: r.from_version,
    kind: r.kind,
    step: r.step,
    error: r.error,
    saves: r.saves,
    startedAt: r.started_at,
    updatedAt: r.updated_at,
    record: r.record,
    manifest: r.manifest ? (JSON.parse(r.manifest) as Manifest) : null,
  };
}
