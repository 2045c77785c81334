// Which operations a crash left for recovery, and so whether there is any: the one rule that both
// InstallMachine.recover (which resumes or undoes them) and the daemon's start (which loads the
// install machine only when there is something to recover) follow. Nothing here loads the install
// path: the journal and the step names only.
import type { Journal, OperationRow } from './journal.js';
import { isWorkStep, type WorkStep } from './states.js';

/** An operation a crash interrupted: saved at a step that had not finished. */
export type InterruptedOperation = OperationRow & { step: WorkStep };

/** The operations a crash interrupted, oldest first (the order recovery takes them in). */
export function interruptedOperations(journal: Pick<Journal, 'unfinishedOperations'>): InterruptedOperation[] {
  return journal.unfinishedOperations().filter((op): op is InterruptedOperation => isWorkStep(op.step));
}

/** Does the journal hold an operation a crash interrupted (InstallMachine.recover has work)? */
export function needsRecovery(journal: Pick<Journal, 'unfinishedOperations'>): boolean {
  return interruptedOperations(journal).length > 0;
}
