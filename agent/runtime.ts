// The agent daemon: connects with its own identity (reconnecting forever), heartbeats, reports
// inventory, and converges the host on its signed desired state — pushed as a command, read from
// the KV bucket at start and after every reconnect, and re-checked periodically. Applying a
// desired state is agent/apply/release.ts, checking what the server sends agent/signed-inputs.ts;
// this file wires them (and the rest) to NATS, timers, the state directory's lock and the local
// control socket. Every operation runs one at a time.
// The install machine and everything only an install, a revert or a soak uses are loaded the
// first time there is such work (agent/install-loader.ts): a daemon that sits idle never loads them.
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { keyFingerprint, type SignedEnvelope } from '../shared/crypto/sign.js';
import { AgentTrust } from './trust.js';
import { FerryError, toFerryError } from '../shared/errors.js';
import { connectNats } from '../shared/nats/connect.js';
import { nativeKeyPair } from '../shared/nats/nkey-auth.js';
import { returnToSite } from './site-return.js';
import { encodeMessage } from '../shared/protocol/codec.js';
import { TERMINAL_HOST_STATES, type DesiredState, type DriftDoc, type InventoryDoc } from '../shared/protocol/messages.js';
import { subjects } from '../shared/protocol/subjects.js';
import { agentTimings, type AgentIdentity, type AgentPaths } from './config.js';
import { inventoryFingerprint } from './inventory/collect.js';
import { Journal } from './install/journal.js';
import type { MachineDeps, ProgressReport } from './install/machine.js';
import { InstallLoader } from './install-loader.js';
import { StateLock } from './control/lock.js';
import { ControlServer } from './control/socket.js';
import { Reporter } from './reporter.js';
import type { MaintenanceConfig } from './maintenance.js';
import { MaintenanceHold, type WindowClock } from './maintenance-hold.js';
import { SelfUpdate } from './service/self-update.js';
import { ProgressPacer } from './progress-pacer.js';
import { SignedInputs } from './signed-inputs.js';

/** How long a download waits for the first NATS connection (a revert recovered at start). */
const FIRST_CONNECT_WAIT_MS = 120_000;

export interface RuntimeOptions {
  paths: AgentPaths;
  identity: AgentIdentity;
  seed: string;
  log: Logger;
  keepVersions?: number;
  /** overrides for tests and the fleet simulator */
  timings?: Partial<typeof agentTimings>;
  inventory?: (signal: AbortSignal) => Promise<InventoryDoc>;
  /** 'normal' trades power-loss durability for speed (simulated fleets only) */
  journalSync?: 'full' | 'normal';
  /** called before every step of every operation; may delay or throw (simulated faults, crash tests) */
  beforeStep?: MachineDeps['beforeStep'];
  /** the fleet simulator: every application of a desired state runs through this (a few at a time per process) */
  applyGate?: <T>(apply: () => Promise<T>) => Promise<T>;
  /** a shifted clock for the maintenance window (tests); default the wall clock */
  windowClock?: WindowClock;
  /** serve `ferry-agent rollback` on <state-dir>/run/agent.sock (default true; the simulator turns it off) */
  controlSocket?: boolean;
  /** the NATS connection name; the simulator uses it to tell its agents apart */
  connectionName?: string;
  /** what the install machine checks requires.os/arch against (default: this process) */
  host?: { os: string; arch: string };
  /** workstation maintenance window: installs wait while it is closed (agent/maintenance.ts) */
  maintenance?: MaintenanceConfig | undefined;
  /** under `ferry-agent supervise`: restart into a newly installed `ferry-agent` version */
  selfUpdate?: { supervised: boolean; runningVersion?: string | undefined; onRestart: () => void };
}

export class AgentRuntime {
  private readonly journal: Journal;
  private readonly reporter: Reporter;
  /** progress reports wait a moment: a newer one or the final one replaces them (agent/progress-pacer.ts) */
  private readonly progress: ProgressPacer;
  private readonly trust: AgentTrust;
  private readonly signed: SignedInputs;
  private readonly timings: typeof agentTimings;
  private readonly selfUpdate: SelfUpdate;
  /** the install path, loaded on first use */
  private readonly install: InstallLoader;
  private lock?: StateLock;
  private control?: ControlServer;
  private nc?: NatsConnection;
  private markConnected: (nc: NatsConnection) => void = () => undefined;
  /** resolves once the first connection is made (a fetch during crash recovery waits for it) */
  private readonly connected = new Promise<NatsConnection>((resolve) => (this.markConnected = resolve));
  private sub?: Subscription;
  private timers: NodeJS.Timeout[] = [];
  private work: Promise<void> = Promise.resolve();
  private busy = false;
  /** while applying a desired state, per-package final reports are not sent: the state has one final report */
  private holdFinalReports = false;
  /** the desired state being applied says the site has a --max-rate: package bytes from the site's mirror only (agent/site-reads.ts) */
  private siteMirrorOnly = false;
  private stopped = false;
  /** aborted by stop(): the waits of a start still running give up */
  private readonly abort = new AbortController();
  private starting?: Promise<void>;
  private markDecommissioned: () => void = () => undefined;
  /** Resolves when the server decommissioned this agent (the daemon should then exit). */
  readonly decommissioned = new Promise<void>((resolve) => (this.markDecommissioned = resolve));
  private readonly hold: MaintenanceHold;

  constructor(private readonly o: RuntimeOptions) {
    this.journal = new Journal(o.paths.journal, o.journalSync);
    this.timings = { ...agentTimings, ...o.timings };
    this.trust = AgentTrust.load(o.paths.dir);
    this.signed = new SignedInputs({ identity: o.identity, trust: this.trust, journal: this.journal, log: o.log, connection: () => this.nc });
    // The key the NATS connection signs its nonce with (made once, cached): only a report sent signs.
    this.reporter = new Reporter(o.identity.agentId, this.journal, o.log.child({ module: 'reporter' }), (bytes) => nativeKeyPair(o.seed).sign(bytes));
    this.progress = new ProgressPacer((r) => this.reporter.status(r));
    this.hold = new MaintenanceHold(o.maintenance, this.journal, this.reporter, o.log.child({ module: 'maintenance' }), o.windowClock);
    this.selfUpdate = new SelfUpdate({ stateDir: o.paths.dir, journal: this.journal, log: o.log.child({ module: 'self-update' }), supervised: o.selfUpdate?.supervised ?? false, runningVersion: o.selfUpdate?.runningVersion, onRestart: () => o.selfUpdate?.onRestart() });
    // The download directory and the install root are the install machine's: it makes them when it is made.
    this.install = new InstallLoader({
      journal: this.journal,
      trust: this.trust,
      hold: this.hold,
      selfUpdate: this.selfUpdate,
      identity: o.identity,
      downloadDir: o.paths.staging,
      log: o.log,
      keepVersions: o.keepVersions ?? 3,
      host: o.host ?? { os: process.platform, arch: process.arch },
      beforeStep: o.beforeStep,
      report: (r) => this.onProgress(r),
      connection: () => this.connection(),
      siteMirrorOnly: () => this.siteMirrorOnly,
    });
  }

  get agentId(): string {
    return this.o.identity.agentId;
  }

  /**
   * Connect and take work. stop() may be called while this runs (SIGTERM while the agent waits for
   * the state directory's lock, for NATS, or for its first inventory): the waits give up, start
   * returns or rejects at once, and stop() then undoes whatever it had set up.
   */
  start(): Promise<void> {
    this.starting = this.startUp();
    return this.starting;
  }

  private async startUp(): Promise<void> {
    const { identity, log } = this.o;
    const signal = this.abort.signal;
    // One writer on the journal: wait while a local `ferry-agent rollback` (run with no daemon) finishes.
    this.lock = await StateLock.wait(this.o.paths.dir, 'daemon', 10 * 60_000, (h) => log.warn({ holderPid: h.pid, role: h.role }, 'another ferry-agent process holds the state directory; waiting for it'), signal);
    if (this.stopped) return;
    // Finish or undo whatever a crash interrupted before taking new work (queued first, so nothing
    // else runs before it; not awaited, so a revert that must fetch a kept version again can use
    // the connection made below).
    void this.enqueue(() => this.install.recover());
    void this.enqueue(() => this.selfUpdate.finishReturn(() => this.install.machine()));
    if (this.o.controlSocket !== false) {
      this.control = await ControlServer.start(this.o.paths.dir, (req) => this.enqueueForResult(() => this.install.localRollback(req.package)), log.child({ module: 'control' }));
    }
    // An agent that joined before decentralised auth has no JWT yet: it asks for one, once.
    const jwt = identity.jwt ?? (await (await import('./enroll/migrate.js')).jwtForLegacyAgent({ paths: this.o.paths, identity, seed: this.o.seed, rootFingerprint: keyFingerprint(this.trust.doc.root.publicKey), log }));
    const nc = (this.nc = await connectNats({
      // At a site: its leafnode first, the hub as fallback (tried in that order).
      url: identity.site ? `${identity.site.url},${identity.serverUrl}` : identity.serverUrl,
      inOrder: identity.site !== undefined,
      creds: { jwt, seed: this.o.seed },
      name: this.o.connectionName ?? `ferry-agent ${identity.agentId}`,
      inboxPrefix: subjects.agentInboxPrefix(identity.agentId),
      reconnectForever: true,
      tlsCaFile: identity.tlsCa,
      onRetry: (err, attempt) => log.warn({ attempt, reason: toFerryError(err).message }, 'cannot connect to NATS yet; retrying'),
      signal,
    }));
    if (this.stopped) return;
    this.markConnected(nc);
    this.reporter.attach(nc);
    this.sub = nc.subscribe(subjects.command(identity.agentId), { callback: (_e, msg) => this.onCommand(msg.data) });
    this.writeRuntime(true);
    log.info({ nats: nc.getServer() }, 'connected to NATS');
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') {
          log.info('disconnected from NATS; reconnecting');
          this.writeRuntime(false);
        }
        if (s.type === 'reconnect') {
          log.info('reconnected to NATS');
          this.writeRuntime(true);
          void this.reporter.flush();
          void this.pollDesired();
          // The server may be another one now (restored from a backup, its CMDB older than this
          // host): say what is installed, whether or not it changed.
          void this.reportInventory(true).catch((err: unknown) => log.warn({ reason: toFerryError(err).message }, 'inventory not collected'));
        }
      }
    })();
    this.heartbeat();
    // A new agent version on probation: connected and heartbeating; its held report confirms it.
    await this.selfUpdate.confirm(this.reporter);
    if (this.stopped) return;
    this.timers.push(
      setInterval(() => {
        this.heartbeat();
        void this.reporter.flush(); // also sends what `ferry-agent rollback` queued
        void this.selfUpdate.confirm(this.reporter);
      }, this.timings.heartbeatMs),
    );
    this.timers.push(setInterval(() => void this.pollDesired(), this.timings.desiredPollMs));
    this.timers.push(setInterval(() => void this.reportInventory(false), this.timings.inventoryCheckMs));
    this.timers.push(setInterval(() => void this.enqueue(() => this.install.watchSoak()), this.timings.healthWatchMs));
    this.timers.push(setInterval(() => void this.enqueue(() => this.verifyInstalled()), this.timings.driftCheckMs));
    // At a site but on the hub (the site was down): back to the site once it is back, between jobs.
    if (identity.site) this.timers.push(setInterval(() => void this.enqueue(() => returnToSite(nc, { identity, creds: { jwt, seed: this.o.seed }, log })), this.timings.siteReturnMs));
    await this.reportInventory(true);
    await this.pollDesired();
    if (this.stopped) return;
    log.info({ server: identity.serverUrl }, 'agent running'); // the logger already names the agent
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    await this.starting?.catch(() => undefined); // it gives up at its next wait: then nothing new is set up
    for (const t of this.timers) clearInterval(t);
    this.hold.stop();
    this.sub?.unsubscribe();
    await this.control?.stop();
    await this.work;
    this.progress.stop();
    await this.reporter.stop();
    await this.closeConnection();
    this.journal.close();
    rmSync(join(this.o.paths.dir, 'runtime.json'), { force: true });
    this.lock?.release();
  }

  /**
   * Drain the connection, but never wait on a server that will not answer: a revoked identity
   * (decommission) leaves the client reconnecting, and a reconnecting client keeps the process alive.
   */
  private async closeConnection(): Promise<void> {
    const nc = this.nc;
    if (!nc || nc.isClosed()) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([nc.drain().catch(() => undefined), new Promise((r) => (timer = setTimeout(r, 5000)))]);
    clearTimeout(timer);
    if (!nc.isClosed()) await nc.close().catch(() => undefined);
  }

  /** For `ferry-agent status`: is the daemon running and connected. */
  private writeRuntime(connected: boolean): void {
    if (this.stopped) return;
    try {
      writeFileSync(join(this.o.paths.dir, 'runtime.json'), JSON.stringify({ pid: process.pid, connected, since: new Date().toISOString() }));
    } catch (err) {
      this.o.log.warn({ err: String(err) }, 'cannot write runtime.json (status only)');
    }
  }

  /** Resolves once every queued operation has finished and its reports were sent. */
  async idle(): Promise<void> {
    await this.work;
    await this.reporter.flush();
  }

  private enqueue(fn: () => Promise<unknown>): Promise<void> {
    this.work = this.work.then(async () => {
      if (this.stopped) return;
      this.busy = true;
      try {
        await fn();
      } catch (err) {
        this.o.log.error({ err: toFerryError(err).toLine() }, 'operation failed');
      } finally {
        this.busy = false;
      }
    });
    return this.work;
  }

  /** Like enqueue, for a caller waiting on the result (the control socket): its error is the caller's. */
  private enqueueForResult<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let ran = false;
      void this.enqueue(async () => {
        ran = true;
        try {
          resolve(await fn());
        } catch (err) {
          reject(err);
        }
      }).then(() => {
        if (!ran) reject(new FerryError('FERRY_AGENT_UNREACHABLE', 'the agent is stopping'));
      });
    });
  }

  private onCommand(data: Uint8Array): void {
    void this.handleCommand(data).catch((err: unknown) => {
      const e = toFerryError(err, 'FERRY_INVALID_MESSAGE');
      this.o.log.warn({ code: e.code, reason: e.message }, 'command refused');
    });
  }

  /** A verified command is acted on (agent/signed-inputs.ts checks it). */
  private async handleCommand(data: Uint8Array): Promise<void> {
    const cmd = await this.signed.openCommand(data);
    if (cmd.type === 'apply') void this.enqueue(() => this.applyDesired(cmd.desired, 'command'));
    else if (cmd.type === 'decommission') void this.enqueue(() => this.decommission());
    else void this.reportInventory(true);
  }

  /**
   * The server retired this host: acknowledge, then delete the NATS seed (the identity is revoked
   * on the server too) and mark the state directory, so this agent can never connect again. The
   * journal and identity stay for `ferry-agent status/history`; installed packages are left as
   * they are (the server purges them first if asked to). `decommissioned` then resolves.
   */
  private async decommission(): Promise<void> {
    this.reporter.agentEvent('decommission', 'decommission');
    await Promise.race([this.reporter.flush(), new Promise((r) => setTimeout(r, 5000))]);
    writeFileSync(this.o.paths.decommissioned, JSON.stringify({ at: new Date().toISOString() }) + '\n', { mode: 0o600 });
    rmSync(this.o.paths.seed, { force: true });
    this.o.log.warn('decommissioned by the server: credentials deleted; the agent stops');
    this.markDecommissioned();
  }

  /** Read the trust document and this agent's desired state, and apply the state if it is new. */
  private async pollDesired(): Promise<void> {
    if (this.stopped) return;
    await this.signed.refreshTrust();
    try {
      const envelope = await this.signed.readDesired();
      if (envelope) await this.enqueue(() => this.applyDesired(envelope, 'poll'));
    } catch (err) {
      this.o.log.debug({ reason: toFerryError(err).message }, 'could not read desired state; will retry');
    }
  }

  /** Converge on a signed desired state. Older or equal generations are not applied again. */
  private async applyDesired(envelope: SignedEnvelope, source: 'command' | 'poll'): Promise<void> {
    let desired: DesiredState;
    try {
      desired = await this.signed.openDesired(envelope);
    } catch (err) {
      this.o.log.warn({ reason: toFerryError(err).toLine() }, 'desired state refused');
      return;
    }
    const applied = Number(this.journal.getMeta('generation') ?? 0);
    if (desired.generation < applied) {
      // Pushed to us, so someone waits for it: say why nothing happens (a server restored from a
      // backup older than what this host applied, before generations followed the clock).
      if (source === 'command') this.o.log.warn({ generation: desired.generation, applied, operation: desired.operation }, 'desired state ignored: older than the one applied');
      return;
    }
    // A pushed command for what is already applied is answered (the server may be waiting for
    // it); the periodic re-read of the same state is not, or idle agents would flood the CMDB.
    if (desired.generation === applied) return source === 'command' ? await this.confirmApplied(desired) : undefined;
    await this.signed.refreshTrust(); // install only under the newest trust document the server offers
    this.siteMirrorOnly = desired.siteMirrorOnly === true;
    this.holdFinalReports = true;
    try {
      const apply = async () => (await this.install.applier()).apply(desired, () => void this.enqueue(() => this.applyDesired(envelope, 'poll')));
      const result = await (this.o.applyGate ? this.o.applyGate(apply) : apply());
      if (result.report) this.sendNow(result.report);
    } finally {
      this.holdFinalReports = false;
    }
  }

  /** The same desired state again: nothing to do; say so if it is in place. */
  private async confirmApplied(desired: DesiredState): Promise<void> {
    const report = (await this.install.applier()).confirmApplied(desired);
    if (report) this.sendNow(report);
  }

  private onProgress(r: ProgressReport): void {
    const final = TERMINAL_HOST_STATES.includes(r.state);
    if (this.holdFinalReports && final) return;
    if (final) this.sendNow(r);
    else this.progress.progress(r);
  }

  /** A report that goes out at once: the operation's held progress report is out of date. */
  private sendNow(r: ProgressReport): void {
    this.progress.settle(r.operation);
    this.reporter.status(r);
  }

  /** The NATS connection for the install path's reads (agent/install-loader.ts), waiting for the first one (a revert recovered at start). */
  private async connection(): Promise<NatsConnection> {
    const nc = this.nc ?? (await Promise.race([this.connected, new Promise<undefined>((r) => setTimeout(() => r(undefined), FIRST_CONNECT_WAIT_MS).unref())]));
    if (!nc) throw new FerryError('FERRY_SERVER_UNREACHABLE', `not connected to NATS within ${FIRST_CONNECT_WAIT_MS / 1000}s`);
    return nc;
  }

  private heartbeat(): void {
    if (!this.nc || this.nc.isClosed()) return;
    try {
      this.nc.publish(subjects.heartbeat(this.agentId), encodeMessage({ agent: this.agentId, ts: Date.now(), installed: this.journal.installedMap(), busy: this.busy }));
    } catch {
      // disconnected: the next heartbeat will do
    }
  }

  private async reportInventory(always: boolean): Promise<void> {
    let inventory: InventoryDoc;
    try {
      inventory = await (this.o.inventory ?? (async () => (await import('./inventory/collect.js')).collectInventory()))(this.abort.signal);
    } catch (err) {
      if (this.stopped) return; // its child was stopped with the agent
      throw err;
    }
    if (this.stopped) return;
    const drift = this.journal.getMeta('drift') ?? '[]';
    const fingerprint = `${inventoryFingerprint(inventory)}:${drift}`;
    if (!always && this.journal.getMeta('inventory') === fingerprint) return;
    this.journal.setMeta('inventory', fingerprint);
    this.reporter.inventory(inventory, JSON.parse(drift) as DriftDoc);
  }

  /** Check installed files against their manifests; a change is reported with the inventory. */
  async verifyInstalled(): Promise<DriftDoc> {
    const drift = await this.install.verifyAll();
    await this.reportInventory(false);
    return drift;
  }
}
