// How an agent's final status report becomes lines of the host's change history (CmdbStore
// .addHistory): one line per package it changed, with the version each replaced. Reports of every
// agent version are read: one from before `changed` names only its last package.
import { FLEET_ROLLBACK_OPERATION_SUFFIX, LOCAL_ROLLBACK_OPERATION_PREFIX, TERMINAL_HOST_STATES, type StatusReport } from '../../shared/protocol/messages.js';

/** An operation that only realigns the desired state with what the host already has (nothing changed). */
const REVERT_SUFFIX = ':revert';

export interface HistoryLine {
  kind: 'install' | 'remove' | 'rollback';
  package: string;
  version?: string;
  fromVersion?: string;
  operation: string;
  result: string;
  detail?: string;
  output?: string;
}

/**
 * The history lines of a status report, oldest first: none for progress or a ':revert'; for a
 * final report, the other packages its desired state changed (`changed`), then its own package
 * with its error and hooks' output.
 *
 * Kind: a fleet rollback (operation `<rollout>:rollback`) and an operator's `ferry-agent rollback`
 * (operation `local-rollback-<ts>`) are rollbacks; otherwise a removal (step 'remove') or an
 * install. An install the agent switched back itself (a failed hook or health check) stays an
 * install, rolled-back: a failure. A local rollback that went through is recorded 'succeeded',
 * as a fleet rollback's is (the agent reports it 'rolled-back': the state the revert ended in).
 */
export function historyLines(report: StatusReport): HistoryLine[] {
  if (!TERMINAL_HOST_STATES.includes(report.state) || !report.package || report.operation.endsWith(REVERT_SUFFIX)) return [];
  const local = report.operation.startsWith(LOCAL_ROLLBACK_OPERATION_PREFIX);
  const kind = (step: string | undefined): HistoryLine['kind'] => (local || report.operation.endsWith(FLEET_ROLLBACK_OPERATION_SUFFIX) ? 'rollback' : step === 'remove' ? 'remove' : 'install');
  const result = local && report.state === 'rolled-back' ? 'succeeded' : report.state;
  const earlier = (report.changed ?? []).map(
    (c): HistoryLine => ({ kind: kind(c.step), package: c.package, version: c.version, ...(c.previousVersion ? { fromVersion: c.previousVersion } : {}), operation: report.operation, result }),
  );
  return [
    ...earlier,
    {
      kind: kind(report.step),
      package: report.package,
      ...(report.version ? { version: report.version } : {}),
      ...(report.previousVersion ? { fromVersion: report.previousVersion } : {}),
      operation: report.operation,
      result,
      ...(report.error ? { detail: report.error } : {}),
      ...(report.output ? { output: report.output } : {}),
    },
  ];
}
