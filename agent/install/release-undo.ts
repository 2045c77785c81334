// A release is installed or undone as a whole on a host: when one of its packages fails (at
// install, or its health check during the soak), the others it brought go back too. Every
// package goes back through the install machine's persisted revert steps (crash-safe).
import { join } from 'node:path';
import type { Logger } from 'pino';
import { toFerryError } from '../../shared/errors.js';
import { redactText } from '../../shared/redact.js';
import { runHealthcheck } from './hooks.js';
import type { Journal } from './journal.js';
import type { InstallMachine, OperationResult } from './machine.js';

/** Switch these packages back to their previous versions, in the order given; returns those that went back. */
export async function rollBackPackages(machine: InstallMachine, log: Logger, operation: string, names: string[], reason: string): Promise<string[]> {
  const undone: string[] = [];
  for (const name of names) {
    try {
      const r = await machine.revertPackage(operation, name, { reason, unlinkIfNoneKept: true });
      if (r.outcome === 'rolled-back') undone.push(name);
      else log.error({ package: name, reason: r.report.error }, 'could not roll back a package of the failed release');
    } catch (err) {
      log.error({ package: name, reason: toFerryError(err).toLine() }, 'could not roll back a package of the failed release');
    }
  }
  return undone;
}

/**
 * Early life support: packages still in their soak period are health-checked again; one that
 * turns unhealthy is rolled back with the rest of its release (newest first), and reported
 * against the rollout that installed it. Returns the reverts of the unhealthy packages.
 */
export async function watchSoak(journal: Journal, machine: InstallMachine, installRoot: string, log: Logger): Promise<OperationResult[]> {
  const results: OperationResult[] = [];
  for (const p of journal.watched()) {
    if (!p.manifest.hooks?.healthcheck) continue;
    const now = journal.installedOne(p.name);
    if (now?.version !== p.version || now.operation !== p.operation) continue; // rolled back with its release
    const result = await runHealthcheck({ manifest: p.manifest, dir: join(installRoot, p.name, p.version), previousVersion: p.previousVersion, installRoot });
    if (result.ok) continue;
    // The hook's last line goes into the log and the report: secrets redacted, as in every hook output.
    const reason = `health check failed during soak: ${redactText(result.output).trim().split('\n').pop() ?? ''}`.slice(0, 400);
    log.warn({ package: p.name, version: p.version, reason }, 'rolling back an unhealthy package');
    const operation = p.operation ?? `watch-${Date.now()}`;
    const siblings = p.operation ? journal.installed().filter((q) => q.operation === p.operation && q.name !== p.name) : [];
    results.push(await machine.revertPackage(operation, p.name, { reason, unlinkIfNoneKept: true }));
    const newestFirst = siblings.sort((a, b) => b.installedAt - a.installedAt).map((q) => q.name);
    await rollBackPackages(machine, log, operation, newestFirst, `rolled back with the release: ${reason}`);
  }
  return results;
}
