// The `ferry-agent` CLI: join, run, status, rollback. Errors become exit codes only here.
// Each command loads the modules it needs when it runs (`await import()`), and `run` and
// `--version` are parsed without yargs (./fast-parse.ts): the daemon stays small (docs/performance.md).
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Argv } from 'yargs';
import { FerryError, exitCodeFor, toFerryError } from '../../shared/errors.js';
import { completionHelp, selectCompletionShell } from '../../shared/completion.js';
import { createLogger, silentLogger } from '../../shared/log.js';
import { formatFromArgv, OUTPUT_FORMATS } from '../../shared/output-format.js';
import { toYaml } from '../../shared/yaml.js';
import { jsonText } from '../../shared/text.js';
import { endOnBrokenPipe, keepRunningOnBrokenPipe } from '../../shared/broken-pipe.js';
import { agentPaths, agentTimings, decommissionedAt, loadAgentSettings, loadIdentity, resolveStateDir, type AgentSettings } from '../config.js';
import type { MachineDeps } from '../install/machine.js';
import type { WindowClock } from '../maintenance-hold.js';
import { isAlive } from '../control/lock.js';
import { resolveMaintenance, type MaintenanceFlags } from '../maintenance.js';
import { DEFAULT_UNIT_DIR, installService, uninstallService } from '../service/install.js';
import { SELF_UPDATE_EXIT_CODE } from '../service/probation.js';
import { parseWithoutYargs, type RunArgs } from './fast-parse.js';
import { errorText, humanText } from './print.js';

/** Set by the bundler (packaging/bundle.ts); from a checkout, package.json says. */
declare const __FERRY_AGENT_VERSION__: string | undefined;
export function agentVersion(): string {
  if (typeof __FERRY_AGENT_VERSION__ === 'string') return __FERRY_AGENT_VERSION__;
  return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

interface Args {
  'state-dir'?: string;
  config?: string;
  json: boolean;
}

/** --window, --timezone, --deadline (join stores them; run overrides for that run). */
function withMaintenanceOptions<T>(y: Argv<T>): Argv<T & MaintenanceFlags> {
  return y
    .option('window', { type: 'string', describe: 'maintenance window: installs wait while it is closed, e.g. "Mon-Fri 12:00-13:00" (env FERRY_WINDOW; "none" turns it off)' })
    .option('timezone', { type: 'string', describe: 'IANA time zone of --window (env FERRY_TIMEZONE; default UTC)' })
    .option('deadline', { type: 'string', describe: 'install anyway once an install has waited this long for the window, e.g. 8h (env FERRY_DEADLINE)' }) as unknown as Argv<T & MaintenanceFlags>;
}

/** The config file and FERRY_* environment, read once the arguments are parsed (flags win). */
let settings: Partial<AgentSettings> = {};

/** `-o yaml`: the --json document as YAML (set from argv before anything prints). */
let yaml = false;

/** The --json document (or -o yaml), else the lines for a human, escaped (./print.ts). */
function out(json: boolean, doc: unknown, lines: string[]): void {
  process.stdout.write(json ? (yaml ? toYaml(doc) : jsonText(doc, 2) + '\n') : humanText(lines));
}

function parseTags(values: unknown): Record<string, string> {
  const list = values === undefined ? [] : Array.isArray(values) ? values.map(String) : [String(values)];
  return Object.fromEntries(
    list.map((v) => {
      const eq = v.indexOf('=');
      if (eq <= 0) throw new FerryError('FERRY_INVALID_INPUT', `--tag "${v}" is not key=value`);
      return [v.slice(0, eq), v.slice(eq + 1)];
    }),
  );
}

/** The config file and FERRY_* environment (what the yargs middleware does for every command). */
function applySettings(a: { config?: string | undefined; 'state-dir'?: string | undefined }): void {
  settings = loadAgentSettings(a.config).values;
  if (a['state-dir'] === undefined && !process.env.FERRY_AGENT_STATE && settings.stateDir) a['state-dir'] = settings.stateDir;
  if (settings.logLevel && !process.env.FERRY_LOG_LEVEL) process.env.FERRY_LOG_LEVEL = settings.logLevel;
}

async function superviseAgent(args: Args): Promise<void> {
  keepRunningOnBrokenPipe();
  const { supervise } = await import('../service/supervisor.js');
  const paths = agentPaths(resolveStateDir(args['state-dir']));
  const identity = loadIdentity(paths);
  const runArgs = ['--state-dir', paths.dir, ...(args.config ? ['--config', resolve(args.config)] : [])];
  const code = await supervise({ stateDir: paths.dir, installRoot: identity.installRoot, packaged: { node: process.execPath, script: resolve(process.argv[1]!) }, runArgs, timeoutMs: agentTimings.selfUpdateTimeoutMs, log: createLogger('ferry-agent') });
  process.exit(code);
}

async function runAgent(a: RunArgs, harness: AgentHarness = {}): Promise<void> {
  keepRunningOnBrokenPipe();
  // The launcher's malloc settings (packaging/bundle.ts) are for this process, not for hooks.
  for (const k of ['MALLOC_ARENA_MAX', 'MALLOC_MMAP_THRESHOLD_']) delete process.env[k];
  const [{ AgentRuntime }, { collectInventoryInChild }] = await Promise.all([import('../runtime.js'), import('../inventory/child.js')]);
  const paths = agentPaths(resolveStateDir(a['state-dir']));
  const identity = loadIdentity(paths);
  const retiredAt = decommissionedAt(paths);
  if (retiredAt) {
    throw new FerryError('FERRY_NOT_JOINED', `this agent (${identity.agentId}) was decommissioned at ${retiredAt}; its credentials are gone`, {
      hint: 'to use this host again, join with a new token and a fresh --state-dir',
    });
  }
  // Flags, then FERRY_WINDOW/… and the config file (settings), then what join stored.
  const maintenance = resolveMaintenance({ window: a.window ?? settings.window, timezone: a.timezone ?? settings.timezone, deadline: a.deadline ?? settings.deadline }, identity.maintenance);
  // A new agent version may be activated while start() still runs (the desired state read at start).
  let restart = (): void => undefined; // set below, before the agent starts
  const log = createLogger('ferry-agent', a['log-level']).child({ agent: identity.agentId });
  const runtime = new AgentRuntime({
    maintenance,
    paths,
    identity,
    selfUpdate: { supervised: process.env.FERRY_SUPERVISED === '1', runningVersion: process.env.FERRY_AGENT_VERSION || undefined, onRestart: () => restart() },
    seed: readFileSync(paths.seed, 'utf8').trim(),
    log,
    keepVersions: a['keep-versions'] ?? settings.keepVersions ?? 3,
    // in a child process (`ferry-agent inventory`): systeminformation never loads in the daemon
    inventory: (signal) => collectInventoryInChild({ script: resolve(process.argv[1]!), log, signal }),
    ...(harness.beforeStep ? { beforeStep: harness.beforeStep } : {}),
    ...(harness.windowClock ? { windowClock: harness.windowClock } : {}),
  });
  // Listening for signals before starting: a SIGTERM while the agent still waits (for the state
  // directory's lock, for NATS, for its first inventory) stops it cleanly too — its lock released,
  // its control socket removed — instead of killing it where it stands.
  const stopped = new Promise<'signal' | 'self-update' | 'decommissioned'>((resolve) => {
    process.once('SIGINT', () => resolve('signal'));
    process.once('SIGTERM', () => resolve('signal'));
    restart = () => resolve('self-update');
    void runtime.decommissioned.then(() => resolve('decommissioned'));
  });
  const why = await Promise.race([runtime.start().then(() => stopped), stopped]).catch(async (err: unknown) => {
    await runtime.stop(); // start failed on its own (e.g. the lock never came free): undo what it set up
    throw err;
  });
  await runtime.stop();
  if (why === 'decommissioned') process.stderr.write(humanText([`ferry-agent ${identity.agentId}: decommissioned by the server; credentials deleted; exiting`]));
  if (why === 'self-update') process.exit(SELF_UPDATE_EXIT_CODE);
}

function printVersion(json: boolean): void {
  const version = agentVersion();
  out(json, { version, node: process.version, platform: `${process.platform}-${process.arch}` }, [version]);
}

/** What a test harness may add to the agent it runs (bin/ferry-agent.js passes nothing). */
export interface AgentHarness {
  /** the install machine's hook before every step (the crash tests SIGKILL the agent there) */
  beforeStep?: MachineDeps['beforeStep'];
  /** the maintenance window's clock (the window tests shift it) */
  windowClock?: WindowClock;
}

/** How long `ferry-agent rollback` waits for the daemon's answer (hooks have their own timeouts). */
const ROLLBACK_ANSWER_TIMEOUT_MS = 15 * 60_000;

export async function main(argv: string[], harness: AgentHarness = {}): Promise<void> {
  // --json, -o json and -o yaml print the one document; -o wide is the text (no tables to widen).
  const format = formatFromArgv(argv.slice(2));
  const json = format === 'json' || format === 'yaml';
  yaml = format === 'yaml';
  endOnBrokenPipe(); // `ferry-agent status | head -1`: the command ends quietly, exit 141 (shared/broken-pipe.ts)
  try {
    const fast = parseWithoutYargs(argv.slice(2));
    if (fast?.command === 'version') return printVersion(json);
    if (fast?.command === 'run') {
      applySettings(fast.args);
      return await runAgent(fast.args, harness);
    }
    if (fast?.command === 'supervise') {
      applySettings(fast.args);
      return await superviseAgent({ ...fast.args, json });
    }
    const { default: yargs } = await import('yargs');
    const { hideBin } = await import('yargs/helpers');
    const completionText = completionHelp(hideBin(argv), 'ferry-agent');
    if (completionText) return void process.stdout.write(completionText);
    selectCompletionShell(hideBin(argv), 'ferry-agent');
    const { withAgentHelp, agentUsageError, topExamples, AGENT_GLOBAL_OPTIONS } = await import('./help.js');
    const cli = yargs(hideBin(argv))
      .scriptName('ferry-agent')
      .completion('completion', 'Print a bash or zsh completion script: ferry-agent completion bash|zsh (default: for $SHELL)')
      .usage('$0 <command> [options]\n\nThe Ferry agent: installs what the server says, safely.')
      .option('state-dir', { type: 'string', global: true, describe: 'agent state directory (default $FERRY_AGENT_STATE, else stateDir in the config file, else /var/lib/ferry-agent as root, ~/.ferry-agent otherwise)' })
      .option('json', { type: 'boolean', default: false, global: true, describe: 'print exactly one JSON document' })
      .option('output', { alias: 'o', choices: OUTPUT_FORMATS, global: true, describe: 'json (= --json), yaml (the same document), wide (the same text: the agent prints no tables)' })
      .option('config', { type: 'string', global: true, describe: `agent config file (default $FERRY_CONFIG, else /etc/ferry/agent.json if it exists)` })
      .group(AGENT_GLOBAL_OPTIONS, 'Global options:');
    for (const [cmd, what] of topExamples()) cli.example(cmd, what);
    await withAgentHelp(cli)
      .middleware((a) => applySettings(a as unknown as Args))
      .command(
        'join',
        'Join a Ferry server with a token',
        (y) =>
          withMaintenanceOptions(y)
            .option('server', { type: 'string', describe: 'NATS URL of the server (default: server in the config file, else the URL in the token)' })
            .option('token', { type: 'string', demandOption: true })
            .option('install-root', { type: 'string', describe: 'where packages are installed (default: installRoot in the config file, else <state-dir>/apps)' })
            .option('tag', { type: 'string', array: true, describe: 'k=v (repeatable)' })
            .option('tls-ca', { type: 'string', describe: "CA certificate of the server's NATS TLS certificate (PEM)" }),
        async (a) => {
          const { joinServer } = await import('../enroll/join.js');
          const paths = agentPaths(resolveStateDir((a as unknown as Args)['state-dir']));
          const maintenance = resolveMaintenance({ window: a.window ?? settings.window, timezone: a.timezone ?? settings.timezone, deadline: a.deadline ?? settings.deadline });
          const id = await joinServer({ paths, token: a.token, serverUrl: a.server ?? settings.server, installRoot: a['install-root'] ?? settings.installRoot, tags: parseTags(a.tag), hostname: process.env.FERRY_HOSTNAME ?? hostname(), tlsCa: a['tls-ca'], maintenance });
          out(json, { agentId: id.agentId, server: id.serverUrl, stateDir: paths.dir, installRoot: id.installRoot, tags: id.tags, ...(id.maintenance ? { maintenance: id.maintenance } : {}), ...(id.site ? { site: id.site } : {}) }, [
            `Joined ${id.serverUrl} as ${id.agentId}${id.site ? `; runs through site ${id.site.name} (${id.site.url}), the server as fallback` : ''}`,
            `Next: ferry-agent run --state-dir ${paths.dir}`,
          ]);
        },
      )
      .command('run', 'Run the agent in the foreground', (y) => withMaintenanceOptions(y.option('keep-versions', { type: 'number', describe: 'installed versions kept per package for rollback (never fewer than current and previous; default $FERRY_KEEP_VERSIONS, keepVersions, 3)' }).option('log-level', { type: 'string', describe: 'fatal, error, warn, info, debug, trace or silent (env FERRY_LOG_LEVEL; default info)' })), (a) => runAgent(a as unknown as RunArgs, harness))
      .command('supervise', 'Run the agent under its supervisor (the service runs this): restarts into a new agent version and returns to the previous one if it does not report back healthy', {}, (a) => superviseAgent(a as unknown as Args))
      .command(
        'install-service',
        'Write a systemd unit that runs this agent (for hosts without the .deb), and enable it when systemd runs',
        (y) =>
          y
            .option('unit-dir', { type: 'string', default: DEFAULT_UNIT_DIR, describe: 'where to write ferry-agent.service' })
            .option('command', { type: 'string', describe: 'absolute path of the ferry-agent command in ExecStart (default: this one)' })
            .option('systemctl', { type: 'boolean', default: true, describe: 'run systemctl daemon-reload/enable (--no-systemctl: only write the unit)' }),
        (a) => {
          const args = a as unknown as Args;
          const paths = agentPaths(resolveStateDir(args['state-dir']));
          const joined = existsSync(paths.identity);
          const installRoot = joined ? loadIdentity(paths).installRoot : (settings.installRoot ?? join(paths.dir, 'apps'));
          const configFile = args.config ?? (process.env.FERRY_CONFIG && process.env.FERRY_CONFIG !== 'none' ? process.env.FERRY_CONFIG : undefined);
          const r = installService(
            resolve(a['unit-dir']),
            { command: a.command ? resolve(a.command) : thisCommand(), stateDir: paths.dir, installRoot, ...(configFile ? { configFile: resolve(configFile) } : {}) },
            { use: a.systemctl, joined },
          );
          out(json, { ...r, stateDir: paths.dir, installRoot, joined }, r.actions);
        },
      )
      .command(
        'uninstall-service',
        'Stop and disable the agent service and remove its unit (state and installed software stay)',
        (y) =>
          y
            .option('unit-dir', { type: 'string', default: DEFAULT_UNIT_DIR, describe: 'where ferry-agent.service is' })
            .option('systemctl', { type: 'boolean', default: true, describe: 'run systemctl disable --now/daemon-reload' }),
        (a) => {
          const r = uninstallService(resolve(a['unit-dir']), { use: a.systemctl });
          out(json, r, r.actions);
        },
      )
      .command(
        'config <command>',
        'The agent config file',
        (y) =>
          y
            .command(
              'check [file]',
              'Validate an agent config file and show the settings it gives (with FERRY_* variables applied)',
              (yy) => yy.positional('file', { type: 'string', describe: 'the file (default --config, $FERRY_CONFIG, else /etc/ferry/agent.json)' }),
              (a) => {
                const file = (a.file as string | undefined) ?? (a as unknown as Args).config;
                const s = loadAgentSettings(file);
                if (!s.file && file === undefined) throw new FerryError('FERRY_NOT_FOUND', 'no config file to check: none given and /etc/ferry/agent.json does not exist', { hint: 'ferry-agent config check FILE' });
                out(json, { file: s.file ?? null, valid: true, settings: s.values }, [`${s.file ?? '(no file)'}: valid`, ...Object.entries(s.values).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`)]);
              },
            )
            .demandCommand(1),
        () => undefined,
      )
      .command('status', 'Show identity, installed packages and recent operations', {}, async (a) => {
        const { Journal } = await import('../install/journal.js');
        const paths = agentPaths(resolveStateDir((a as unknown as Args)['state-dir']));
        const identity = loadIdentity(paths);
        const journal = new Journal(paths.journal);
        try {
          const installed = journal.installed();
          const ops = journal.recentOperations(10);
          const retiredAt = decommissionedAt(paths);
          const runtime = existsSync(`${paths.dir}/runtime.json`) ? (JSON.parse(readFileSync(`${paths.dir}/runtime.json`, 'utf8')) as { pid: number; connected: boolean }) : undefined;
          const running = runtime !== undefined && isAlive(runtime.pid);
          out(
            json,
            {
              agentId: identity.agentId,
              server: identity.serverUrl,
              ...(identity.site ? { site: identity.site } : {}),
              running,
              connected: running && runtime.connected,
              decommissioned: retiredAt !== undefined,
              ...(retiredAt ? { decommissionedAt: retiredAt } : {}),
              installRoot: identity.installRoot,
              tags: identity.tags,
              installed: Object.fromEntries(installed.map((p) => [p.name, p.version])),
              operations: ops.map((o) => ({ operation: o.operation, package: o.package, version: o.version, from: o.fromVersion, kind: o.kind, step: o.step, error: o.error, at: new Date(o.updatedAt).toISOString() })),
            },
            [
              `Agent ${identity.agentId} — server ${identity.serverUrl}${identity.site ? ` (through site ${identity.site.name}, ${identity.site.url})` : ''} — ${retiredAt ? `decommissioned at ${retiredAt}` : running ? (runtime.connected ? 'running, connected' : 'running, not connected') : 'not running'}`,
              `Install root: ${identity.installRoot}`,
              `Installed: ${installed.map((p) => `${p.name}@${p.version}`).join(', ') || 'nothing'}`,
              'Recent operations:',
              ...(ops.length ? ops.map((o) => `  ${new Date(o.updatedAt).toISOString()}  ${o.kind} ${o.package}@${o.version}  ${o.step}${o.error ? `  (${o.error})` : ''}`) : ['  none']),
            ],
          );
        } finally {
          journal.close();
        }
      })
      .command('history', 'Every install, rollback and removal on this host, newest first', (y) => y.option('limit', { type: 'number', default: 50 }), async (a) => {
        const { Journal } = await import('../install/journal.js');
        const paths = agentPaths(resolveStateDir((a as unknown as Args)['state-dir']));
        loadIdentity(paths);
        const journal = new Journal(paths.journal);
        try {
          const ops = journal.recentOperations(a.limit);
          out(
            json,
            ops.map((o) => ({ operation: o.operation, kind: o.kind, package: o.package, version: o.version, from: o.fromVersion, step: o.step, error: o.error, startedAt: new Date(o.startedAt).toISOString(), updatedAt: new Date(o.updatedAt).toISOString() })),
            ops.length
              ? ops.flatMap((o) => [`${new Date(o.updatedAt).toISOString()}  ${o.kind.padEnd(8)} ${`${o.package}@${o.version}`.padEnd(28)} ${o.fromVersion ? `from ${o.fromVersion}  ` : ''}${o.step}  ${o.operation}`, ...(o.error ? [`    ${o.error}`] : [])])
              : ['No operations yet.'],
          );
        } finally {
          journal.close();
        }
      })
      .command('verify', 'Check installed files against their manifests (drift) and report it', {}, async (a) => {
        const [{ Journal }, { verifyAll }] = await Promise.all([import('../install/journal.js'), import('../install/drift.js')]);
        const paths = agentPaths(resolveStateDir((a as unknown as Args)['state-dir']));
        const identity = loadIdentity(paths);
        const journal = new Journal(paths.journal);
        try {
          const drift = await verifyAll(journal, identity.installRoot);
          // Queued for the daemon to send with the next inventory report.
          journal.setMeta('inventory', '');
          const checked = journal.installed().length;
          out(json, { checked, drift }, drift.length ? drift.map((d) => `${d.package}@${d.version}: modified ${d.modified.join(', ') || 'none'}; missing ${d.missing.join(', ') || 'none'}`) : [`${checked} package(s) checked: no drift.`]);
          if (drift.length) process.exitCode = 1;
        } finally {
          journal.close();
        }
      })
      .command('inventory', 'Print the inventory this host reports to the server (OS, CPU, memory, disks, interfaces)', {}, async () => {
        const { collectInventory } = await import('../inventory/collect.js');
        const inv = await collectInventory();
        out(json, inv, [
          `${inv.hostname}: ${inv.distro} ${inv.release} (${inv.os} ${inv.kernel}, ${inv.arch})${inv.virtual ? ', virtual' : ''}`,
          `CPU: ${inv.cpu.model} × ${inv.cpu.cores}; memory ${inv.memoryMB} MB`,
          ...inv.disks.map((d) => `disk ${d.mount} (${d.fs}): ${d.usedMB}/${d.sizeMB} MB used`),
          ...inv.interfaces.map((n) => `interface ${n.name}: ${[n.ip4, n.ip6, n.mac].filter(Boolean).join(' ')}`),
        ]);
      })
      .command(
        'rollback <package>',
        'Switch a package back to its previous version now, and tell the server',
        (y) => y.positional('package', { type: 'string', demandOption: true }),
        async (a) => {
          const paths = agentPaths(resolveStateDir((a as unknown as Args)['state-dir']));
          const identity = loadIdentity(paths);
          const pkg = String(a.package);
          const [{ askDaemon }, { rollbackAlone }] = await Promise.all([import('../control/socket.js'), import('../control/rollback.js')]);
          // One writer on the journal: the running daemon does it; alone only when none runs.
          const r = (await askDaemon(paths.dir, { op: 'rollback', package: pkg }, ROLLBACK_ANSWER_TIMEOUT_MS)) ?? (await rollbackAlone(paths, identity.installRoot, identity.agentId, pkg, harness.beforeStep));
          out(json, { package: r.package, from: r.from, to: r.to, state: r.state }, [`Rolled ${pkg} back from ${r.from} to ${r.to ?? 'nothing (unlinked)'}`]);
        },
      )
      .demandCommand(1, 'say what to do: ferry-agent --help lists the commands')
      .strict()
      .fail((msg, err) => {
        throw err ?? agentUsageError(msg, hideBin(argv));
      })
      .help()
      .wrap(Math.min(120, process.stdout.columns || 100))
      .version(false)
      .option('version', { type: 'boolean', describe: 'print the agent version (with --json: also its Node runtime and platform)' })
      .parseAsync();
  } catch (err) {
    const e = toFerryError(err);
    if (json) process.stdout.write(yaml ? toYaml({ error: e.toJSON() }) : jsonText({ error: e.toJSON() }) + '\n');
    process.stderr.write(errorText(e));
    process.exit(exitCodeFor(e.code));
  }
}

/** The command that runs this agent: the bundle's launcher next to bin/ferry-agent.js, else node and the script. */
function thisCommand(): string {
  const script = resolve(process.argv[1]!);
  const launcher = join(dirname(script), 'ferry-agent');
  return existsSync(launcher) ? launcher : `${process.execPath} ${script}`;
}
