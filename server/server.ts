// The distribution server: wires the database, NATS (embedded or external), the DML, the CMDB,
// enrolment, report ingestion, the admin API and the rollout engine, and runs them until stopped.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { FerryError } from '../shared/errors.js';
import { connectNats, type NatsConnection } from '../shared/nats/connect.js';
import { readCredsFile, type NatsCreds } from '../shared/nats/creds.js';
import { chooseReplicas, jetstreamClusterSize } from './nats/replicas.js';
import { createHandlers } from './api/handlers.js';
import { AuditLog } from './audit/log.js';
import { ensureOperatorSchema } from './operators/schema.js';
import { OperatorRegistry } from './operators/registry.js';
import { ensureBootstrapAdmin } from './operators/bootstrap.js';
import { OperatorService } from './operators/service.js';
import { activeUploaders } from './operators/uploaders.js';
import { UploadBuckets } from './dml/upload-buckets.js';
import { RequestAuthenticator } from './operators/authenticate.js';
import { ApiRouter } from './api/router.js';
import { completeRestore } from './backup/complete.js';
import { ReportIngest } from './cmdb/ingest.js';
import { CmdbStore } from './cmdb/store.js';
import { dataPaths, type DataPaths, type RuntimeInfo } from './config.js';
import { openDatabase, type Db } from './db/open.js';
import { DesiredStatePublisher } from './desired/publisher.js';
import { EnrollService } from './enroll/service.js';
import { EventedDmlService, EventedReleaseStore } from './events/catalog-events.js';
import { EventOutbox } from './events/outbox.js';
import { EventPublisher } from './events/publisher.js';
import { EventedRolloutStore } from './events/rollout-events.js';
import { assertInitialized } from './init.js';
import { KeyRing } from './keys.js';
import { ApprovalSeal, useApprovalSeal } from './releases/approval-seal.js';
import { EmbeddedNats } from './nats/embedded.js';
import { NatsAuth } from './nats/nats-auth.js';
import { renderOperatorAuth } from './nats/server-config.js';
import { subjects } from '../shared/protocol/subjects.js';
import { portTakenError } from './nats/store-lock.js';
import { LeaderLease } from './nats/leader-lease.js';
import { deliveryTimings, WebhookDispatcher } from './notify/dispatcher.js';
import { NotifyService } from './notify/service.js';
import { WebhookStore } from './notify/store.js';
import { startOpsHttp, type OpsHttp } from './ops/http.js';
import { trackNatsConnection } from './ops/nats-state.js';
import { serverProbe } from './ops/probe.js';
import { RolloutEngine } from './rollouts/engine.js';
import { RolloutFollower } from './rollouts/follow.js';
import { RolloutService } from './rollouts/service.js';
import { AgentDecommissioner } from './agents/decommission.js';
import { startConsole, type ConsoleHttp } from './ui/console.js';
import { listSites } from './sites/list.js';
import { setSite } from './sites/set.js';
import { removeSite } from './sites/remove.js';
import { SiteMirrors } from './sites/mirrors.js';
import { MirrorConsumers } from './sites/mirror-consumers.js';
import { SiteStore } from './sites/store.js';

/** How long after a report moved a host the engine reconciles (every report meanwhile shares the pass). */
const REPORT_TICK_MS = 50;

export interface ServerOptions {
  dataDir: string;
  /** HOST:PORT for the embedded nats-server (port 0: random) */
  listen: string;
  /** use an existing NATS server (or cluster: URLs separated by commas) instead of the embedded one */
  natsUrl?: string;
  /** with natsUrl: the server's NATS credentials file (default: issued from the data directory's keys) */
  credsFile?: string | undefined;
  /** copies of every stream, KV bucket and object store (default: min(3, JetStream cluster size)) */
  replicas?: number | undefined;
  logger: Logger;
  /** a host is online if it reported within this time */
  offlineAfterMs?: number;
  tickMs?: number;
  /** serve NATS over TLS (embedded), or trust this CA when connecting (--nats) */
  tls?: { cert?: string | undefined; key?: string | undefined; ca?: string | undefined };
  /** HOST:PORT for /healthz and /metrics over HTTP (port 0: random); off when not given */
  metricsListen?: string | undefined;
  /** HOST:PORT for the web console (port 0: random; HTTPS with the tls cert and key); off when not given */
  uiListen?: string | undefined;
  /** HOST:PORT where the embedded NATS accepts sites' leafnodes (port 0: random); off when not given */
  leafListen?: string | undefined;
}

export class FerryServer {
  private readonly paths: DataPaths;
  private db?: Db;
  private nats?: EmbeddedNats;
  private nc?: NatsConnection;
  private sysNc?: NatsConnection;
  private stops: (() => Promise<void> | void)[] = [];
  private url = '';
  private leafUrl: string | undefined;
  private ops?: OpsHttp;
  private console?: ConsoleHttp;
  private fail: (err: FerryError) => void = () => undefined;
  /** Settles if the server must stop on its own: another server took this NATS's lease. */
  readonly failure = new Promise<FerryError>((resolve) => (this.fail = resolve));

  constructor(private readonly opts: ServerOptions) {
    this.paths = dataPaths(opts.dataDir);
  }

  get natsUrl(): string {
    return this.url;
  }

  /** http://HOST:PORT of /healthz and /metrics, when --metrics-listen was given */
  get metricsUrl(): string | undefined {
    return this.ops?.url;
  }

  /** http(s)://HOST:PORT of the web console, when --ui-listen was given */
  get consoleUrl(): string | undefined {
    return this.console?.url;
  }

  /** nats-leaf://HOST:PORT where sites' leafnodes connect, when --leaf-listen was given */
  get siteUrl(): string | undefined {
    return this.leafUrl;
  }

  async start(): Promise<void> {
    const log = this.opts.logger;
    assertInitialized(this.paths);
    // Bound first: a taken address fails the start before anything else runs; /healthz says
    // 'starting' (503) until the server is ready.
    if (this.opts.metricsListen) this.ops = await startOpsHttp(this.opts.metricsListen, log.child({ module: 'ops' }));
    const db = (this.db = openDatabase(this.paths.db));
    ensureOperatorSchema(db); // before NatsAuth: revoked operators are in the FERRY account JWT
    const keys = new KeyRing(this.paths);
    useApprovalSeal(db, ApprovalSeal.open(this.paths.approvalKey)); // console approvals are sealed with it, and checked
    const cmdb = new CmdbStore(db);
    // Decentralised auth: account JWTs from the keys and the database's revocations.
    const auth = await NatsAuth.open(this.paths, db, () => keys.rootFingerprint, log.child({ module: 'nats-auth' }));
    const operatorRegistry = new OperatorRegistry(db);
    ensureBootstrapAdmin(this.paths.adminCreds, operatorRegistry);
    const [issuedCreds, sysCreds] = await Promise.all([auth.serverCreds(this.paths.serverSeed), auth.sysCreds()]);
    const serverCreds = this.opts.natsUrl && this.opts.credsFile ? readCredsFile(this.opts.credsFile) : issuedCreds;

    if (this.opts.natsUrl) {
      this.url = normalizeNatsUrls(this.opts.natsUrl);
      // An external NATS is configured by its operator: it must trust our operator and resolver.
      writeFileSync(join(this.paths.natsDir, 'ferry-operator.conf'), renderOperatorAuth(auth.operatorAuth, join(this.paths.natsDir, 'resolver')), { mode: 0o600 });
      log.info('external NATS: it must trust this operator (configs from `ferry nats config`, or include nats/ferry-operator.conf); account updates are pushed to it');
    } else {
      const [host, requested] = splitListen(this.opts.listen);
      // Port 0 means "any port" the first time; afterwards keep the one agents were given.
      const port = requested === 0 ? (previousPort(this.paths.natsDir) ?? 0) : requested;
      const tls = this.opts.tls?.cert && this.opts.tls.key ? { cert: resolve(this.opts.tls.cert), key: resolve(this.opts.tls.key) } : undefined;
      const leafListen = this.opts.leafListen ? splitListen(this.opts.leafListen, '--leaf-listen') : undefined;
      const leaf = leafListen ? { host: leafListen[0], port: leafListen[1] === 0 ? (previousPort(this.paths.natsDir, 'leafnodes') ?? 0) : leafListen[1] } : undefined;
      const natsOptions = (p: number) => ({ dataDir: this.paths.natsDir, host, port: p, auth: auth.operatorAuth, storeAccount: { legacyName: 'FERRY', publicKey: auth.accountIds.FERRY }, logger: log.child({ module: 'nats' }), tls, leafListen: leaf });
      const nats = (this.nats = new EmbeddedNats(natsOptions(port)));
      nats.on('restarted', (info) => log.warn({ natsPid: info.pid }, 'embedded nats-server restarted'));
      // Never another port by itself: agents were given this one (store-lock.ts explains the refusal).
      await nats.start().catch((err: unknown) => {
        throw portTakenError(err, host, port, requested === 0) ?? err;
      });
      this.url = this.nats.url;
      this.leafUrl = this.nats.leafUrl;
    }

    // With a self-signed certificate the certificate is its own CA — for the embedded NATS it
    // serves. Against --nats the certificate is the console's only: the cluster's CA is --tls-ca.
    const tlsCa = this.opts.tls?.ca ?? (this.opts.natsUrl ? undefined : this.opts.tls?.cert);
    const tlsCaFile = tlsCa ? resolve(tlsCa) : undefined;
    const onRetry = (err: unknown, attempt: number) => log.warn({ attempt, err: String(err) }, 'cannot connect to NATS yet; retrying');
    // An external NATS that never answers (or refuses us) is a wrong URL or a NATS that does not
    // trust our operator: one probe connection that gives up says so, instead of the daemon's
    // connections retrying forever (right for the embedded server, which is merely restarting).
    const external = this.opts.natsUrl !== undefined;
    if (external) {
      await probeExternalNats(this.url, sysCreds, tlsCaFile);
      // --creds: another identity for the server's own connection; refused creds fail here too.
      if (this.opts.credsFile) await probeExternalNats(this.url, serverCreds, tlsCaFile, this.opts.credsFile);
    }
    const nc = (this.nc = await connectNats({ url: this.url, creds: serverCreds, name: 'ferry-server', inboxPrefix: subjects.serverInboxPrefix, reconnectForever: true, tlsCaFile, onRetry }));
    const sysNc = (this.sysNc = await connectNats({ url: this.url, creds: sysCreds, name: 'ferry-server (system account)', reconnectForever: true, tlsCaFile, onRetry }));
    // Copies of every stream, bucket and store: one on the embedded server, min(3, nodes) on a cluster.
    const clusterSize = external ? await jetstreamClusterSize(sysNc) : 1;
    const replicas = chooseReplicas(clusterSize, this.opts.replicas);
    log.info({ clusterSize, replicas }, 'JetStream replicas');
    // One server per NATS: against a cluster, and also against an embedded nats-server that a
    // second `ferry server --nats` of the same data directory was pointed at.
    const lease = await LeaderLease.acquire(nc, { replicas, dataDir: this.paths.dir, log: log.child({ module: 'lease' }) });
    lease.onLost((err) => this.fail(err));
    this.stops.push(() => lease.release());
    // Revocations made while nats-server was down (or an older resolver state) are pushed now.
    await auth.attach(sysNc);
    const natsState = trackNatsConnection(nc);
    const offlineAfterMs = this.opts.offlineAfterMs ?? Number(process.env.FERRY_OFFLINE_AFTER_MS ?? 35_000);
    const isOnline = (lastSeen: number | null) => lastSeen !== null && Date.now() - lastSeen <= offlineAfterMs;

    // Every state change records an event in the outbox, in its own transaction (docs/events.md).
    const outbox = new EventOutbox(db);
    const publisher = new EventPublisher(nc, outbox, log.child({ module: 'events' }));
    await publisher.start(replicas);
    const webhooks = new WebhookStore(db);
    const dispatcher = new WebhookDispatcher(webhooks, outbox, log.child({ module: 'notify' }), deliveryTimings());
    this.stops.push(() => publisher.stop(), () => dispatcher.stop());
    // Each uploader's own bucket (made for every active one; the shared one of older versions goes).
    const uploads = new UploadBuckets(nc, log.child({ module: 'dml' }));
    await uploads.open(activeUploaders(db).map((o) => o.name), replicas);
    const dml = new EventedDmlService(outbox, db, nc, keys, this.paths.tmpDir, uploads);
    await dml.open(replicas);
    const desired = new DesiredStatePublisher(db, nc, keys, (err, agents) => log.warn({ err, agents }, 'desired states not delivered yet; trying again'));
    this.stops.push(() => desired.close());
    await desired.open(replicas);
    await completeRestore({ dataDir: this.paths.dir, db, nc, desired, signing: keys.signing, log: log.child({ module: 'restore' }) });
    const releases = new EventedReleaseStore(outbox, db, dml);
    const rolloutStore = new EventedRolloutStore(db, outbox);
    const notify = new NotifyService(webhooks, outbox, dispatcher, deliveryTimings(), (name) => releases.get(name) !== undefined);
    dispatcher.start();
    const engine = new RolloutEngine(rolloutStore, releases, dml, desired, log.child({ module: 'rollouts' }));
    // `--follow` rollouts look at the fleet as it is now; a host is known once it sent its inventory.
    const currentFleet = () => {
      const installed = cmdb.allInstalled();
      return cmdb
        .listAgents()
        .filter((a) => a.inventory !== null)
        .map((a) => ({ id: a.id, hostname: a.hostname, facts: a.facts, tags: a.tags, online: isOnline(a.lastSeen), installed: installed.get(a.id) ?? {} }));
    };
    const follower = new RolloutFollower(rolloutStore, engine, releases, dml, desired, currentFleet, log.child({ module: 'rollouts', part: 'follow' }));
    const rollouts = new RolloutService(rolloutStore, engine, releases, dml, cmdb, isOnline, this.paths.policy);
    const audit = new AuditLog(db);
    if (audit.started.chainedNow) log.info({ records: audit.started.chainedNow }, 'audit log: the records written before the hash chain existed are chained (once)');
    if (audit.started.unchained) log.warn({ records: audit.started.unchained }, 'audit log: records missing from the hash chain (written into the database file while the server was stopped?); see ferry audit verify');

    const decommissioner = new AgentDecommissioner({ cmdb, desired, isOnline, syncAuth: () => auth.push(), leaveRollouts: (id, reason) => engine.forgetAgent(id, reason), dependsOf: (name, version) => dml.get(name, version)?.manifest.depends, log: log.child({ module: 'decommission' }) });
    // A report that moved a host asks for a reconcile pass soon, not at once: a burst of reports
    // shares one pass (each reads every host's state: ~2-4 ms at 10,000 hosts), and the pass runs
    // after the ingest's transaction committed, never inside it (a wave it starts sends at once).
    let reportTick: NodeJS.Timeout | undefined;
    const ingest = new ReportIngest(
      nc,
      cmdb,
      {
        onStatus: (r) => {
          decommissioner.onStatus(r);
          if (engine.applyReport(r)) {
            reportTick ??= setTimeout(() => {
              reportTick = undefined;
              void engine.tick();
            }, REPORT_TICK_MS);
          }
        },
      },
      log.child({ module: 'ingest' }),
    );
    await ingest.start(replicas);
    const enroll = new EnrollService(db, nc, cmdb, keys, auth, log.child({ module: 'enroll' }));
    enroll.start();
    // Sites (leafnode distribution points): each one's mirror of the DML, made once it is linked.
    const sites = new SiteStore(db);
    const mirrors = new SiteMirrors(nc, sites, log.child({ module: 'sites' }));
    mirrors.start();
    const mirrorConsumers = new MirrorConsumers(nc, log.child({ module: 'sites' }), sites);
    mirrorConsumers.start();
    this.stops.push(() => mirrors.stop(), () => mirrorConsumers.stop());
    const router = new ApiRouter(
      nc,
      createHandlers({
        db,
        cmdb,
        dml,
        releases,
        rollouts,
        rolloutStore,
        audit,
        auth,
        rootFingerprint: () => keys.rootFingerprint,
        natsUrl: () => this.url,
        listSites: () => listSites({ sites, mirrors, cmdb, isOnline, nc }),
        setSite: (req) => setSite({ sites, consumers: mirrorConsumers }, req),
        removeSite: (req) => removeSite({ db, sites, cmdb, isOnline, pushAuth: () => auth.push(), deleteMirrorConsumer: (site, name) => mirrorConsumers.deleteConsumer(site, name) }, req),
        isOnline,
        notify,
        reloadKeys: () => applyKeys(true),
        revokeAgent: async (id, actor) => {
          const agent = cmdb.revoke(id, actor);
          await auth.push(); // the account update closes the revoked identity's connection
          await engine.forgetAgent(agent.id, `revoked by ${actor}`);
          log.warn({ agent: agent.id, actor }, 'agent revoked');
          return { id: agent.id, hostname: agent.hostname, revokedAt: new Date().toISOString() };
        },
        decommissionAgent: (req) => decommissioner.decommission(req),
        operators: new OperatorService(operatorRegistry, auth, uploads),
        consoleLogin: (operator) => this.console?.loginUrl(operator),
      }),
      log.child({ module: 'api' }),
      new RequestAuthenticator(db, operatorRegistry),
      audit,
    );
    router.start();
    if (this.opts.uiListen) {
      const tls = this.opts.tls?.cert && this.opts.tls.key ? { cert: resolve(this.opts.tls.cert), key: resolve(this.opts.tls.key) } : undefined;
      this.console = await startConsole({ listen: this.opts.uiListen, tls, onEvents: (l) => outbox.onRecord(l), router, operators: operatorRegistry, log: log.child({ module: 'console' }) });
    }
    // After `ferry keys rotate`: the new trust document goes out first, then everything signed
    // with the old online key is signed again (records and desired states).
    const applyKeys = async (reload: boolean) => {
      if (reload) keys.reload();
      await desired.publishTrust();
      const records = dml.resignRecords();
      const states = await desired.resignAll();
      if (records || states) log.info({ records, states, trust: keys.trustDoc.version }, 're-signed with the current online key');
      // File indexes (delta installs) are objects: signed again in the background; until then an
      // agent that no longer trusts the old key downloads whole packages.
      void dml
        .resignFileIndexes()
        .then((indexes) => indexes && log.info({ indexes }, 'file indexes re-signed with the current online key'))
        .catch((err: unknown) => log.warn({ err: String(err) }, 'could not re-sign every file index; agents download whole packages for those'));
      return { trustVersion: keys.trustDoc.version, expiresAt: keys.trustDoc.expiresAt, signingKey: keys.signingFingerprint, rootKey: keys.rootFingerprint, resigned: { records, states } };
    };
    await applyKeys(false);
    await engine.resendInFlight();
    const timer = setInterval(() => void engine.tick(), this.opts.tickMs ?? 500);
    void engine.tick();
    // Following looks at the whole fleet: not more often than once a second.
    const followTimer = setInterval(() => void follower.tick(), Math.max(this.opts.tickMs ?? 500, 1000));
    // Stopped in reverse order of start.
    this.stops.push(
      () => clearInterval(timer),
      () => clearTimeout(reportTick),
      () => clearInterval(followTimer),
      () => router.stop(),
      () => enroll.stop(),
      () => ingest.stop(),
      () => engine.tick(),
      () => follower.tick(),
    );

    this.ops?.setProbe(serverProbe({ db, isOnline, natsConnected: natsState.connected, startedAt: Date.now() - process.uptime() * 1000, reportsRefused: () => ingest.refusedCounts() }));
    const runtime: RuntimeInfo = { natsUrl: this.url, pid: process.pid, startedAt: new Date().toISOString(), ...(tlsCaFile ? { tlsCa: tlsCaFile } : {}), ...(this.ops ? { metricsUrl: this.ops.url } : {}), ...(this.console ? { consoleUrl: this.console.url } : {}), ...(this.leafUrl ? { leafUrl: this.leafUrl } : {}) };
    writeFileSync(this.paths.runtime, JSON.stringify(runtime, null, 2));
    log.info({ nats: this.url, dataDir: this.paths.dir }, 'ferry server ready');
  }

  async stop(): Promise<void> {
    await this.console?.close();
    await this.ops?.close();
    for (const stop of this.stops.reverse()) await stop();
    this.stops = [];
    await this.nc?.drain().catch(() => undefined);
    await this.sysNc?.close().catch(() => undefined);
    await this.nats?.stop();
    this.db?.close();
    rmSync(this.paths.runtime, { force: true });
  }
}

/** The port a previous run's embedded NATS listened on (for clients, or for leafnodes), from its config. */
function previousPort(natsDir: string, block?: 'leafnodes'): number | undefined {
  try {
    const re = block ? /^leafnodes \{\n\s*listen:\s*"[^"]*:(\d+)"/m : /^listen:\s*"[^"]*:(\d+)"/m;
    const m = re.exec(readFileSync(join(natsDir, 'nats.conf'), 'utf8'));
    const port = m ? Number(m[1]) : 0;
    return port > 0 ? port : undefined;
  } catch {
    return undefined;
  }
}

/** `--nats URL[,URL...]`: each a nats:// or tls:// URL with a host (and port); one clear error otherwise. */
export function normalizeNatsUrls(value: string): string {
  const urls = value.split(',').map((u) => u.trim()).filter((u) => u.length > 0);
  if (urls.length === 0) throw new FerryError('FERRY_INVALID_INPUT', '--nats is empty', { hint: 'e.g. --nats nats://n1:4222,nats://n2:4222,nats://n3:4222' });
  for (const u of urls) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(u);
    } catch {
      parsed = undefined;
    }
    if (!parsed || !/^(nats|tls):$/.test(parsed.protocol) || !parsed.hostname || parsed.username || parsed.password) {
      throw new FerryError('FERRY_INVALID_INPUT', `--nats ${JSON.stringify(u)} is not a NATS URL`, { hint: 'e.g. nats://n1.example.org:4222 (several separated by commas; credentials go in --creds)' });
    }
  }
  return urls.join(',');
}

/** Connect once to an external NATS as the system account, giving up after a few tries. */
async function probeExternalNats(url: string, creds: NatsCreds, tlsCaFile: string | undefined, credsFile?: string): Promise<void> {
  try {
    // Against an untrusted operator a cluster answers only after its account lookup times out (~5 s).
    const nc = await connectNats({ url, creds, name: 'ferry-server (probe)', failFirstConnect: true, attempts: 4, timeoutMs: 10_000, tlsCaFile });
    await nc.close();
  } catch (err) {
    throw externalNatsError(err, url, credsFile);
  }
}

/** The one line a wrong --nats (or --creds) gets: unreachable, or a NATS that does not trust this data directory's operator. */
function externalNatsError(err: unknown, url: string, credsFile?: string): FerryError {
  const message = err instanceof Error ? err.message : String(err);
  const refused = err instanceof FerryError && /refused the credentials/.test(message);
  if (refused && credsFile) {
    return new FerryError('FERRY_CREDS_INVALID', `NATS at ${url} refused the credentials of --creds ${credsFile}`, {
      hint: 'they are revoked, expired or from another operator; without --creds the server uses its own identity from the data directory',
      cause: err,
    });
  }
  if (refused) {
    return new FerryError('FERRY_SERVER_UNREACHABLE', `NATS at ${url} refused Ferry's credentials`, {
      hint: 'it must trust this data directory\'s operator: start it with the configs of `ferry nats config` (or include nats/ferry-operator.conf)',
      cause: err,
    });
  }
  return new FerryError('FERRY_SERVER_UNREACHABLE', `cannot reach NATS at ${url}`, { hint: 'check the --nats URL(s) and that the NATS servers run', cause: err });
}

export function splitListen(listen: string, flag = '--listen'): [string, number] {
  const m = /^(.+):(\d{1,5})$/.exec(listen);
  if (!m || Number(m[2]) > 65535) throw new FerryError('FERRY_INVALID_INPUT', `${flag} "${listen}" is not HOST:PORT`, { hint: `e.g. ${flag} 127.0.0.1:${flag === '--listen' ? 4222 : 7422}` });
  return [m[1]!.replace(/^\[|\]$/g, ''), Number(m[2])];
}

