// ferry config check [FILE]: validate a server config file (FILE, else --config / $FERRY_CONFIG,
// else /etc/ferry/server.json) with the same rules the server starts with, and show the
// settings it yields with the FERRY_* environment on top. Invalid: FERRY_CONFIG_INVALID (exit 2).
import type { CommandModule } from 'yargs';
import { FerryError } from '../../../shared/errors.js';
import { printJson, printLines } from '../output.js';
import type { GlobalArgs } from './common.js';

const check: CommandModule<GlobalArgs, GlobalArgs & { file?: string; config?: string }> = {
  command: 'check [file]',
  describe: 'Validate a server config file and show the settings it gives (with FERRY_* variables applied)',
  builder: (y) => y.positional('file', { type: 'string', describe: 'the file (default --config, $FERRY_CONFIG, else /etc/ferry/server.json)' }),
  handler: async (a) => {
    const { loadServerSettings } = await import('../../server-settings.js');
    const s = loadServerSettings(a.file ?? a.config);
    if (!s.file && (a.file ?? a.config) === undefined) {
      throw new FerryError('FERRY_NOT_FOUND', 'no config file to check: none given and /etc/ferry/server.json does not exist', { hint: 'ferry config check FILE' });
    }
    if (a.json) return printJson({ file: s.file ?? null, valid: true, settings: s.values });
    printLines([`${s.file ?? '(no file)'}: valid`, ...Object.entries(s.values).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`)]);
  },
};

export const configCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'config <command>',
  describe: 'The server config file',
  builder: (y) => y.command(check).demandCommand(1),
  handler: () => undefined,
};
