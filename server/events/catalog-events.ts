// The DML and the release store, recording an event for each change they make (dml.added,
// dml.authorized, dml.retired, release.created, release.approved). Synchronous changes record their event in the same
// transaction; a package upload records it right after its row is written (an upload is async:
// only a crash in that instant could lose the event, never invent one).
import { DmlService, type DmlPackage } from '../dml/service.js';
import { ReleaseStore, type Release } from '../releases/store.js';
import type { EventOutbox } from './outbox.js';

export class EventedDmlService extends DmlService {
  constructor(
    private readonly outbox: EventOutbox,
    ...args: ConstructorParameters<typeof DmlService>
  ) {
    super(...args);
  }

  override async addFromUpload(uploader: string, uploadName: string): Promise<{ pkg: DmlPackage; added: boolean }> {
    const result = await super.addFromUpload(uploader, uploadName);
    if (result.added) this.outbox.record('dml.added', { package: result.pkg.name, version: result.pkg.version, digest: result.pkg.digest, size: result.pkg.size });
    return result;
  }

  override authorize(name: string, version: string, actor: string, evidence?: string): DmlPackage {
    return this.outbox.transaction(() => {
      const before = this.get(name, version);
      const pkg = super.authorize(name, version, actor, evidence);
      if (before?.state !== 'authorized') this.outbox.record('dml.authorized', { package: name, version, actor, evidence: evidence ?? null });
      return pkg;
    });
  }

  override retire(name: string, version: string, actor: string, reason?: string): DmlPackage {
    return this.outbox.transaction(() => {
      const before = this.get(name, version);
      const pkg = super.retire(name, version, actor, reason);
      if (before?.state !== 'retired') this.outbox.record('dml.retired', { package: name, version, actor, reason: reason ?? null });
      return pkg;
    });
  }
}

export class EventedReleaseStore extends ReleaseStore {
  constructor(
    private readonly outbox: EventOutbox,
    ...args: ConstructorParameters<typeof ReleaseStore>
  ) {
    super(...args);
  }

  override create(input: Parameters<ReleaseStore['create']>[0]): Release {
    return this.outbox.transaction(() => {
      const release = super.create(input);
      this.outbox.record('release.created', { release: release.name, packages: release.packages, rfc: release.rfc ?? null, owner: release.owner ?? null });
      return release;
    });
  }

  override approve(name: string, actor: string, comment?: string, signed?: Parameters<ReleaseStore['approve']>[3], at?: number): Release {
    return this.outbox.transaction(() => {
      const before = this.get(name);
      const release = super.approve(name, actor, comment, signed, at);
      if (!before?.approvals.some((a) => a.actor === actor)) this.outbox.record('release.approved', { release: name, actor, comment: comment ?? null, approvals: release.approvals.length });
      return release;
    });
  }
}
