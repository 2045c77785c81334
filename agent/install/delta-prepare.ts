// The download step's delta path: with a version of the package kept on disk and a signed file
// index in the DML, fetch only the contents no kept version has (agent/install/delta.ts then
// assembles the version from both in the stage step). Anything that goes wrong here (no index,
// nothing to reuse, a fetch that fails) returns null: the machine downloads the whole package.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { FerryError, toFerryError } from '../../shared/errors.js';
import type { DmlRecord } from '../../shared/protocol/messages.js';
import { deltaLimitProblem, deltaWorthIt, planDelta, type KeptVersion } from '../../shared/package/delta.js';
import type { Manifest } from '../../shared/package/manifest.js';
import type { RatePacer } from '../../shared/nats/pacer.js';
import { checkFreeSpace } from './free-space.js';
import type { PreparedDelta } from './delta.js';

/** How one install's reads are made: all of them share the install's pacer (its --max-rate), if any. */
export interface FetchOptions {
  pacer?: RatePacer | undefined;
}

/** Where a delta's file index and contents come from (the DML). */
export interface DeltaSource {
  /** the signed file index of a version (null: the DML has none) */
  index: (record: DmlRecord, opts?: FetchOptions) => Promise<{ manifest: Manifest; dirs: string[] } | null>;
  /** one content by hash, checked against it, to dest */
  fetchFile: (file: { sha256: string; size: number }, dest: string, opts?: FetchOptions) => Promise<void>;
}

/** The install a delta is prepared for. */
export interface DeltaTarget {
  name: string;
  version: string;
  record: DmlRecord;
  /** the whole package's download path; the fetched contents wait next to it */
  download: string;
  pacer?: RatePacer | undefined;
}

export interface DeltaPrepareDeps {
  source: DeltaSource;
  /** the versions of the package kept on disk (other than the target) */
  kept: readonly KeptVersion[];
  downloadDir: string;
  log: Logger;
}

/** Where a delta's fetched contents wait for the stage step (removed with the download). */
export function deltaFilesDir(download: string): string {
  return `${download}.files`;
}

export async function prepareDelta(target: DeltaTarget, d: DeltaPrepareDeps): Promise<PreparedDelta | null> {
  const { name, version, record, pacer } = target;
  if (!d.kept.length) return null;
  const filesDir = deltaFilesDir(target.download);
  const started = Date.now();
  try {
    const index = await d.source.index(record, { pacer });
    if (!index) {
      d.log.info({ package: name, version }, 'no file index in the DML for this version; downloading the whole package');
      return null;
    }
    if (index.manifest.name !== name || index.manifest.version !== version) {
      throw new FerryError('FERRY_PACKAGE_INVALID', `the file index is for ${index.manifest.name}@${index.manifest.version}, the signed record says ${name}@${version}`);
    }
    const tooBig = deltaLimitProblem(index.manifest, index.dirs);
    if (tooBig) throw new FerryError('FERRY_ARCHIVE_UNSAFE', `${name}@${version}: ${tooBig}`);
    const plan = planDelta(index.manifest, d.kept);
    if (!deltaWorthIt(plan, record.size)) {
      d.log.info({ package: name, version, reuseBytes: plan.reuseBytes, fetchBytes: plan.fetchBytes }, 'a delta would not save anything; downloading the whole package');
      return null;
    }
    rmSync(filesDir, { recursive: true, force: true });
    mkdirSync(filesDir, { recursive: true });
    checkFreeSpace(d.downloadDir, plan.fetchBytes, 'download');
    for (const f of plan.fetch) await d.source.fetchFile(f, join(filesDir, f.sha256), { pacer });
    d.log.info(
      { package: name, version, from: d.kept.map((k) => k.version), reuse: plan.reuse.length, fetch: plan.fetch.length, reuseBytes: plan.reuseBytes, fetchBytes: plan.fetchBytes, ms: Date.now() - started },
      'delta: fetched only the files no kept version has',
    );
    return { manifest: index.manifest, dirs: index.dirs, plan, filesDir };
  } catch (err) {
    rmSync(filesDir, { recursive: true, force: true });
    d.log.warn({ package: name, version, err: toFerryError(err).toLine() }, 'delta download failed; downloading the whole package');
    return null;
  }
}
