// `ferry init`: creates the data directory with keys, database and NATS identities. Idempotent:
// existing keys are never replaced, so re-running it cannot orphan joined agents.
import { createUser } from '@nats-io/nkeys';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dataPaths, type DataPaths } from './config.js';
import { openDatabase } from './db/open.js';
import { generateSigningKeyPair, keyFingerprint, type SigningKeyPair } from '../shared/crypto/sign.js';
import { FerryError } from '../shared/errors.js';

export interface InitResult {
  dataDir: string;
  created: string[];
  signingKeyFingerprint: string;
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
  if (!existsSync(paths.signingKey)) {
    writeSecret(paths.signingKey, JSON.stringify(generateSigningKeyPair(), null, 2));
    created.push(paths.signingKey);
  }
  for (const seedFile of [paths.serverSeed, paths.adminSeed, paths.enrollSeed]) {
    if (!existsSync(seedFile)) {
      writeSecret(seedFile, new TextDecoder().decode(createUser().getSeed()) + '\n');
      created.push(seedFile);
    }
  }
  const dbExisted = existsSync(paths.db);
  openDatabase(paths.db).close();
  if (!dbExisted) created.push(paths.db);
  return { dataDir: dir, created, signingKeyFingerprint: keyFingerprint(loadSigningKey(paths).publicKey) };
}

export function assertInitialized(paths: DataPaths): void {
  if (!existsSync(paths.signingKey) || !existsSync(paths.db)) {
    throw new FerryError('FERRY_NOT_INITIALIZED', `${paths.dir} is not a Ferry data directory`, { hint: `run: ferry init --data-dir ${paths.dir}` });
  }
}

export function loadSigningKey(paths: DataPaths): SigningKeyPair {
  return JSON.parse(readFileSync(paths.signingKey, 'utf8')) as SigningKeyPair;
}

function writeSecret(file: string, content: string): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}
