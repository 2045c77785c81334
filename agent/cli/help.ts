// ferry-agent's --help follows ferry's conventions (server/cli/help.ts): every command has an
// Examples section and lists its own options before the global ones, and a mistyped command
// names the nearest real one. The agent's commands are registered as strings, so the yargs
// instance's `command` is wrapped: every command registered through it (nested ones too, as their
// parent's builder registers them) gets its examples and its options grouped.
import type { Argv } from 'yargs';
import { FerryError } from '../../shared/errors.js';
import { ownOptionsFirst } from '../../shared/cli-help.js';
import { nearestCommand } from '../../shared/suggest.js';

export const AGENT_GLOBAL_OPTIONS = ['state-dir', 'json', 'output', 'config', 'help', 'version'];

const EXAMPLES: Readonly<Record<string, [string, string][]>> = {
  '': [
    ['$0 join --token FERRY2.… --tag env=prod', 'join the server the token names, tagged env=prod'],
    ['$0 status', 'identity, connection, installed packages'],
    ['$0 history --limit 10', 'the last ten operations on this host'],
  ],
  join: [
    ['$0 join --token FERRY2.… --tag env=prod --tag role=web', 'join with two tags'],
    ['$0 join --token FERRY2.… --window "Mon-Fri 12:00-13:00" --timezone Europe/Paris', 'a workstation: installs only at lunchtime'],
  ],
  run: [
    ['$0 run', 'run the agent in the foreground'],
    ['$0 run --state-dir /tmp/agent-1 --log-level debug', 'a second agent on one machine, verbose'],
  ],
  supervise: [['$0 supervise', 'what the ferry-agent service runs']],
  'install-service': [
    ['$0 install-service', 'write /etc/systemd/system/ferry-agent.service and enable it'],
    ['$0 install-service --unit-dir ./units --no-systemctl', 'only write the unit'],
  ],
  'uninstall-service': [['$0 uninstall-service', 'stop and disable the service, remove its unit']],
  config: [['$0 config check /etc/ferry/agent.json', 'validate an agent config file']],
  'config check': [
    ['$0 config check', 'check /etc/ferry/agent.json (or $FERRY_CONFIG) and show the settings it gives'],
    ['$0 config check ./agent.json --json', 'the settings as JSON; exit 2 naming a bad key'],
  ],
  status: [['$0 status --json', 'identity, installed packages and recent operations as JSON']],
  history: [['$0 history --limit 20', 'the last twenty installs, rollbacks and removals']],
  verify: [['$0 verify', 'check installed files against their manifests; exit 1 on drift']],
  inventory: [['$0 inventory --json', 'what this host reports: OS, CPU, memory, disks, interfaces']],
  rollback: [['$0 rollback hello-web', 'switch hello-web back to its previous version now']],
};

/** The commands seen under each command path ('' is the top), for "did you mean". */
const commandTree = new Map<string, string[]>();

export function topExamples(): [string, string][] {
  return EXAMPLES[''] ?? [];
}

/** The yargs instance with every command it registers from now on given examples and grouped options. */
export function withAgentHelp<T>(y: Argv<T>): Argv<T> {
  const yy = y as any;
  const register = yy.command as (...args: unknown[]) => unknown;
  let parent = '';
  commandTree.set('', ['completion']); // registered by yargs' .completion()
  yy.command = function (this: unknown, cmd: unknown, describe: unknown, builder: unknown, ...rest: unknown[]) {
    if (typeof cmd !== 'string' || typeof describe !== 'string') return register.call(this, cmd, describe, builder, ...rest);
    const name = cmd.split(' ')[0]!;
    const path = [parent, name].filter(Boolean).join(' ');
    commandTree.set(parent, [...(commandTree.get(parent) ?? []), name]);
    const wrapped = (inner: Argv<any>) => {
      const outer = parent;
      parent = path;
      let built: Argv<any>;
      try {
        built = typeof builder === 'function' ? (builder(inner) as Argv<any>) : builder ? inner.options(builder as Record<string, never>) : inner;
      } finally {
        parent = outer;
      }
      for (const [c, what] of EXAMPLES[path] ?? []) built = built.example(c, what);
      return ownOptionsFirst(built);
    };
    return register.call(this, cmd, describe, wrapped, ...rest);
  };
  return y;
}

/** A usage failure as one line; a mistyped command names the nearest real one. */
export function agentUsageError(msg: string, args: string[]): FerryError {
  let path = '';
  for (const word of args.filter((x) => !x.startsWith('-'))) {
    const here = commandTree.get(path);
    if (!here?.length) break;
    if (!here.includes(word)) {
      const near = nearestCommand(word, here);
      return new FerryError('FERRY_USAGE', `unknown command "${[path, word].filter(Boolean).join(' ')}"${near ? `: did you mean ${[path, near].filter(Boolean).join(' ')}?` : ''}`, {
        hint: `the commands${path ? ` of ferry-agent ${path}` : ''}: ${[...new Set(here)].join(', ')}`,
      });
    }
    path = [path, word].filter(Boolean).join(' ');
  }
  return new FerryError('FERRY_USAGE', msg, { hint: 'see ferry-agent --help' });
}
