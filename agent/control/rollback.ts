// `ferry-agent rollback PACKAGE`: one local rollback through the install machine's persisted
// revert steps — run by the daemon when one runs (asked over its control socket), or by the CLI
// itself, holding the state directory's lock, when none does.
import { FerryError, type FerryErrorCode } from '../../shared/errors.js';
import type { Journal } from '../install/journal.js';
import type { InstallMachine } from '../install/machine.js';
import type { RollbackAnswer } from './socket.js';

export async function localRollback(machine: InstallMachine, journal: Journal, pkg: string): Promise<RollbackAnswer> {
  const before = journal.installedOne(pkg)?.version;
  const r = await machine.revertPackage(`local-rollback-${Date.now()}`, pkg);
  if (r.outcome !== 'rolled-back') throw errorFromReport(r.report.error ?? `rolling ${pkg} back failed`);
  return { package: pkg, from: before, to: journal.installedOne(pkg)?.version, state: r.report.state };
}

/** A report's error line ("FERRY_X: message") as a FerryError again. */
function errorFromReport(line: string): FerryError {
  const m = /^(FERRY_[A-Z_]+): ([\s\S]*)$/.exec(line);
  return m ? new FerryError(m[1] as FerryErrorCode, m[2]!) : new FerryError('FERRY_INSTALL_FAILED', line);
}
