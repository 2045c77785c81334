// What the install machine (machine.ts) takes and reports: an install job, its dependencies, its
// progress reports and how an operation ended. Kept apart from the step loop; machine.ts re-exports
// them, and its importers name them from there.
import type { Logger } from 'pino';
import type { DmlRecord, HostState, PackageChange } from '../../shared/protocol/messages.js';
import type { DeltaSource, FetchOptions } from './delta-prepare.js';
import type { Journal } from './journal.js';
import type { InstallStep, OperationKind } from './states.js';

export type { FetchOptions };

export interface InstallJob {
  operation: string;
  record: DmlRecord;
  /** an explicit, signed rollback may go to a lower version */
  allowDowngrade: boolean;
  /** keep health-checking for this long after commit (the rollout's soak period) */
  watchMs?: number;
  /** pace the download to this many bytes per second (the rollout's --max-rate) */
  maxBytesPerSecond?: number;
}

export interface ProgressReport {
  operation: string;
  state: HostState;
  package: string;
  version: string;
  previousVersion?: string;
  step: string;
  error?: string;
  output?: string;
  /** a desired state's final report: the other packages it changed (agent/apply/release.ts) */
  changed?: PackageChange[];
}

export interface MachineDeps {
  journal: Journal;
  installRoot: string;
  downloadDir: string;
  /** download the package bytes to dest, verifying the record's SHA-256 and size */
  fetch: (record: DmlRecord, dest: string, opts?: FetchOptions) => Promise<void>;
  report: (r: ProgressReport) => void;
  log: Logger;
  keepVersions: number;
  host: { os: string; arch: string };
  /**
   * File-level deltas (optional): the signed file index of a version (null: the DML has none) and
   * one file's content by hash. Without them every install downloads the whole package.
   */
  delta?: DeltaSource;
  /**
   * Called right after each step was saved and before it runs (every step of every kind). May
   * delay or throw (a simulated failure of that step); the crash tests SIGKILL the agent here.
   */
  beforeStep?: (step: InstallStep, op: StepInfo) => Promise<void>;
}

/** Which operation a step belongs to (for beforeStep). */
export interface StepInfo {
  kind: OperationKind;
  operation: string;
  package: string;
  version: string;
}

/** How an operation ended, with the final report it sent. */
export interface OperationResult {
  outcome: Outcome;
  report: ProgressReport;
}

export interface RevertOptions {
  /** why (a failed health check, a failed sibling package…); goes into the final report */
  reason?: string;
  /** with no previous version kept, unlink the package instead of refusing (soak, release undo) */
  unlinkIfNoneKept?: boolean;
}

export type Outcome = 'done' | 'failed' | 'rolled-back';
