// What `--help` shows beyond the yargs definitions: an Examples section for every command
// (by its path, e.g. "rollout status"), added by wrapping each command module's builder so
// the command files stay about what they do. Nested commands are wrapped as their parent's
// builder registers them.
import type { Argv, CommandModule } from 'yargs';
import { ownOptionsFirst } from '../../shared/cli-help.js';

const EXAMPLES: Readonly<Record<string, [string, string][]>> = {
  '': [
    ['$0 status', 'the fleet and the active rollouts at a glance'],
    ['$0 agent list -o wide', 'every agent, columns uncut'],
    ['$0 rollout status --watch', 'follow the newest rollout'],
  ],
  init: [['$0 init --data-dir /var/lib/ferry', 'create a server data directory']],
  server: [
    ['$0 server', 'run the server in the foreground'],
    ['$0 server --leaf-listen 0.0.0.0:7422', 'also accept sites\' leafnodes (ferry site add) on port 7422'],
  ],
  status: [
    ['$0 status', 'hosts online/offline/failing/drifted and the active rollouts'],
    ['$0 status -o yaml', 'the same as a YAML document'],
  ],
  logs: [
    ['$0 logs web-1', 'the hook output of every operation on web-1'],
    ['$0 logs web-1 --rollout r-0123abcd', 'only the operations of one rollout'],
    ['$0 logs a-0123abcd --follow', 'keep printing operations as they happen'],
  ],
  completion: [
    ['$0 completion bash > /etc/bash_completion.d/ferry', 'install bash completion'],
    ['$0 completion zsh > "${fpath[1]}/_ferry"', 'install zsh completion'],
  ],
  token: [['$0 token create --tag env=prod --uses 10', 'a token for ten production agents']],
  'token create': [
    ['$0 token create --tag env=prod --ttl 2h --uses 10', 'ten joins within two hours, tagged env=prod'],
    ['$0 token create --site paris --uses 50', 'agents that run through the site paris (tagged site=paris)'],
  ],
  'token list': [['$0 token list', 'the tokens, uses left and expiry (never the secrets)']],
  'token revoke': [['$0 token revoke 0123456789ab', 'no more joins with that token']],
  package: [['$0 package build ./myapp', 'build myapp-VERSION.ferry']],
  'package build': [
    ['$0 package build ./myapp', 'build NAME-VERSION.ferry from ./myapp/ferry.json'],
    ['SOURCE_DATE_EPOCH=0 $0 package build ./myapp --out myapp.ferry', 'a chosen file name'],
  ],
  'package inspect': [
    ['$0 package inspect myapp-1.2.0.ferry', 'manifest, files, hooks, and whether the DML signed this digest'],
    ['$0 package inspect myapp-1.2.0.ferry -o yaml', 'the same as a YAML document'],
  ],
  config: [['$0 config check /etc/ferry/server.json', 'validate a server config file']],
  'config check': [
    ['$0 config check', 'check /etc/ferry/server.json (or $FERRY_CONFIG) and show the settings it gives'],
    ['$0 config check ./server.json --json', 'the settings as JSON; exit 2 naming a bad key'],
  ],
  dml: [['$0 dml add myapp-1.2.0.ferry', 'add a signed package to the library']],
  'dml add': [['$0 dml add myapp-1.2.0.ferry', 'verify and store a package']],
  'dml list': [['$0 dml list', 'every package version in the library']],
  'dml show': [['$0 dml show myapp@1.2.0', 'one package version, its files and state']],
  'dml authorize': [['$0 dml authorize myapp@1.2.0 --evidence r-0123abcd', 'authorize for production']],
  'dml retire': [['$0 dml retire myapp@1.0.0', 'no new rollouts may use it']],
  'dml export': [['$0 dml export web@1.4.0 db@2.1.0 --out site.bundle', 'a signed bundle for a disconnected site']],
  'dml import': [['$0 dml import site.bundle --trust-root 3f1c…a9', 'check it against the exporting root, then add its packages']],
  release: [['$0 release create web-2024.1 --package myapp@1.2.0', 'a release of one package']],
  'release list': [['$0 release list', 'every release']],
  'release create': [
    ['$0 release create web-2024.1 --package myapp@1.2.0 --rfc CHG-1001', 'a release of one package, tied to a change record'],
    ['$0 release create stack-3 --package db@2.1.0 --package web@1.4.0 --risk high --rollback-plan "restore db snapshot"', 'two packages, put in dependency order'],
  ],
  'release approve': [['$0 release approve web-2024.1 --comment "CAB 2024-12-01"', 'your approval (the owner\'s and the starter\'s own do not count)']],
  'release show': [['$0 release show web-2024.1 --json', 'install order, change record, approvals (who, when, whether each counts), risk']],
  rollout: [['$0 rollout start web-2024.1 --strategy phased --waves 1,50%,100%', 'a phased rollout']],
  'rollout start': [
    ['$0 rollout start web-2024.1 --target env=prod --strategy phased --waves 1,10%,100% --soak 10m', 'three waves, ten minutes of soak'],
    ['$0 rollout start web-2024.1 --dry-run', 'the plan, nothing started'],
    ['$0 rollout start --remove myapp --target role=old', 'uninstall a package'],
    ['$0 rollout start web-2024.1 --target env=prod --follow', 'hosts that join env=prod later get it too'],
  ],
  'rollout status': [
    ['$0 rollout status', 'the newest rollout'],
    ['$0 rollout status r-0123abcd --watch', 'redraw until it ends; exit non-zero unless it completed'],
    ['$0 rollout status r-0123abcd --wait --json --timeout 30m', 'one JSON document once it ends (the error in it unless it completed)'],
  ],
  'rollout list': [['$0 rollout list --no-headers', 'rollouts, newest first, for a script']],
  'rollout review': [['$0 rollout review r-0123abcd --out review.md', 'the review as Markdown']],
  'rollout pause': [['$0 rollout pause r-0123abcd', 'no new waves']],
  'rollout resume': [['$0 rollout resume r-0123abcd', 'continue']],
  'rollout abort': [['$0 rollout abort r-0123abcd', 'end it now']],
  'rollout retry': [['$0 rollout retry r-0123abcd', 'send the failed hosts of a halted rollout again']],
  'rollout start-now': [['$0 rollout start-now r-0123abcd', 'skip the --start-at wait']],
  'rollout stop-follow': [['$0 rollout stop-follow r-0123abcd', 'hosts that join the target later are left alone']],
  'rollout rollback': [['$0 rollout rollback r-0123abcd', 'every changed host back to its previous version']],
  agent: [['$0 agent list --target env=prod', 'the production agents']],
  'agent list': [
    ['$0 agent list --target env=prod', 'the production agents'],
    ['$0 agent list -o wide --no-headers', 'uncut, without the header row'],
  ],
  'agent show': [
    ['$0 agent show web-1', 'one host by hostname'],
    ['$0 agent show a-0123abcd -o json', 'one host by agent id, as JSON'],
  ],
  'agent tag': [
    ['$0 agent tag web-1 env=prod lane=blue', 'set two tags of web-1 (others stay)'],
    ['$0 agent tag a-0123abcd --remove canary', 'remove the canary tag of one agent'],
  ],
  'agent revoke': [['$0 agent revoke a-0123abcd', 'cut an agent off at once']],
  'agent decommission': [['$0 agent decommission web-1 --purge', 'uninstall its packages, then retire it']],
  cmdb: [['$0 cmdb versions myapp', 'how myapp versions are spread']],
  'cmdb show': [['$0 cmdb show web-1', 'inventory and history of one host']],
  'cmdb versions': [['$0 cmdb versions myapp --target env=prod', 'versions of myapp in production']],
  'cmdb clone-config': [
    ['$0 cmdb clone-config web-1 --to test-web-1 --wait', 'test-web-1 gets exactly the versions web-1 runs; exit 0 once it does'],
    ['$0 cmdb clone-config web-1 --to test-web-1 --dry-run', 'the installs and removals, nothing started'],
  ],
  key: [['$0 key rotate', 'rotate the signing key']],
  'key rotate': [
    ['$0 key rotate', 'a new online signing key, signed by the root'],
    ['$0 key rotate --root --root-key /secure/root.key', 'also a new root key (the root kept offline)'],
  ],
  nats: [['$0 nats config --out ./nats --nodes 3 --host n1 --host n2 --host n3', 'configs for a three-node NATS cluster']],
  'nats config': [
    ['$0 nats config --out ./nats --nodes 3 --host n1 --host n2 --host n3', 'one config per node, each on its own host'],
    ['$0 nats config --out ./nats --nodes 3 --port 4222', 'three nodes on this host, ports counting up'],
  ],
  site: [['$0 site add paris --out ./paris', 'a leafnode config for the site paris']],
  'site add': [
    ['$0 site add paris --out ./paris --agent-url nats://ferry.paris.example.org:4222', 'paris/paris.conf and its credentials; run it there with nats-server -c'],
    ['$0 site add paris --out ./paris --hub-url nats-leaf://hub.example.org:7422', 'a hub reached at another address than the server\'s --leaf-listen'],
    ['$0 site add lyon --out ./lyon --max-rate 5MiB/s', 'what crosses lyon\'s link (its mirror\'s copy of the DML) is paced to 5 MiB/s'],
  ],
  'site set': [
    ['$0 site set lyon --max-rate 2MiB/s', 'the running mirror consumer takes the new rate at once'],
    ['$0 site set lyon --max-rate none', 'no pacing'],
  ],
  'site remove': [
    ['$0 site remove lyon', 'revoke lyon\'s link at the hub and drop it (refused while agents are tagged site=lyon)'],
    ['$0 site remove lyon --force --json', 'although agents are still tagged to it: they keep the tag and reach the hub once the site stops'],
  ],
  'site list': [['$0 site list --json', 'each site, its agents and how far its mirror is behind']],
  schedule: [['$0 schedule --all', 'every scheduled wave']],
  audit: [
    ['$0 audit --limit 20', 'the last twenty administrative actions'],
    ['$0 audit --actor alice --since 24h', 'what alice did today'],
    ['$0 audit verify', 'check the hash chain; exit 1 at the first tampered record'],
  ],
  operator: [['$0 operator add alice --role deployer --out alice.creds', 'credentials for one person']],
  'operator add': [['$0 operator add alice --role deployer --out alice.creds', 'alice may start and steer rollouts']],
  'operator list': [['$0 operator list', 'operators, roles and state']],
  'operator revoke': [['$0 operator revoke alice', 'cut alice off at once']],
  'operator renew': [
    ['$0 operator renew --creds ~/alice.creds', 'a fresh NATS user for your own key, with your role\'s current permissions, written into that file'],
    ['FERRY_CREDS=~/alice.creds $0 operator renew --json', 'the same, for the file in FERRY_CREDS; prints your operator record and the file'],
  ],
  'operator roles': [['$0 operator roles', 'which role may call which verb']],
  notify: [['$0 notify add https://hooks.example.com/ferry --events "rollout.*"', 'send rollout events to a webhook']],
  'notify add': [
    ['$0 notify add https://hooks.example.com/ferry --events rollout.completed,rollout.halted', 'two events, signed with a new secret (printed once)'],
    ['$0 notify add https://chat.example.com/hook --events "rollout.*" --release web-2024.1', 'one release\'s communication plan'],
  ],
  'notify list': [['$0 notify list', 'webhooks and their delivery state']],
  'notify remove': [['$0 notify remove w-0123abcd', 'stop sending to that webhook']],
  'notify test': [['$0 notify test w-0123abcd', 'send a signed notify.test event now']],
  ui: [['$0 ui login', 'a one-time sign-in URL of the web console']],
  'ui login': [
    ['$0 ui login', 'print a one-time sign-in URL for your operator (open it within five minutes)'],
    ['$0 ui login --creds alice.creds --json', 'the URL and its expiry as JSON, for alice'],
  ],
  backup: [['$0 backup /backups/ferry.tar', 'a consistent backup of the server']],
  restore: [['$0 restore /backups/ferry.tar', 'restore a backup into the data directory']],
};

function nameOf(mod: CommandModule<any, any>): string {
  const c = Array.isArray(mod.command) ? mod.command[0] : mod.command;
  return String(c ?? '').split(' ')[0] ?? '';
}

/** The subcommands (names and aliases) seen under each command path, for "did you mean". */
export const commandTree = new Map<string, string[]>();
/** "parent alias" → the command's name, e.g. "agents" → "agent". */
export const aliasNames = new Map<string, string>();

function remember(parent: string, mod: CommandModule<any, any>): void {
  const aliases = mod.aliases === undefined ? [] : Array.isArray(mod.aliases) ? mod.aliases : [mod.aliases];
  commandTree.set(parent, [...(commandTree.get(parent) ?? []), nameOf(mod), ...aliases]);
  for (const a of aliases) aliasNames.set([parent, a].filter(Boolean).join(' '), nameOf(mod));
}

/** The command module with its examples added to its --help, and its subcommands' too. */
export function withExamples<T, U>(mod: CommandModule<T, U>, parent = ''): CommandModule<T, U> {
  const path = [parent, nameOf(mod)].filter(Boolean).join(' ');
  remember(parent, mod);
  const original = mod.builder;
  return {
    ...mod,
    builder: (y: Argv<T>) => {
      const register = y.command;
      // Subcommands registered by this builder get their examples too.
      (y as any).command = (sub: unknown, ...rest: unknown[]) =>
        (register as any).call(y, sub && typeof sub === 'object' && !Array.isArray(sub) ? withExamples(sub as CommandModule<any, any>, path) : sub, ...rest);
      let built: Argv<any>;
      try {
        built = typeof original === 'function' ? (original(y) as Argv<any>) : original ? y.options(original) : y;
      } finally {
        delete (y as any).command;
      }
      for (const [cmd, what] of EXAMPLES[path] ?? []) built = built.example(cmd, what);
      built = ownOptionsFirst(built);
      return built as Argv<U>;
    },
  };
}

export function topExamples(): [string, string][] {
  return EXAMPLES[''] ?? [];
}
