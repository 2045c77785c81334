// ferry server: run the distribution server in the foreground until SIGINT/SIGTERM.
import type { CommandModule } from 'yargs';
import { FerryError } from '../../../shared/errors.js';
import { keepRunningOnBrokenPipe } from '../../../shared/broken-pipe.js';
import { DEFAULT_LISTEN, resolveDataDir } from '../../config.js';
import { COMMAND_LINE_FLAGS, parsePositiveInt, type GlobalArgs } from './common.js';

interface ServerArgs extends GlobalArgs {
  listen?: string;
  'tls-cert'?: string;
  'tls-key'?: string;
  'metrics-listen'?: string;
  'ui-listen'?: string;
  'leaf-listen'?: string;
  'log-level'?: string;
  replicas?: number;
}

export const serverCommand: CommandModule<GlobalArgs, ServerArgs> = {
  command: 'server',
  describe: 'Run the distribution server (with an embedded nats-server unless --nats URL[,URL...] names an existing NATS or cluster)',
  builder: (y) =>
    y
      .option('listen', { type: 'string', describe: `HOST:PORT for the embedded NATS, not with --nats (port 0: random; default: listen in the config file, else ${DEFAULT_LISTEN})` })
      .option('tls-cert', { type: 'string', describe: 'serve the embedded NATS (and the console) over TLS with this certificate (PEM); with --nats, the console only' })
      .option('tls-key', { type: 'string', describe: 'the private key of --tls-cert (PEM)' })
      .option('replicas', { type: 'number', describe: 'copies of every stream, KV bucket and object store (default: min(3, JetStream servers in the cluster))' })
      .option('log-level', { type: 'string', describe: 'fatal, error, warn, info, debug, trace or silent (env FERRY_LOG_LEVEL; default info)' })
      .option('metrics-listen', { type: 'string', describe: 'HOST:PORT serving /healthz and /metrics over HTTP, e.g. 127.0.0.1:9464 (env FERRY_METRICS_LISTEN; default: off)' })
      .option('leaf-listen', { type: 'string', describe: 'HOST:PORT where the embedded NATS accepts sites\' leafnodes (ferry site add), e.g. 0.0.0.0:7422 (port 0: random; default: off)' })
      .option('ui-listen', { type: 'string', describe: 'HOST:PORT serving the web console, e.g. 127.0.0.1:8080 (HTTPS with --tls-cert/--tls-key; sign in with ferry ui login; env FERRY_UI_LISTEN; default: off)' }),
  handler: async (a) => {
    keepRunningOnBrokenPipe(); // a reader of the ready line that went away stops no server
    if (a.nats) refuseEmbeddedFlags(a);
    if (Boolean(a['tls-cert']) !== Boolean(a['tls-key'])) throw new FerryError('FERRY_USAGE', '--tls-cert and --tls-key go together');
    // Loaded here, not at the top: every other command starts without the whole server (or pino).
    const [{ createLogger }, { FerryServer }, { useNativeObjectHashing }] = await Promise.all([import('../../../shared/log.js'), import('../../server.js'), import('../../../shared/nats/native-hash.js')]);
    const logger = createLogger('ferry-server', a['log-level']);
    useNativeObjectHashing();
    const server = new FerryServer({
      dataDir: resolveDataDir(a['data-dir']),
      listen: a.listen ?? DEFAULT_LISTEN,
      // --creds is the server's own identity only against an external NATS; otherwise it is issued.
      ...(a.nats ? { natsUrl: a.nats, credsFile: a.creds } : {}),
      ...(a.replicas !== undefined ? { replicas: parsePositiveInt(a.replicas, '--replicas') } : {}),
      logger,
      tls: { cert: a['tls-cert'], key: a['tls-key'], ca: a['tls-ca'] },
      metricsListen: a['metrics-listen'],
      uiListen: a['ui-listen'],
      leafListen: a['leaf-listen'],
    });
    await server.start();
    const ready = { ready: true, nats: server.natsUrl, metrics: server.metricsUrl ?? null, console: server.consoleUrl ?? null, sites: server.siteUrl ?? null };
    process.stdout.write(
      a.json
        ? `${JSON.stringify(ready)}\n`
        : `ferry server ready — NATS ${server.natsUrl}${server.metricsUrl ? ` — metrics ${server.metricsUrl}` : ''}${server.consoleUrl ? ` — console ${server.consoleUrl}` : ''}${server.siteUrl ? ` — sites ${server.siteUrl}` : ''}\n`,
    );
    const deposed = await Promise.race([
      new Promise<undefined>((resolve) => {
        const stop = () => resolve(undefined);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      }),
      server.failure,
    ]);
    logger.info('shutting down');
    await server.stop();
    logger.flush();
    if (deposed) throw deposed;
  },
};

/**
 * `--nats URL`: the flags of the embedded nats-server would be ignored, so each is refused when the
 * command line gave it. The config file's listen, tls-cert and tls-key are not: a data directory
 * moved onto a cluster keeps its config file; and with a console (--ui-listen) the certificate
 * and key serve it over HTTPS.
 */
function refuseEmbeddedFlags(a: ServerArgs): void {
  const given = a[COMMAND_LINE_FLAGS] ?? new Set<string>();
  if (given.has('listen')) {
    throw new FerryError('FERRY_USAGE', '--listen is for the embedded NATS; with --nats the cluster\'s nodes listen where their configs say', { hint: 'drop --listen (ferry nats config --port P sets the nodes\' client port)' });
  }
  const tls = ['tls-cert', 'tls-key'].find((f) => given.has(f));
  if (tls && !a['ui-listen']) {
    throw new FerryError('FERRY_USAGE', `--${tls} is for the embedded NATS (and the console with --ui-listen); with --nats the cluster serves its own TLS`, { hint: 'to trust the cluster\'s certificate, give --tls-ca FILE' });
  }
  if (a['leaf-listen']) {
    throw new FerryError('FERRY_USAGE', '--leaf-listen is for the embedded NATS; an external cluster accepts sites on its own leafnodes block', { hint: 'ferry nats config --leaf-port P writes it' });
  }
}
