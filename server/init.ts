// `ferry init`: creates the data directory with keys, database and NATS identities. Idempotent:
// existing keys are never replaced, so re-running it cannot orphan joined agents.
import { createUser } from '@nats-io/nkeys';
import { chmodSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dataPaths, type DataPaths } from './config.js';
import { openDatabase } from './db/open.js';
import { ensureKeys, KeyRing, trustPath } from './keys.js';
import { FerryError } from '../shared/errors.js';
import { writeDefaultPolicy } from './policy/policy.js';
import { ensureNatsKeys } from './nats/nats-keys.js';

export interface InitResult {
  dataDir: string;
  created: string[];
  rootKeyFingerprint: string;
  signingKeyFingerprint: string;
  trustExpiresAt: string;
}

export function initDataDir(dir: string): InitResult {
  const paths = dataPaths(dir);
  const created: string[] = [];
  for (const d of [paths.dir, paths.keysDir, paths.natsDir, paths.tmpDir]) {
    if (!existsSync(d)) {
      mkdirSync(d, { recursive: true, mode: 0o700 });
      created.push(d);
    }
  }
  created.push(...ensureKeys(paths));
  if (ensureNatsKeys(paths.natsKeys)) created.push(paths.natsKeys);
  for (const seedFile of [paths.serverSeed, paths.adminSeed]) {
    if (!existsSync(seedFile)) {
      writeSecret(seedFile, new TextDecoder().decode(createUser().getSeed()) + '\n');
      created.push(seedFile);
    }
  }
  if (writeDefaultPolicy(paths.policy)) created.push(paths.policy);
  const dbExisted = existsSync(paths.db);
  openDatabase(paths.db).close();
  if (!dbExisted) created.push(paths.db);
  const keys = new KeyRing(paths);
  return { dataDir: dir, created, rootKeyFingerprint: keys.rootFingerprint, signingKeyFingerprint: keys.signingFingerprint, trustExpiresAt: keys.trustDoc.expiresAt };
}

export function assertInitialized(paths: DataPaths): void {
  if (!existsSync(paths.signingKey) || !existsSync(paths.db) || !existsSync(trustPath(paths))) {
    throw new FerryError('FERRY_NOT_INITIALIZED', `${paths.dir} is not a Ferry data directory`, { hint: `run: ferry init --data-dir ${paths.dir}` });
  }
}

function writeSecret(file: string, content: string): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}
