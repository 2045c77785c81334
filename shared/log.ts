// Structured logging for both processes: JSON lines on stderr (pino), level from FERRY_LOG_LEVEL.
// Modules take a child logger: logger.child({ module: 'rollouts' }).
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(name: string, level = process.env.FERRY_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: false }));
}

/** A logger that writes nothing: for library callers and tests that do not care. */
export const silentLogger: Logger = pino({ level: 'silent' });
