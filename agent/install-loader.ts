// The install path, loaded the first time the daemon has such work. The install machine and
// everything only an install, a revert or a soak uses (node-tar, hooks, deltas, the release
// applier, a local rollback, the drift check) are reached through `import()` here, never a static
// import: a daemon that sits idle never loads them (docs/performance.md,
// test/packaging/agent-bundle.test.ts). Each is made once, on first use. The machine reads
// package bytes and delta files over the daemon's NATS connection, from the DML's APIs.
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { toFerryError } from '../shared/errors.js';
import type { RatePacer } from '../shared/nats/pacer.js';
import { BUCKETS } from '../shared/protocol/subjects.js';
import type { DriftDoc } from '../shared/protocol/messages.js';
import type { ReleaseApplier } from './apply/release.js';
import type { AgentIdentity } from './config.js';
import type { RollbackAnswer } from './control/socket.js';
import type { Journal } from './install/journal.js';
import type { InstallMachine, MachineDeps } from './install/machine.js';
import { needsRecovery } from './install/recovery-needed.js';
import type { MaintenanceHold } from './maintenance-hold.js';
import type { SelfUpdate } from './service/self-update.js';
import { dmlApis, readDmlObject } from './site-reads.js';
import type { AgentTrust } from './trust.js';

export interface InstallLoaderOptions {
  journal: Journal;
  trust: AgentTrust;
  hold: MaintenanceHold;
  selfUpdate: SelfUpdate;
  identity: AgentIdentity;
  downloadDir: string;
  log: Logger;
  keepVersions: number;
  host: { os: string; arch: string };
  beforeStep?: MachineDeps['beforeStep'] | undefined;
  report: MachineDeps['report'];
  /** the daemon's NATS connection, once there is one */
  connection: () => Promise<NatsConnection>;
  /** the desired state being applied says the site has a --max-rate: package bytes from the site's mirror only (agent/site-reads.ts) */
  siteMirrorOnly: () => boolean;
}

export class InstallLoader {
  private machineLoading?: Promise<InstallMachine>;
  private applierLoading?: Promise<ReleaseApplier>;

  constructor(private readonly o: InstallLoaderOptions) {}

  /** The install machine, loaded and made the first time an operation needs it. */
  machine(): Promise<InstallMachine> {
    this.machineLoading ??= (async () => {
      const [{ InstallMachine }, content] = await Promise.all([import('./install/machine.js'), import('./fetch/content.js')]);
      const o = this.o;
      return new InstallMachine({
        journal: o.journal,
        installRoot: o.identity.installRoot,
        downloadDir: o.downloadDir,
        fetch: (record, dest, opts) => this.fetchPackage(record, dest, opts?.pacer),
        delta: {
          index: async (record, opts) => content.fetchFileIndex(await o.connection(), o.trust.doc, record, dmlApis(o.identity, o.siteMirrorOnly()), opts?.pacer),
          fetchFile: async (file, dest, opts) => content.fetchFileContent(await o.connection(), file, dest, { ...opts, apiPrefixes: dmlApis(o.identity, o.siteMirrorOnly()) }),
        },
        report: o.report,
        log: o.log.child({ module: 'install' }),
        keepVersions: o.keepVersions,
        ...(o.beforeStep ? { beforeStep: o.beforeStep } : {}),
        host: o.host,
      });
    })();
    return this.machineLoading;
  }

  /** The release applier (and the install machine under it), made the first time a new desired state arrives. */
  applier(): Promise<ReleaseApplier> {
    this.applierLoading ??= (async () => {
      const [{ ReleaseApplier }, machine] = await Promise.all([import('./apply/release.js'), this.machine()]);
      const o = this.o;
      return new ReleaseApplier({ journal: o.journal, machine, trust: o.trust, hold: o.hold, selfUpdate: o.selfUpdate, log: o.log.child({ module: 'apply' }) });
    })();
    return this.applierLoading;
  }

  /** Finish or undo whatever a crash interrupted; the machine is loaded only when there is such an operation. */
  async recover(): Promise<void> {
    if (needsRecovery(this.o.journal)) await (await this.machine()).recover();
  }

  /** An operator's `ferry-agent rollback PACKAGE`, asked over the control socket. */
  async localRollback(pkg: string): Promise<RollbackAnswer> {
    const [{ localRollback }, machine] = await Promise.all([import('./control/rollback.js'), this.machine()]);
    return localRollback(machine, this.o.journal, pkg);
  }

  /** Health checks of the packages still in their soak period; none with a health check: nothing is loaded. */
  async watchSoak(): Promise<void> {
    if (!this.o.journal.watched().some((p) => p.manifest.hooks?.healthcheck)) return;
    const [{ watchSoak }, machine] = await Promise.all([import('./install/release-undo.js'), this.machine()]);
    await watchSoak(this.o.journal, machine, this.o.identity.installRoot, this.o.log);
  }

  /** Check installed files against their manifests (the journal keeps what changed). */
  async verifyAll(): Promise<DriftDoc> {
    const { verifyAll } = await import('./install/drift.js');
    return verifyAll(this.o.journal, this.o.identity.installRoot);
  }

  /** pacer: the install's --max-rate, shared with its other reads (and with every retry here) */
  private async fetchPackage(record: { object: string; sha256: string; size: number }, dest: string, pacer?: RatePacer): Promise<void> {
    const nc = await this.o.connection();
    // Retried with backoff: a dropped connection mid-download resumes when NATS is back.
    for (let attempt = 1; ; attempt++) {
      try {
        await readDmlObject(nc, this.o.identity, { bucket: BUCKETS.dml, name: record.object, dest, expectedSha256: record.sha256, expectedSize: record.size, durable: false, ...(pacer ? { pacer } : {}) }, this.o.log, this.o.siteMirrorOnly());
        return;
      } catch (err) {
        const e = toFerryError(err);
        if (attempt >= 8 || !['FERRY_TIMEOUT', 'FERRY_NATS_FAILED', 'FERRY_SERVER_UNREACHABLE'].includes(e.code)) throw e;
        this.o.log.warn({ attempt, reason: e.message }, 'download interrupted; retrying');
        await new Promise((r) => setTimeout(r, Math.min(30_000, 500 * 2 ** attempt)));
      }
    }
  }
}
