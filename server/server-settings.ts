// The server's config file (/etc/ferry/server.json, --config, FERRY_CONFIG) and the FERRY_*
// variables that override it (docs/configuration.md). Apart from ./config.ts because of zod: the
// CLI loads this when a command runs, not for --help or --version.
import * as z from 'zod';
import { absolutePath, configFilePath, loadSettings, logLevel, positiveInt, type SettingsSource } from '../shared/settings.js';

/** The server's config file when neither --config nor FERRY_CONFIG names one (read only if it exists). */
export const DEFAULT_SERVER_CONFIG = '/etc/ferry/server.json';

/** Keys of the server's config file (FERRY_HOME keeps its own handling in resolveDataDir) (docs/configuration.md); the CLI reads dataDir and the NATS keys too. */
export const serverSettingsSchema = z.object({
  dataDir: absolutePath(),
  listen: z.string({ error: 'must be HOST:PORT' }).regex(/^\S+:\d{1,5}$/, { error: 'must be HOST:PORT, e.g. 0.0.0.0:4222' }),
  nats: z.string({ error: 'must be a NATS URL' }).regex(/^(nats|tls):\/\/\S+$/, { error: 'must be a NATS URL such as nats://nats.example.org:4222' }),
  creds: absolutePath(),
  tlsCert: absolutePath(),
  tlsKey: absolutePath(),
  tlsCa: absolutePath(),
  logLevel: logLevel(),
  offlineAfterMs: positiveInt(),
  metricsListen: z.string({ error: 'must be HOST:PORT' }).regex(/^\S+:\d{1,5}$/, { error: 'must be HOST:PORT, e.g. 127.0.0.1:9464' }),
  uiListen: z.string({ error: 'must be HOST:PORT' }).regex(/^\S+:\d{1,5}$/, { error: 'must be HOST:PORT, e.g. 127.0.0.1:8080' }),
});
export type ServerSettings = z.infer<typeof serverSettingsSchema>;

export const SERVER_ENV: Partial<Record<keyof ServerSettings, string>> = {
  logLevel: 'FERRY_LOG_LEVEL',
  offlineAfterMs: 'FERRY_OFFLINE_AFTER_MS',
  metricsListen: 'FERRY_METRICS_LISTEN',
  uiListen: 'FERRY_UI_LISTEN',
};

export function loadServerSettings(configFlag: string | undefined, env: NodeJS.ProcessEnv = process.env): SettingsSource<ServerSettings> {
  return loadSettings(serverSettingsSchema, SERVER_ENV, configFilePath(configFlag, DEFAULT_SERVER_CONFIG, env), env);
}
