// Writes the node configs of `ferry nats config` (cluster-config.ts renders them): everything is
// rendered and checked first, then each file is written to a temporary name and renamed, so a
// refused flag or a failed write leaves no half-written set behind (nor the --out directory, when
// this run made it).
import { randomBytes } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FerryError } from '../../shared/errors.js';
import { silentLogger } from '../../shared/log.js';
import { dataPaths } from '../config.js';
import { openDatabase } from '../db/open.js';
import { assertInitialized } from '../init.js';
import { KeyRing } from '../keys.js';
import { makeOutDir } from '../util/out-dir.js';
import { renderClusterConfigs, type ClusterConfigInput } from './cluster-config.js';
import { NatsAuth } from './nats-auth.js';
import type { OperatorAuth } from './server-config.js';

export interface WriteClusterRequest extends Omit<ClusterConfigInput, 'auth' | 'routePassword' | 'storeDir'> {
  dataDir: string;
  out: string;
  storeDir?: string | undefined;
}

export interface WriteClusterResult {
  urls: string[];
  files: string[];
}

/** The operator, system account and account JWTs (with today's revocations) of a data directory. */
export async function operatorAuthOf(dataDir: string): Promise<OperatorAuth> {
  const paths = dataPaths(dataDir);
  assertInitialized(paths);
  const db = openDatabase(paths.db);
  try {
    const keys = new KeyRing(paths);
    const auth = await NatsAuth.open(paths, db, () => keys.rootFingerprint, silentLogger);
    return auth.operatorAuth;
  } finally {
    db.close();
  }
}

export async function writeClusterConfigs(req: WriteClusterRequest): Promise<WriteClusterResult> {
  const out = resolve(req.out);
  const nodes = renderClusterConfigs({
    ...req,
    storeDir: resolve(req.storeDir ?? out),
    routePassword: randomBytes(24).toString('base64url'),
    auth: await operatorAuthOf(req.dataDir),
  });
  const dir = makeOutDir(out);
  const tmps = nodes.map((n) => join(out, `.${n.file}.${process.pid}.tmp`));
  const renamed: string[] = [];
  try {
    // The route password and the account JWTs are in these files: owner only.
    nodes.forEach((n, i) => writeFileSync(tmps[i]!, n.config, { mode: 0o600 }));
    nodes.forEach((n, i) => {
      renameSync(tmps[i]!, join(out, n.file));
      renamed.push(join(out, n.file));
    });
  } catch (err) {
    // No mixed set: the configs of one run share a route password.
    for (const f of [...tmps, ...renamed]) rmSync(f, { force: true });
    dir.undo();
    throw new FerryError('FERRY_INVALID_INPUT', `cannot write the configs to ${out}: ${(err as Error).message}`, { cause: err });
  }
  return { urls: nodes.map((n) => n.url), files: nodes.map((n) => join(out, n.file)) };
}
