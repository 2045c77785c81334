// ferry nats config: nats-server configs for a cluster that Ferry runs against (`ferry server --nats`).
import type { CommandModule } from 'yargs';
import { resolveDataDir } from '../../config.js';
import { printJson, printLines } from '../output.js';
import { parsePositiveInt, type GlobalArgs } from './common.js';

interface NatsConfigArgs extends GlobalArgs {
  out: string;
  nodes: number;
  host?: string[];
  port: number;
  'cluster-port': number;
  'http-port'?: number;
  'leaf-port'?: number;
  'store-dir'?: string;
}

const configCommand: CommandModule<GlobalArgs, NatsConfigArgs> = {
  command: 'config',
  describe: 'Write nats-server configs DIR/node-1.conf … node-N.conf for a NATS cluster that trusts this data directory',
  builder: (y) =>
    y
      .option('out', { type: 'string', demandOption: true, describe: 'directory for the node configs' })
      .option('nodes', { type: 'number', default: 3, describe: 'cluster size: 1, or 3 or more (2 cannot survive a node loss)' })
      .option('host', { type: 'string', array: true, describe: 'host of the nodes: once (all nodes on it, ports counting up) or once per node' })
      .option('port', { type: 'number', default: 4222, describe: 'client port (first node\'s, when the nodes share a host)' })
      .option('cluster-port', { type: 'number', default: 6222, describe: 'route port between the nodes' })
      .option('http-port', { type: 'number', describe: 'HTTP monitoring port (varz, jsz, leafz); default: off' })
      .option('leaf-port', { type: 'number', describe: 'port where sites\' leafnodes connect (ferry site add); default: off' })
      .option('store-dir', { type: 'string', describe: 'absolute directory of the nodes\' JetStream stores and resolvers, node-i under it (default: --out)' }) as never,
  handler: async (a) => {
    const { writeClusterConfigs } = await import('../../nats/cluster-files.js');
    const int = (v: number | undefined, flag: string) => (v === undefined ? undefined : parsePositiveInt(v, flag));
    const result = await writeClusterConfigs({
      dataDir: resolveDataDir(a['data-dir']),
      out: a.out,
      nodes: parsePositiveInt(a.nodes, '--nodes'),
      hosts: a.host && a.host.length > 0 ? a.host.map(String) : ['127.0.0.1'],
      port: parsePositiveInt(a.port, '--port'),
      clusterPort: parsePositiveInt(a['cluster-port'], '--cluster-port'),
      httpPort: int(a['http-port'], '--http-port'),
      leafPort: int(a['leaf-port'], '--leaf-port'),
      storeDir: a['store-dir'],
    });
    if (a.json) return printJson(result);
    printLines([
      ...result.files.map((f) => `Wrote ${f} (start it with: nats-server -c ${f})`),
      `Client URLs: ${result.urls.join(',')}`,
      `Next: ferry server --nats ${result.urls.join(',')}`,
    ]);
  },
};

export const natsCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'nats <command>',
  describe: 'NATS cluster configuration',
  builder: (y) => y.command(configCommand).demandCommand(1),
  handler: () => undefined,
};
