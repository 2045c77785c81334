// The NATS layer of the role table: an operator's user (in the OPERATORS account, admins too) may
// publish only the API subjects of the verbs their role may call, their own upload bucket's
// subjects (release managers, admins) and the DML's direct gets (`ferry dml export`, `ferry
// backup`), and read only their own inbox. Only the bootstrap admin (keys/admin.creds, the data
// directory's holder) is a user of FERRY.
import { verbsOf, type Role } from '../../shared/operators/roles.js';
import { BUCKETS, subjects } from '../../shared/protocol/subjects.js';
import { uploadServices, type Permissions } from '../nats/auth-config.js';

/** What `ferry dml add` needs to put a package into the operator's own upload bucket. */
const uploadPublish = (name: string) => ['$JS.API.INFO', ...uploadServices(name)];

/** What `ferry dml export` and `ferry backup` need to read package bytes from the DML (direct gets, like agents). */
const DML_READ_PUBLISH = [`$JS.API.DIRECT.GET.OBJ_${BUCKETS.dml}`, `$JS.API.DIRECT.GET.OBJ_${BUCKETS.dml}.>`];

export function operatorPermissions(name: string, role: Role): Permissions {
  const verbs = verbsOf(role);
  return {
    publish: [...verbs.map((v) => subjects.api(v)), ...(verbs.includes('dml.add') ? uploadPublish(name) : []), ...(verbs.includes('dml.export') ? DML_READ_PUBLISH : [])],
    subscribe: [`${subjects.cliInboxPrefix}.${name}.>`],
  };
}
