// ferry server: run the distribution server in the foreground until SIGINT/SIGTERM.
import type { CommandModule } from 'yargs';
import { createLogger } from '../../../shared/log.js';
import { DEFAULT_LISTEN, resolveDataDir } from '../../config.js';
import { FerryServer } from '../../server.js';
import type { GlobalArgs } from './common.js';

interface ServerArgs extends GlobalArgs {
  listen: string;
}

export const serverCommand: CommandModule<GlobalArgs, ServerArgs> = {
  command: 'server',
  describe: 'Run the distribution server (with an embedded nats-server unless --nats is given)',
  builder: (y) => y.option('listen', { type: 'string', default: DEFAULT_LISTEN, describe: 'HOST:PORT for the embedded NATS (port 0: random)' }),
  handler: async (a) => {
    const logger = createLogger('ferry-server');
    const server = new FerryServer({ dataDir: resolveDataDir(a['data-dir']), listen: a.listen, ...(a.nats ? { natsUrl: a.nats } : {}), logger });
    await server.start();
    process.stdout.write(`ferry server ready — NATS ${server.natsUrl}\n`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    logger.info('shutting down');
    await server.stop();
    logger.flush();
  },
};
