// The `ferry` CLI: a plain list of command modules; errors become exit codes only here.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { FerryError } from '../../shared/errors.js';
import { loadServerSettings } from '../config.js';
import { agentsCommand, cmdbCommand } from './commands/agents.js';
import { backupCommand, restoreCommand } from './commands/backup.js';
import type { GlobalArgs } from './commands/common.js';
import { dmlCommand } from './commands/dml.js';
import { initCommand } from './commands/init.js';
import { keysCommand } from './commands/keys.js';
import { scheduleCommand } from './commands/schedule.js';
import { auditCommand } from './commands/audit.js';
import { operatorCommand } from './commands/operator.js';
import { notifyCommand } from './commands/notify.js';
import { packageCommand } from './commands/package.js';
import { releaseCommand } from './commands/release.js';
import { rolloutCommand } from './commands/rollout.js';
import { serverCommand } from './commands/server.js';
import { tokenCommand } from './commands/token.js';
import { failAndExit } from './output.js';

export async function main(argv: string[]): Promise<void> {
  const json = argv.includes('--json');
  try {
    await yargs(hideBin(argv))
      .scriptName('ferry')
      .usage('$0 <command> [options]\n\nFerry: signed software distribution over NATS.')
      .option('data-dir', { type: 'string', describe: 'server data directory (default $FERRY_HOME, else dataDir in the config file, else ~/.ferry)', global: true })
      .option('nats', { type: 'string', describe: 'NATS URL of a remote server (default: from the data directory)', global: true })
      .option('creds', { type: 'string', describe: 'your credentials file (from ferry operator add; env FERRY_CREDS; default: the data directory keys/admin.creds, the bootstrap admin)', global: true })
      .option('tls-ca', { type: 'string', describe: 'CA certificate for a NATS that serves TLS (default: from the data directory)', global: true })
      .option('json', { type: 'boolean', default: false, describe: 'print exactly one JSON document', global: true })
      .option('config', { type: 'string', describe: 'server config file (default $FERRY_CONFIG, else /etc/ferry/server.json if it exists)', global: true })
      .middleware((a) => {
        // Flags > FERRY_* environment > config file > defaults: fill only what no flag set.
        const s = loadServerSettings(a.config as string | undefined).values;
        const fill: [string, string | undefined][] = [['data-dir', process.env.FERRY_HOME ? undefined : s.dataDir], ['nats', s.nats], ['creds', s.creds], ['tls-ca', s.tlsCa], ['listen', s.listen], ['tls-cert', s.tlsCert], ['tls-key', s.tlsKey], ['metrics-listen', s.metricsListen]];
        for (const [flag, value] of fill) if (a[flag] === undefined && value !== undefined) a[flag] = value;
        if (s.logLevel && !process.env.FERRY_LOG_LEVEL) process.env.FERRY_LOG_LEVEL = s.logLevel;
        if (s.offlineAfterMs && !process.env.FERRY_OFFLINE_AFTER_MS) process.env.FERRY_OFFLINE_AFTER_MS = String(s.offlineAfterMs);
      })
      .command(initCommand)
      .command(serverCommand)
      .command(tokenCommand)
      .command(packageCommand)
      .command(dmlCommand)
      .command(releaseCommand)
      .command(rolloutCommand)
      .command(agentsCommand)
      .command(cmdbCommand)
      .command(keysCommand)
      .command(scheduleCommand)
      .command(auditCommand)
      .command(operatorCommand)
      .command(notifyCommand)
      .command(backupCommand)
      .command(restoreCommand)
      .demandCommand(1, 'say what to do: ferry --help lists the commands')
      .strict()
      .recommendCommands()
      .fail((msg, err) => {
        throw err ?? new FerryError('FERRY_USAGE', msg, { hint: 'see ferry --help' });
      })
      .help()
      .version(false)
      .wrap(Math.min(120, process.stdout.columns || 100))
      .parseAsync() as unknown as Promise<GlobalArgs>;
  } catch (err) {
    failAndExit(err, json);
  }
}
