// Drift detection: compare installed files with the hashes in their package's manifest.
// Reports files that are modified (size, content or mode) or missing; extra files (logs,
// caches an application writes) are not drift.
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { join } from 'node:path';
import type { DriftDoc } from '../../shared/protocol/messages.js';
import type { InstalledPackage, Journal } from './journal.js';

export interface PackageDrift {
  package: string;
  version: string;
  modified: string[];
  missing: string[];
}

export async function checkDrift(installRoot: string, pkg: Pick<InstalledPackage, 'name' | 'version' | 'manifest'>): Promise<PackageDrift> {
  const dir = join(installRoot, pkg.name, pkg.version);
  const drift: PackageDrift = { package: pkg.name, version: pkg.version, modified: [], missing: [] };
  for (const f of pkg.manifest.files) {
    const path = join(dir, f.path);
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st || !st.isFile()) {
      drift.missing.push(f.path);
      continue;
    }
    if (st.size !== f.size || (st.mode & 0o777) !== f.mode || (await sha256File(path)) !== f.sha256) drift.modified.push(f.path);
  }
  return drift;
}

/** "modified etc/app.conf; missing bin/app" (the first few of each). */
export function describeDrift(d: PackageDrift): string {
  const few = (list: string[]) => list.slice(0, 5).join(', ') + (list.length > 5 ? ` and ${list.length - 5} more` : '');
  return [d.modified.length ? `modified ${few(d.modified)}` : '', d.missing.length ? `missing ${few(d.missing)}` : ''].filter(Boolean).join('; ');
}

function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => hash.update(d))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** Check every installed package, remember the result in the journal, return the drifted ones. */
export async function verifyAll(journal: Journal, installRoot: string): Promise<DriftDoc> {
  const drift: DriftDoc = [];
  for (const pkg of journal.installed()) {
    const d = await checkDrift(installRoot, pkg);
    if (d.modified.length || d.missing.length) drift.push({ ...d, modified: d.modified.slice(0, 1000), missing: d.missing.slice(0, 1000) });
  }
  journal.setMeta('drift', JSON.stringify(drift));
  journal.setMeta('drift_checked_at', new Date().toISOString());
  return drift;
}
