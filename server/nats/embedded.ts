// Starts and supervises the embedded nats-server (JetStream on, auth from auth-config.ts).
//
// - The config (<dataDir>/nats.conf, mode 0600) is written atomically (tmp + rename).
// - start() resolves once the server reported its port (ports_file_dir) and accepts TCP.
// - After the first start the discovered port is written into the config, so restarts
//   (after a crash) and reloads keep it.
// - If the child dies unexpectedly it is restarted with backoff (250 ms doubling to 5 s)
//   and 'restarted' is emitted; every exit of the child emits 'exited'.
// - Authorization is operator mode (decentralised JWT auth): the config names the operator and
//   preloads the account JWTs; joins and revocations never rewrite it (account updates go to the
//   resolver over NATS, see server/nats/account-sync.ts).
// - JetStream: store_dir is <dataDir>/jetstream; nats-server itself appends another
//   "jetstream" level, and a level per account: streams live under
//   <dataDir>/jetstream/jetstream/<FERRY account public key>/. A store from before operator mode
//   (<…>/jetstream/FERRY/, named by the account's config name) is moved there once, at start.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { FerryError } from '../../shared/errors.js';
import { dialHost, findNatsServerBinary, hostPort, isExecutable, missing, renderServerConfig, type OperatorAuth } from './server-config.js';
import { NatsStoreLock } from './store-lock.js';

export { findNatsServerBinary };

export interface EmbeddedNatsOptions {
  /** Directory for nats.conf, the ports file and the JetStream store, e.g. <ferry-data>/nats. */
  dataDir: string;
  host: string;
  /** 0 = a random port, discovered via ports_file_dir. */
  port: number;
  auth: OperatorAuth;
  /** The account whose JetStream store to move from a config-mode name (legacy `FERRY`). */
  storeAccount?: { legacyName: string; publicKey: string };
  /** Path of nats-server; default: findNatsServerBinary(). */
  binary?: string;
  logger?: Logger;
  /** Bytes; default 1 MiB. */
  maxPayload?: number;
  /** Serve TLS with this certificate and key (and verify client certificates against ca). */
  tls?: { cert: string; key: string; ca?: string | undefined } | undefined;
  /** Accept sites' leafnodes here (ferry server --leaf-listen); port 0 = random (kept across restarts once known) */
  leafListen?: { host: string; port: number } | undefined;
}

export interface ExitInfo {
  pid: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** true when the exit was asked for by stop(). */
  expected: boolean;
}

export interface RestartInfo {
  pid: number | undefined;
  port: number;
  /** Consecutive restart attempts it took (1 = first try). */
  attempt: number;
}

export interface EmbeddedNatsEvents {
  restarted: [RestartInfo];
  exited: [ExitInfo];
}

const START_TIMEOUT_MS = 15_000;
const STOP_KILL_AFTER_MS = 5_000;
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 5_000;
/** A child that ran this long before dying resets the restart backoff. */
const BACKOFF_RESET_AFTER_MS = 30_000;
const RING_LINES = 50;

function validateOptions(opts: EmbeddedNatsOptions): void {
  if (!opts.dataDir) throw new FerryError('FERRY_INVALID_INPUT', 'dataDir is required');
  if (!/^[A-Za-z0-9.:-]+$|^\[[0-9A-Fa-f:.]+\]$/.test(opts.host)) {
    throw new FerryError('FERRY_INVALID_INPUT', `invalid listen host ${JSON.stringify(opts.host)}`);
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    throw new FerryError('FERRY_INVALID_INPUT', `invalid port ${String(opts.port)}`);
  }
  const mp = opts.maxPayload;
  if (mp !== undefined && (!Number.isInteger(mp) || mp < 1024 || mp > 64 * 1024 * 1024)) {
    throw new FerryError('FERRY_INVALID_INPUT', `invalid maxPayload ${String(mp)}`);
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function tcpProbe(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = tcpConnect({ host, port });
    const done = (ok: boolean) => {
      sock.removeAllListeners();
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

type LineWaiter = (line: string) => void;

export class EmbeddedNats extends EventEmitter<EmbeddedNatsEvents> {
  private readonly opts: EmbeddedNatsOptions;
  private readonly log: Logger | undefined;
  private readonly auth: OperatorAuth;
  private child: ChildProcess | undefined;
  private port: number;
  private binary: string | undefined;
  private readonly ring: string[] = [];
  private readonly lineWaiters = new Set<LineWaiter>();
  private running = false; // between a successful start() and stop()
  private stopping: Promise<void> | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private backoffMs = BACKOFF_MIN_MS;
  private restartAttempt = 0;
  private childStartedAt = 0;
  private storeLock: NatsStoreLock | undefined;
  private readonly onProcessExit = () => {
    // Don't leave an orphaned server behind if the Node process exits without stop().
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
  };

  constructor(opts: EmbeddedNatsOptions) {
    super();
    validateOptions(opts);
    this.opts = { ...opts };
    this.log = opts.logger;
    this.auth = opts.auth;
    this.port = opts.port;
  }

  get configPath(): string {
    return join(this.opts.dataDir, 'nats.conf');
  }

  get url(): string {
    return `nats://${hostPort(dialHost(this.opts.host), this.port)}`;
  }

  /** Where sites' leafnodes connect (nats-leaf://HOST:PORT), when leafListen was given. */
  get leafUrl(): string | undefined {
    const leaf = this.opts.leafListen;
    return leaf ? `nats-leaf://${hostPort(dialHost(leaf.host), leaf.port)}` : undefined;
  }

  get pid(): number | undefined {
    return this.child && this.child.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  /** The last lines nats-server wrote (stdout and stderr), oldest first. */
  recentOutput(): string[] {
    return [...this.ring];
  }

  async start(): Promise<void> {
    if (this.running) throw new FerryError('FERRY_CONFLICT', 'embedded nats-server is already running');
    if (this.stopping) await this.stopping;
    this.stopping = undefined;
    this.binary = this.resolveBinary();
    mkdirSync(this.opts.dataDir, { recursive: true, mode: 0o700 });
    mkdirSync(join(this.opts.dataDir, 'jetstream'), { recursive: true, mode: 0o700 });
    mkdirSync(join(this.opts.dataDir, 'resolver'), { recursive: true, mode: 0o700 });
    // One nats-server per store: a stale one (its server was SIGKILLed) is stopped first (store-lock.ts).
    const lock = (this.storeLock = await NatsStoreLock.acquire(this.opts.dataDir, this.configPath, this.log));
    this.moveLegacyStore();
    const leafRandom = this.opts.leafListen?.port === 0;
    this.writeConfig();
    try {
      await this.launch();
    } catch (err) {
      lock.release();
      throw err;
    }
    lock.recordNats(this.pid, this.url);
    this.on('restarted', (info) => lock.recordNats(info.pid, this.url));
    if (this.stopping) {
      // stop() was called while starting.
      this.child?.kill('SIGTERM');
      throw new FerryError('FERRY_NATS_FAILED', 'embedded nats-server was stopped while starting');
    }
    this.running = true;
    process.on('exit', this.onProcessExit);
    if (this.opts.port === 0 || leafRandom) this.writeConfig(); // pin the discovered ports for restarts
    this.log?.info({ url: this.url, natsPid: this.pid }, 'nats-server started');
  }

  /** SIGTERM, SIGKILL after 5 s; stops supervision. Idempotent. */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.running = false;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    process.off('exit', this.onProcessExit);
    const child = this.child;
    this.stopping = (async () => {
      if (!child || child.exitCode !== null || child.signalCode !== null) return this.storeLock?.release();
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        this.log?.warn({ natsPid: child.pid }, 'nats-server did not stop within 5s; killing it');
        child.kill('SIGKILL');
      }, STOP_KILL_AFTER_MS);
      await exited;
      clearTimeout(timer);
      this.storeLock?.release();
      this.log?.info('nats-server stopped');
    })();
    return this.stopping;
  }

  // --- internals -----------------------------------------------------------------------

  private resolveBinary(): string {
    if (this.opts.binary === undefined) return findNatsServerBinary();
    if (!isExecutable(this.opts.binary)) throw missing(`nats-server not found at ${this.opts.binary}`);
    return this.opts.binary;
  }

  private renderConfig(): string {
    return renderServerConfig({ ...this.opts, port: this.port, auth: this.auth });
  }


  /** A JetStream store from before operator mode is named by the account's config name. */
  private moveLegacyStore(): void {
    const acc = this.opts.storeAccount;
    if (!acc) return;
    const base = join(this.opts.dataDir, 'jetstream', 'jetstream');
    const legacy = join(base, acc.legacyName);
    const current = join(base, acc.publicKey);
    if (existsSync(legacy) && !existsSync(current)) {
      renameSync(legacy, current);
      this.log?.warn({ from: legacy, to: current }, 'moved the JetStream store to its operator-mode account');
    }
  }

  private writeConfig(): void {
    const path = this.configPath;
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, this.renderConfig(), { mode: 0o600 });
    renameSync(tmp, path);
  }

  private removeStalePortsFiles(): void {
    try {
      for (const f of readdirSync(this.opts.dataDir)) {
        if (f.endsWith('.ports')) rmSync(join(this.opts.dataDir, f), { force: true });
      }
    } catch {
      // directory vanished; launch will fail loudly
    }
  }

  private readPortsFile(pid: number): number | undefined {
    const file = readdirSync(this.opts.dataDir).find((f) => f.endsWith(`_${pid}.ports`));
    if (!file) return undefined;
    try {
      const ports = JSON.parse(readFileSync(join(this.opts.dataDir, file), 'utf8')) as { nats?: string[] };
      const first = ports.nats?.[0];
      return first ? Number(new URL(first).port) : undefined;
    } catch {
      return undefined; // partially written
    }
  }

  private pushLine(line: string): void {
    if (line.length === 0) return;
    // The ports file of 2.9 has no leafnode port: a random one is read from the log, and kept from
    // then on (like the client port: sites were given it).
    const leaf = this.opts.leafListen?.port === 0 ? /Listening for leafnode connections on .*:(\d+)\s*$/.exec(line) : null;
    if (leaf && this.opts.leafListen) this.opts.leafListen = { ...this.opts.leafListen, port: Number(leaf[1]) };
    this.ring.push(line);
    if (this.ring.length > RING_LINES) this.ring.shift();
    if (this.log) {
      if (/\[(ERR|FTL)\]/.test(line)) this.log.error({ nats: line }, 'nats-server');
      // The enrolment password is a random 256-bit secret in a 0600 file: hashing it would only
      // slow every join, so nats-server's plaintext-password advice is not worth a warning.
      else if (/\[WRN\]/.test(line) && !line.includes('Plaintext passwords detected')) this.log.warn({ nats: line }, 'nats-server');
      else this.log.debug({ nats: line }, 'nats-server');
    }
    for (const waiter of this.lineWaiters) waiter(line);
  }

  private captureOutput(stream: NodeJS.ReadableStream | null): void {
    if (!stream) return;
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) this.pushLine(l.replace(/\r$/, ''));
    });
    stream.on('end', () => {
      if (partial) this.pushLine(partial);
      partial = '';
    });
  }

  private lastErrorLine(): string | undefined {
    const lines = this.ring.filter((l) => l.trim().length > 0);
    for (let i = lines.length - 1; i >= 0; i--) {
      const line = lines[i];
      if (line !== undefined && /\[(FTL|ERR)\]|error|nats-server:/i.test(line)) return line;
    }
    return lines.at(-1);
  }

  /** Spawn the child and wait until it accepts connections. */
  private async launch(): Promise<void> {
    const binary = this.binary;
    if (!binary) throw new FerryError('FERRY_INTERNAL', 'launch() before the binary was resolved');
    this.removeStalePortsFiles();
    const child = spawn(binary, ['-c', this.configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.childStartedAt = Date.now();
    this.captureOutput(child.stdout);
    this.captureOutput(child.stderr);

    let spawnError: Error | undefined;
    let exitedEarly = false;
    child.once('error', (err) => {
      spawnError = err;
    });
    child.once('exit', (code, signal) => {
      exitedEarly = true;
      this.onChildExit(child, code, signal);
    });

    const failed = (why: string) => {
      const last = this.lastErrorLine();
      return new FerryError('FERRY_NATS_FAILED', `nats-server ${why}${last ? `: ${last}` : ''}`, {
        hint: `configuration: ${this.configPath}`,
      });
    };

    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (spawnError) {
        const code = (spawnError as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'EACCES') throw missing(`cannot run ${binary}: ${spawnError.message}`);
        throw new FerryError('FERRY_NATS_FAILED', `cannot start ${binary}: ${spawnError.message}`, { cause: spawnError });
      }
      if (exitedEarly) {
        await sleep(20); // let the last output lines arrive
        throw failed(`exited at start (code ${String(child.exitCode)}, signal ${String(child.signalCode)})`);
      }
      const port = child.pid === undefined ? undefined : this.readPortsFile(child.pid);
      const leafKnown = this.opts.leafListen === undefined || this.opts.leafListen.port !== 0;
      if (port && leafKnown && (await tcpProbe(dialHost(this.opts.host), port))) {
        if (this.child !== child || exitedEarly) continue; // raced with an exit; re-check
        this.port = port;
        return;
      }
      await sleep(25);
    }
    child.kill('SIGKILL');
    throw new FerryError('FERRY_TIMEOUT', `nats-server did not accept connections within ${START_TIMEOUT_MS / 1000}s`, {
      hint: this.lastErrorLine() ?? `see ${this.configPath}`,
    });
  }

  private onChildExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    const expected = this.stopping !== undefined;
    this.emit('exited', { pid: child.pid, code, signal, expected });
    // Not yet running (first start: start() rejects instead), stopping, or an old child.
    if (!this.running || expected || this.child !== child) return;
    // Unexpected death of a running server: supervise.
    const ranMs = Date.now() - this.childStartedAt;
    if (ranMs >= BACKOFF_RESET_AFTER_MS) {
      this.backoffMs = BACKOFF_MIN_MS;
      this.restartAttempt = 0;
    }
    this.log?.error(
      { natsPid: child.pid, code, signal, last: this.lastErrorLine(), restartInMs: this.backoffMs },
      'nats-server exited unexpectedly; restarting',
    );
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    if (!this.running || this.restartTimer) return;
    const wait = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
    this.restartAttempt += 1;
    const attempt = this.restartAttempt;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.running) return;
      this.launch().then(
        () => {
          if (!this.running) {
            // stop() was called while we were starting: take this child down too.
            this.child?.kill('SIGTERM');
            return;
          }
          this.log?.warn({ natsPid: this.pid, port: this.port, attempt }, 'nats-server restarted');
          this.emit('restarted', { pid: this.pid, port: this.port, attempt });
        },
        (err: unknown) => {
          this.log?.error({ err, attempt }, 'nats-server restart failed');
          // An early exit already went through onChildExit (not expected → scheduleRestart).
          // A timeout or spawn error did not: schedule the next try here.
          if (this.running && !this.restartTimer) this.scheduleRestart();
        },
      );
    }, wait);
  }
}
