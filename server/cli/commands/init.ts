// ferry init: create keys, database and NATS identities in the data directory (idempotent).
import type { CommandModule } from 'yargs';
import { resolveDataDir } from '../../config.js';
import { printJson, printLines } from '../output.js';
import type { GlobalArgs } from './common.js';

export const initCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'init',
  describe: 'Create keys, database and NATS configuration in the data directory (idempotent)',
  handler: async (a) => {
    const { initDataDir } = await import('../../init.js');
    const result = initDataDir(resolveDataDir(a['data-dir']));
    if (a.json) return printJson(result);
    printLines([
      result.created.length ? `Initialised ${result.dataDir}` : `${result.dataDir} is already initialised; nothing changed`,
      `Root key:    ${result.rootKeyFingerprint} (join tokens pin it; keep keys/root.json safe, ideally offline)`,
      `Signing key: ${result.signingKeyFingerprint}; trust document valid until ${result.trustExpiresAt}`,
      `Next: ferry server --data-dir ${result.dataDir}`,
    ]);
  },
};
