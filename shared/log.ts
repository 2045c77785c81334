// Structured logging for both processes: JSON lines on stderr (pino) with level, time, pid, the
// process name and, from child loggers, the module (logger.child({ module: 'rollouts' })).
// stdout is left to command output (the "ready" line, --json documents).
// The level comes from --log-level, else FERRY_LOG_LEVEL, else info. Fields that carry secrets
// are redacted wherever a caller puts them (top level or one level down), so a careless
// `log.info({ token })` cannot leak a join token, a seed or a password into the logs.
import { pino, type DestinationStream, type Logger } from 'pino';
import { FerryError } from './errors.js';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Field names whose values never reach a log line. */
export const SECRET_FIELDS = ['token', 'seed', 'password', 'pass', 'secret', 'enrollPassword', 'enrollSecret', 'creds', 'privateKey', 'secretKey', 'authorization', 'nkeySeed'] as const;
export const REDACTED = '[redacted]';
const REDACT_PATHS = SECRET_FIELDS.flatMap((f) => [f, `*.${f}`]);

export function parseLogLevel(value: string): LogLevel {
  const level = value.trim().toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new FerryError('FERRY_INVALID_INPUT', `log level "${value}" is not one of ${LOG_LEVELS.join(', ')}`, { hint: 'e.g. --log-level debug or FERRY_LOG_LEVEL=warn' });
  }
  return level as LogLevel;
}

export function createLogger(name: string, level: string = process.env.FERRY_LOG_LEVEL || 'info', destination: DestinationStream = pino.destination({ fd: 2, sync: false })): Logger {
  return pino({ name, level: parseLogLevel(level), base: { pid: process.pid }, redact: { paths: REDACT_PATHS, censor: REDACTED } }, destination);
}

/** A logger that writes nothing: for library callers and tests that do not care. */
export const silentLogger: Logger = pino({ level: 'silent' });
