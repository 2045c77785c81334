// The `ferry` CLI: a plain list of command modules; errors become exit codes only here.
import yargs, { type CommandModule } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { FerryError } from '../../shared/errors.js';
import { agentsCommand, cmdbCommand } from './commands/agents.js';
import { backupCommand, restoreCommand } from './commands/backup.js';
import { COMMAND_LINE_FLAGS, type GlobalArgs } from './commands/common.js';
import { dmlCommand } from './commands/dml.js';
import { initCommand } from './commands/init.js';
import { keysCommand } from './commands/keys.js';
import { natsCommand } from './commands/nats.js';
import { siteCommand } from './commands/site.js';
import { scheduleCommand } from './commands/schedule.js';
import { auditCommand } from './commands/audit.js';
import { operatorCommand } from './commands/operator.js';
import { notifyCommand } from './commands/notify.js';
import { packageCommand } from './commands/package.js';
import { releaseCommand } from './commands/release.js';
import { rolloutCommand } from './commands/rollout.js';
import { serverCommand } from './commands/server.js';
import { tokenCommand } from './commands/token.js';
import { statusCommand } from './commands/status.js';
import { logsCommand } from './commands/logs.js';
import { configCommand } from './commands/config.js';
import { uiCommand } from './commands/ui.js';
import { configureOutput, failAndExit } from './output.js';
import { endOnBrokenPipe } from '../../shared/broken-pipe.js';
import { formatFromArgv } from '../../shared/output-format.js';
import { aliasNames, commandTree, withExamples, topExamples } from './help.js';
import { nearestCommand } from '../../shared/suggest.js';
import { completionHelp, selectCompletionShell } from '../../shared/completion.js';
import { ferryVersion } from '../version.js';

/** Options every command takes: --help lists them after the command's own, under this heading. */
const GLOBAL_OPTIONS = ['data-dir', 'nats', 'creds', 'tls-ca', 'json', 'output', 'headers', 'config', 'help', 'version'];

/** A usage failure as one line; a mistyped subcommand names the nearest real one. */
function usageError(msg: string, args: string[]): FerryError {
  const words = args.filter((x) => !x.startsWith('-'));
  let path = '';
  for (const word of words) {
    const here = commandTree.get(path);
    if (!here?.length) break;
    if (!here.includes(word)) {
      const near = nearestCommand(word, here);
      return new FerryError('FERRY_USAGE', `unknown command "${[path, word].filter(Boolean).join(' ')}"${near ? `: did you mean ${[path, near].filter(Boolean).join(' ')}?` : ''}`, {
        hint: `the commands${path ? ` of ferry ${path}` : ''}: ${[...new Set(here)].join(', ')}`,
      });
    }
    path = [path, aliasNames.get([path, word].filter(Boolean).join(' ')) ?? word].filter(Boolean).join(' ');
  }
  return new FerryError('FERRY_USAGE', msg, { hint: 'see ferry --help' });
}

export async function main(argv: string[]): Promise<void> {
  const format = formatFromArgv(argv);
  const json = format === 'json' || format === 'yaml';
  endOnBrokenPipe(); // `ferry … | head -1`: the command ends quietly, exit 141 (shared/broken-pipe.ts)
  try {
    const completionText = completionHelp(hideBin(argv), 'ferry');
    if (completionText) return void process.stdout.write(completionText);
    selectCompletionShell(hideBin(argv), 'ferry');
    let cli = yargs(hideBin(argv))
      .scriptName('ferry')
      .usage('$0 <command> [options]\n\nFerry: signed software distribution over NATS.')
      .option('data-dir', { type: 'string', describe: 'server data directory (default $FERRY_HOME, else dataDir in the config file, else ~/.ferry)', global: true })
      .option('nats', { type: 'string', describe: 'NATS URL of a remote server (default: from the data directory)', global: true })
      .option('creds', { type: 'string', describe: 'your credentials file (from ferry operator add; env FERRY_CREDS; default: the data directory keys/admin.creds, the bootstrap admin)', global: true })
      .option('tls-ca', { type: 'string', describe: 'CA certificate for a NATS that serves TLS (default: from the data directory)', global: true })
      .option('json', { type: 'boolean', default: false, describe: 'print exactly one JSON document', global: true })
      .option('config', { type: 'string', describe: 'server config file (default $FERRY_CONFIG, else /etc/ferry/server.json if it exists)', global: true })
      .option('output', { alias: 'o', choices: ['json', 'yaml', 'wide'] as const, describe: 'json (= --json), yaml (the same document), wide (table cells never cut)', global: true })
      .option('headers', { type: 'boolean', default: true, describe: 'print the header row of tables (--no-headers: only the rows)', global: true })
      .group(GLOBAL_OPTIONS, 'Global options:')
      .middleware((a) => {
        // -o json|yaml print the --json document; every command already knows --json.
        const o = a.output as 'json' | 'yaml' | 'wide' | undefined;
        if (a.json === true && (o === 'yaml' || o === 'wide')) throw new FerryError('FERRY_USAGE', `--json and -o ${o} ask for two formats`, { hint: 'give one of them' });
        if (o === 'json' || o === 'yaml') a.json = true;
        configureOutput({ format: o ?? (a.json ? 'json' : 'table'), headers: a.headers !== false });
      })
      .middleware(async (a) => {
        // Flags > FERRY_* environment > config file > defaults: fill only what no flag set (and, for
        // the data directory and the credentials, what FERRY_HOME / FERRY_CREDS do not set either).
        const { loadServerSettings } = await import('../server-settings.js');
        const s = loadServerSettings(a.config as string | undefined).values;
        const fill: [string, string | undefined][] = [['data-dir', process.env.FERRY_HOME ? undefined : s.dataDir], ['nats', s.nats], ['creds', process.env.FERRY_CREDS ? undefined : s.creds], ['tls-ca', s.tlsCa], ['listen', s.listen], ['tls-cert', s.tlsCert], ['tls-key', s.tlsKey], ['metrics-listen', s.metricsListen], ['ui-listen', s.uiListen]];
        // Recorded first: a command can tell a flag from a value of the config file (ferry server --nats refuses --listen).
        a[COMMAND_LINE_FLAGS] = new Set(fill.map(([flag]) => flag).filter((flag) => a[flag] !== undefined));
        for (const [flag, value] of fill) if (a[flag] === undefined && value !== undefined) a[flag] = value;
        if (s.logLevel && !process.env.FERRY_LOG_LEVEL) process.env.FERRY_LOG_LEVEL = s.logLevel;
        if (s.offlineAfterMs && !process.env.FERRY_OFFLINE_AFTER_MS) process.env.FERRY_OFFLINE_AFTER_MS = String(s.offlineAfterMs);
      })
      .completion('completion', 'Print a bash or zsh completion script: ferry completion bash|zsh (default: for $SHELL)');
    for (const command of [initCommand, serverCommand, statusCommand, logsCommand, configCommand, tokenCommand, packageCommand, dmlCommand, releaseCommand, rolloutCommand, agentsCommand, cmdbCommand, keysCommand, natsCommand, siteCommand, scheduleCommand, auditCommand, operatorCommand, notifyCommand, uiCommand, backupCommand, restoreCommand]) {
      cli = cli.command(withExamples(command as CommandModule<GlobalArgs, GlobalArgs>));
    }
    commandTree.set('', [...(commandTree.get('') ?? []), 'completion']);
    for (const [cmd, what] of topExamples()) cli = cli.example(cmd, what);
    await cli
      .demandCommand(1, 'say what to do: ferry --help lists the commands')
      .strict()
      .fail((msg, err) => {
        // yargs' own errors (YError: a flag without its value, "Not enough arguments following: soak") are usage errors too.
        throw err && err.name !== 'YError' ? err : usageError(err?.message ?? msg, hideBin(argv));
      })
      .help()
      .version(ferryVersion())
      .wrap(Math.min(120, process.stdout.columns || 100))
      .parseAsync() as unknown as Promise<GlobalArgs>;
  } catch (err) {
    failAndExit(err, json);
  }
}
