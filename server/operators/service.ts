// Operators as a service of the admin API: add a person (their NATS user JWT from public keys the
// CLI made; an uploader's own upload bucket, and its export to them), list, revoke (registry
// first, then the account update that closes their connection and withdraws their bucket's export,
// then the bucket; later requests fail the registry check even if the push is late), and renew
// (the caller's own NATS user issued anew with their role's current permissions).
import { FerryError } from '../../shared/errors.js';
import type { Role } from '../../shared/operators/roles.js';
import type { NatsAuth } from '../nats/nats-auth.js';
import { operatorPermissions } from './nats-permissions.js';
import type { Operator, OperatorRegistry } from './registry.js';
import { mayUpload } from './uploaders.js';
import { BOOTSTRAP_ADMIN } from './bootstrap.js';
import { jwtIssuedAt } from '../../shared/nats/creds.js';
import type { UploadBuckets } from '../dml/upload-buckets.js';

export type { OperatorDoc } from '../../shared/protocol/replies.js';
import type { OperatorDoc } from '../../shared/protocol/replies.js';

const doc = (o: Operator): OperatorDoc => ({ name: o.name, role: o.role, createdAt: o.createdAt, createdBy: o.createdBy, revokedAt: o.revokedAt, revokedBy: o.revokedBy });

export class OperatorService {
  constructor(
    private readonly registry: OperatorRegistry,
    private readonly auth: Pick<NatsAuth, 'issueOperator' | 'push'>,
    private readonly uploads: Pick<UploadBuckets, 'ensure' | 'remove'>,
  ) {}

  async add(req: { name: string; role: Role; natsKey: string; signingKey: string }, by: string): Promise<OperatorDoc & { jwt: string }> {
    if (this.registry.get(req.name)) throw new FerryError('FERRY_ALREADY_EXISTS', `operator ${req.name} already exists`, { hint: 'pick another name (names are never reused, revoked ones included)' });
    // The JWT first: if it cannot be made, nothing is registered.
    const jwt = await this.auth.issueOperator(req.name, req.natsKey, operatorPermissions(req.name, req.role));
    // Their upload bucket before they are registered (one left over from a failed add goes at the next start).
    if (mayUpload(req.role)) await this.uploads.ensure(req.name);
    const op = this.registry.add({ ...req, createdBy: by });
    // FERRY exports each uploader's own bucket to OPERATORS: in place before their credentials are handed out.
    if (mayUpload(req.role)) await this.auth.push();
    return { ...doc(op), jwt };
  }

  list(): OperatorDoc[] {
    return this.registry.list().map(doc);
  }

  /**
   * A new NATS user JWT for `name` (the caller: nobody renews another), for the key they registered,
   * in OPERATORS with their role's current permissions: credentials from before a permission change
   * (per-operator upload buckets, admins' least privilege) become current without a new key. Once the
   * reply is on its way (`afterReply`), FERRY refuses their older users: an admin made before least
   * privilege was a user of FERRY, and that user must not outlive the renewal; and OPERATORS
   * refuses every JWT of their key issued before this one's second, so a copy of the old file is
   * of no use either.
   */
  async renew(name: string, afterReply: (task: () => Promise<void>) => void): Promise<OperatorDoc & { jwt: string }> {
    if (name === BOOTSTRAP_ADMIN) {
      throw new FerryError('FERRY_INVALID_INPUT', `operator ${name} is the bootstrap admin: its credentials are the data directory's keys/admin.creds, which the server keeps current itself; nothing to renew`);
    }
    const op = this.registry.get(name);
    if (!op) throw new FerryError('FERRY_NOT_FOUND', `no operator ${name}`);
    if (op.revokedAt) throw new FerryError('FERRY_FORBIDDEN', `operator ${name} was revoked at ${op.revokedAt}`);
    const jwt = await this.auth.issueOperator(op.name, op.natsKey, operatorPermissions(op.name, op.role));
    if (mayUpload(op.role)) await this.uploads.ensure(op.name);
    // After the reply: the push closes the live connections of their older users, the one this
    // request came on among them.
    afterReply(async () => {
      this.registry.markRenewed(op.name, jwtIssuedAt(jwt));
      await this.auth.push();
    });
    return { ...doc(op), jwt };
  }

  async revoke(name: string, by: string): Promise<OperatorDoc> {
    if (name === by) throw new FerryError('FERRY_INVALID_INPUT', `operator ${name} cannot revoke themselves`, { hint: 'ask another admin' });
    const op = this.registry.revoke(name, by);
    await this.auth.push(); // closes their live connections (and withdraws their upload bucket's export)
    // whatever they left pending goes with it (none of it could be added now: their requests are refused)
    if (mayUpload(op.role)) await this.uploads.remove(op.name);
    return doc(op);
  }
}
