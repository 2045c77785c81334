// ferry site add | set | remove | list: sites, leafnode distribution points (server/sites/).
import type { CommandModule } from 'yargs';
import { resolveDataDir } from '../../config.js';
import { withClient } from '../with-client.js';
import { formatBytes, printJson, printLines, printTable } from '../output.js';
import { formatRate, parseRate } from '../../../shared/rates.js';
import { connectionFlags, type GlobalArgs } from './common.js';

interface SiteAddArgs extends GlobalArgs {
  name: string;
  out: string;
  'hub-url'?: string;
  listen?: string;
  'agent-url'?: string;
  'max-rate'?: string;
}

interface SiteSetArgs extends GlobalArgs {
  name: string;
  'max-rate': string;
}

const add: CommandModule<GlobalArgs, SiteAddArgs> = {
  command: 'add <name>',
  describe: 'Write DIR/NAME.conf (and NAME.creds), a leafnode nats-server config for a site with its own JetStream domain and a mirror of the DML; run it with nats-server -c',
  builder: (y) =>
    y
      .positional('name', { type: 'string', demandOption: true, describe: 'the site\'s name (a-z, 0-9, "-")' })
      .option('out', { type: 'string', demandOption: true, describe: 'directory for NAME.conf, NAME.creds and the site\'s store (NAME/)' })
      .option('hub-url', { type: 'string', describe: 'the hub\'s leafnode address, nats-leaf://HOST:PORT, or a cluster\'s, separated by commas (default: the running server\'s --leaf-listen)' })
      .option('listen', { type: 'string', describe: 'HOST:PORT where the site\'s nats-server listens for agents (default 0.0.0.0:4222)' })
      .option('agent-url', { type: 'string', describe: 'how agents reach the site, nats://HOST:PORT (default: --listen, with the site\'s name as host for a wildcard address)' })
      .option('max-rate', { type: 'string', describe: 'pace what crosses the site\'s link to RATE, e.g. 5MiB/s: its mirror\'s copy of the DML, and its agents\' downloads from the hub (default: not paced)' }) as never,
  handler: async (a) => {
    const { addSite } = await import('../../sites/add.js');
    const result = await addSite({ dataDir: resolveDataDir(a['data-dir']), name: String(a.name), out: a.out, hubUrl: a['hub-url'], listen: a.listen, agentUrl: a['agent-url'], maxRate: a['max-rate'] });
    if (a.json) return printJson(result);
    printLines([
      `Wrote ${result.config}, ${result.creds} and ${result.systemCreds} (the site's link credentials: keep them secret)`,
      `Start the site with: nats-server -c ${result.config}`,
      `It links to the hub at ${result.hubUrl}; agents will reach it at ${result.agentUrl}`,
      ...(result.maxRateBps !== null ? [`What crosses its link is paced to ${formatRate(result.maxRateBps)}`] : []),
      `Next: ferry token create --site ${result.name}`,
    ]);
  },
};

const set: CommandModule<GlobalArgs, SiteSetArgs> = {
  command: 'set <name>',
  describe: 'Change a site\'s --max-rate (or none): its running mirror consumer takes the new rate',
  builder: (y) =>
    y
      .positional('name', { type: 'string', demandOption: true, describe: 'the site' })
      .option('max-rate', { type: 'string', demandOption: true, describe: 'RATE, e.g. 5MiB/s, or none: no pacing' }) as never,
  handler: async (a) => {
    const rate = a['max-rate'];
    const maxRateBps = rate.trim().toLowerCase() === 'none' ? null : parseRate(rate);
    const result = await withClient(connectionFlags(a), (c) => c.request('site.set', { name: String(a.name), maxRateBps }));
    if (a.json) return printJson(result);
    const show = (bps: number | null) => (bps === null ? 'not paced' : formatRate(bps));
    printLines([
      `Site ${result.name}: ${show(result.maxRateBps)} (was ${show(result.previousMaxRateBps)})`,
      ...(result.consumer === 'updated' ? ['Its mirror\'s consumer has the new rate now'] : []),
      ...(result.consumer === 'deleted' ? ['Its mirror\'s consumer was deleted; the mirror makes a new one with the new rate within seconds'] : []),
    ]);
  },
};

interface SiteRemoveArgs extends GlobalArgs {
  name: string;
  force: boolean;
}

const remove: CommandModule<GlobalArgs, SiteRemoveArgs> = {
  command: 'remove <name>',
  describe: 'Remove a site: its link credentials are revoked (the hub closes its link and refuses it from now on), its unused join tokens too, and it leaves site list',
  builder: (y) =>
    y
      .positional('name', { type: 'string', demandOption: true, describe: 'the site' })
      .option('force', { type: 'boolean', default: false, describe: 'remove it although agents are still tagged site=NAME (they keep the tag, and reach the hub once the site\'s nats-server stops)' }) as never,
  handler: async (a) => {
    const result = await withClient(connectionFlags(a), (c) => c.request('site.remove', { name: String(a.name), force: a.force }));
    if (a.json) return printJson(result);
    const n = result.agents.length;
    printLines([
      `Removed site ${result.name}: its link credentials are revoked; the hub has closed its link and refuses it from now on`,
      ...(result.systemLink === 'not-recorded' ? ['Its system-account link (account updates only, it can send nothing) was added before its key was kept: it stays until the site\'s nats-server stops'] : []),
      ...(result.tokensRevoked.length > 0 ? [`Revoked its unused join token${result.tokensRevoked.length === 1 ? '' : 's'}: ${result.tokensRevoked.join(', ')}`] : []),
      ...(result.mirrorConsumer === 'failed' ? ["Its mirror's consumer at the hub could not be deleted (the server's log says why): JetStream drops it once nothing receives its deliveries"] : []),
      ...(n > 0 ? [`${n} agent${n === 1 ? ' is' : 's are'} still tagged site=${result.name}: ${n === 1 ? 'it reaches' : 'they reach'} the hub once the site's nats-server stops (ferry agents list --target site=${result.name})`] : []),
      `Stop the site's nats-server and delete its files (${result.name}.conf, ${result.name}.creds, ${result.name}.system.creds, its store ${result.name}/) at the site and where site add wrote them`,
    ]);
  },
};

const list: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'list',
  describe: 'Each site: linked or not, its agents, and how many objects and bytes its mirror of the DML is behind the hub',
  handler: async (a) => {
    const sites = await withClient(connectionFlags(a), (c) => c.request('site.list', {}));
    if (a.json) return printJson(sites);
    if (sites.length === 0) return printLines(['No sites (ferry site add NAME --out DIR makes one).']);
    printTable(
      ['SITE', 'LINKED', 'AGENTS', 'ONLINE', 'MIRROR', 'BEHIND', 'AGENT URL', 'MAX RATE'],
      sites.map((s) => [
        s.name,
        s.linked ? 'yes' : 'no',
        s.agents.length,
        s.agents.filter((x) => x.online).length,
        s.mirror ? `${s.mirror.messages} msgs, ${formatBytes(s.mirror.bytes)}` : s.error ?? 'none yet',
        s.behind ? (s.behind.objects === 0 ? 'up to date' : `${s.behind.objects} objects, ${formatBytes(s.behind.bytes)}`) : 'unknown',
        s.agentUrl,
        s.maxRateBps === null ? '-' : formatRate(s.maxRateBps),
      ]),
    );
  },
};

export const siteCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'site <command>',
  aliases: ['sites'],
  describe: 'Sites: leafnode distribution points near a group of agents',
  builder: (y) => y.command(add).command(set).command(remove).command(list).demandCommand(1),
  handler: () => undefined,
};
