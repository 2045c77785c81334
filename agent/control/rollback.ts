// `ferry-agent rollback PACKAGE`: one local rollback through the install machine's persisted
// revert steps — run by the daemon when one runs (asked over its control socket), or by the CLI
// itself, holding the state directory's lock, when none does.
import { FerryError, type FerryErrorCode } from '../../shared/errors.js';
import { LOCAL_ROLLBACK_OPERATION_PREFIX } from '../../shared/protocol/messages.js';
import { silentLogger } from '../../shared/log.js';
import type { AgentPaths } from '../config.js';
import { Journal } from '../install/journal.js';
import { InstallMachine, type MachineDeps } from '../install/machine.js';
import { Reporter } from '../reporter.js';
import { StateLock, lockHolder } from './lock.js';
import { controlSocketPath, type RollbackAnswer } from './socket.js';

export async function localRollback(machine: InstallMachine, journal: Journal, pkg: string): Promise<RollbackAnswer> {
  const before = journal.installedOne(pkg)?.version;
  const r = await machine.revertPackage(`${LOCAL_ROLLBACK_OPERATION_PREFIX}${Date.now()}`, pkg);
  if (r.outcome !== 'rolled-back') throw errorFromReport(r.report.error ?? `rolling ${pkg} back failed`);
  return { package: pkg, from: before, to: journal.installedOne(pkg)?.version, state: r.report.state };
}

/**
 * No daemon answers on the control socket: roll back in this process, holding the state
 * directory's lock so a daemon starting meanwhile waits. A live lock holder that does not answer
 * is a daemon that is stuck or still starting, or another local rollback: refused.
 */
export async function rollbackAlone(paths: AgentPaths, installRoot: string, agentId: string, pkg: string, beforeStep?: MachineDeps['beforeStep']): Promise<RollbackAnswer> {
  const holder = lockHolder(paths.dir);
  if (holder?.role === 'daemon') {
    throw new FerryError('FERRY_AGENT_UNREACHABLE', `the agent daemon (pid ${holder.pid}) holds ${paths.dir} but does not answer on ${controlSocketPath(paths.dir)}`, {
      hint: 'it may still be starting (recovering an interrupted operation): try again in a moment, or see its log',
    });
  }
  const lock = StateLock.acquire(paths.dir, 'local-rollback');
  const journal = new Journal(paths.journal);
  try {
    // Reports are queued in the outbox; the daemon sends them when it runs.
    const reporter = new Reporter(agentId, journal, silentLogger);
    const machine = new InstallMachine({
      journal,
      installRoot,
      downloadDir: paths.staging,
      fetch: () => Promise.reject(new FerryError('FERRY_SERVER_UNREACHABLE', 'the agent daemon is not running, so nothing can be downloaded (start it and try again)')),
      report: (r) => reporter.status(r),
      log: silentLogger,
      keepVersions: 3,
      host: { os: process.platform, arch: process.arch },
      ...(beforeStep ? { beforeStep } : {}),
    });
    // An operation a crash interrupted comes first (as the daemon would do at start).
    await machine.recover();
    return await localRollback(machine, journal, pkg);
  } finally {
    journal.close();
    lock.release();
  }
}

/** A report's error line ("FERRY_X: message") as a FerryError again. */
function errorFromReport(line: string): FerryError {
  const m = /^(FERRY_[A-Z_]+): ([\s\S]*)$/.exec(line);
  return m ? new FerryError(m[1] as FerryErrorCode, m[2]!) : new FerryError('FERRY_INSTALL_FAILED', line);
}
