// The daemon's local control socket: `ferry-agent rollback` asks the running daemon to do the
// rollback (one writer on the journal) instead of running a state machine of its own. A Unix
// socket at <state-dir>/run/agent.sock, in a directory only the agent's user may enter (0700),
// itself mode 0600. One JSON line in, one JSON line out.
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import * as z from 'zod';
import { FerryError, errorFromWire, toFerryError } from '../../shared/errors.js';

export function controlSocketPath(stateDir: string): string {
  return join(stateDir, 'run', 'agent.sock');
}

const requestSchema = z.object({ op: z.literal('rollback'), package: z.string().min(1).max(214) }).strict();
export type ControlRequest = z.infer<typeof requestSchema>;

export interface RollbackAnswer {
  package: string;
  from: string | undefined;
  to: string | undefined;
  state: string;
}

const answerSchema = z.union([
  z.object({ ok: z.literal(true), result: z.object({ package: z.string(), from: z.string().optional(), to: z.string().optional(), state: z.string() }) }),
  z.object({ ok: z.literal(false), error: z.object({ code: z.string(), message: z.string(), hint: z.string().optional() }) }),
]);

const MAX_LINE = 64 * 1024;

export class ControlServer {
  private constructor(
    private readonly server: Server,
    readonly path: string,
  ) {}

  static async start(stateDir: string, handle: (req: ControlRequest) => Promise<RollbackAnswer>, log: Logger): Promise<ControlServer> {
    const path = controlSocketPath(stateDir);
    mkdirSync(join(stateDir, 'run'), { recursive: true, mode: 0o700 });
    chmodSync(join(stateDir, 'run'), 0o700);
    // We hold the state directory's lock: a socket file left here is a dead daemon's.
    rmSync(path, { force: true });
    const server = createServer((sock) => serve(sock, handle, log));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    chmodSync(path, 0o600);
    server.on('error', (err) => log.warn({ err: err.message }, 'control socket error'));
    return new ControlServer(server, path);
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => this.server.close(() => r()));
    rmSync(this.path, { force: true });
  }
}

function serve(sock: Socket, handle: (req: ControlRequest) => Promise<RollbackAnswer>, log: Logger): void {
  let buf = '';
  sock.setEncoding('utf8');
  sock.on('error', () => undefined);
  sock.on('data', (chunk: string) => {
    buf += chunk;
    if (buf.length > MAX_LINE) return sock.destroy();
    const nl = buf.indexOf('\n');
    if (nl < 0) return;
    const line = buf.slice(0, nl);
    sock.pause();
    void (async () => {
      let answer: unknown;
      try {
        const parsed = requestSchema.safeParse(JSON.parse(line));
        if (!parsed.success) throw new FerryError('FERRY_INVALID_MESSAGE', 'not a control request');
        log.info({ op: parsed.data.op, package: parsed.data.package }, 'local request received; queued behind the operation in progress, if any');
        answer = { ok: true, result: await handle(parsed.data) };
      } catch (err) {
        const e = toFerryError(err, 'FERRY_INVALID_MESSAGE');
        log.info({ reason: e.toLine() }, 'local request refused');
        answer = { ok: false, error: e.toJSON() };
      }
      sock.end(JSON.stringify(answer) + '\n');
    })();
  });
}

/**
 * Ask the daemon. Resolves undefined when no daemon listens (no socket, or nobody behind it);
 * throws the daemon's error as a FerryError.
 */
export function askDaemon(stateDir: string, req: ControlRequest, timeoutMs: number): Promise<RollbackAnswer | undefined> {
  const path = controlSocketPath(stateDir);
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    let buf = '';
    let connected = false;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new FerryError('FERRY_AGENT_UNREACHABLE', `the agent daemon did not answer on ${path} within ${Math.round(timeoutMs / 1000)}s`, { hint: 'see its log (journalctl -u ferry-agent)' }));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.once('connect', () => {
      connected = true;
      sock.write(JSON.stringify(req) + '\n');
    });
    sock.on('data', (d: string) => (buf += d));
    sock.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (!connected && (err.code === 'ENOENT' || err.code === 'ECONNREFUSED')) return resolve(undefined);
      reject(new FerryError('FERRY_AGENT_UNREACHABLE', `cannot talk to the agent daemon on ${path}: ${err.message}`, { cause: err, hint: 'run ferry-agent as the user the agent runs as (e.g. with sudo)' }));
    });
    sock.once('close', () => {
      clearTimeout(timer);
      if (!connected) return;
      try {
        const answer = answerSchema.parse(JSON.parse(buf.trim()));
        if (answer.ok) resolve({ package: answer.result.package, from: answer.result.from, to: answer.result.to, state: answer.result.state });
        else reject(errorFromWire(answer.error));
      } catch {
        reject(new FerryError('FERRY_AGENT_UNREACHABLE', `the agent daemon closed ${path} without a valid answer`));
      }
    });
  });
}
