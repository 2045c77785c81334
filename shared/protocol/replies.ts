// Reply documents of the admin API, one schema per verb: the server's handlers return the
// schema's type (server/api/router.ts: a change that breaks the shape does not compile), the CLI
// parses every reply with it (server/cli/client.ts), and the tests read replies through it.
// Objects are not strict: an older CLI keeps working when a newer server adds a field (zod
// drops fields it does not know), so each schema must list every field the server sends.
import type { z } from 'zod';
import type { ApiVerb } from './api.js';
import { agentLogsReplySchema, agentsListReplySchema, fleetStatusReplySchema, tokenInfoSchema, tokenListReplySchema } from './replies/agents.js';
import {
  agentsDecommissionReplySchema,
  agentsRevokeReplySchema,
  agentsTagReplySchema,
  auditListReplySchema,
  auditRefusedReplySchema,
  auditVerifyReplySchema,
  backupRecordReplySchema,
  cmdbShowReplySchema,
  cmdbVersionsReplySchema,
  keysReloadReplySchema,
  notifyAddReplySchema,
  notifyListReplySchema,
  notifyRemoveReplySchema,
  notifyTestReplySchema,
  operatorAddReplySchema,
  operatorDocSchema,
  operatorListReplySchema,
  operatorRenewReplySchema,
  siteListReplySchema,
  siteSetReplySchema,
  siteRemoveReplySchema,
  tokenCreateReplySchema,
  uiLoginReplySchema,
} from './replies/admin.js';
import {
  dmlAddReplySchema,
  dmlAuthorizeReplySchema,
  dmlExportReplySchema,
  dmlListReplySchema,
  dmlRetireReplySchema,
  dmlShowReplySchema,
  releaseApproveReplySchema,
  releaseDocSchema,
  releaseListReplySchema,
  releaseShowReplySchema,
} from './replies/releases.js';
import { cmdbCloneReplySchema, rolloutListReplySchema, rolloutReviewSchema, rolloutStartReplySchema, rolloutStatusSchema, scheduleReplySchema } from './replies/rollouts.js';

export * from './replies/agents.js';
export * from './replies/admin.js';
export * from './replies/releases.js';
export * from './replies/rollouts.js';

export const apiReplySchemas = {
  'token.create': tokenCreateReplySchema,
  'token.list': tokenListReplySchema,
  'token.revoke': tokenInfoSchema,
  'dml.add': dmlAddReplySchema,
  'dml.list': dmlListReplySchema,
  'dml.show': dmlShowReplySchema,
  'dml.authorize': dmlAuthorizeReplySchema,
  'dml.export': dmlExportReplySchema,
  'dml.retire': dmlRetireReplySchema,
  'release.create': releaseDocSchema,
  'release.approve': releaseApproveReplySchema,
  'release.list': releaseListReplySchema,
  'release.show': releaseShowReplySchema,
  'rollout.start': rolloutStartReplySchema,
  'rollout.status': rolloutStatusSchema,
  'rollout.list': rolloutListReplySchema,
  'rollout.review': rolloutReviewSchema,
  'rollout.action': rolloutStatusSchema,
  'agents.list': agentsListReplySchema,
  'agents.revoke': agentsRevokeReplySchema,
  'agents.tag': agentsTagReplySchema,
  'agents.decommission': agentsDecommissionReplySchema,
  'keys.reload': keysReloadReplySchema,
  'cmdb.show': cmdbShowReplySchema,
  'fleet.status': fleetStatusReplySchema,
  'site.list': siteListReplySchema,
  'site.set': siteSetReplySchema,
  'site.remove': siteRemoveReplySchema,
  'agents.logs': agentLogsReplySchema,
  'cmdb.clone': cmdbCloneReplySchema,
  'cmdb.versions': cmdbVersionsReplySchema,
  'audit.list': auditListReplySchema,
  schedule: scheduleReplySchema,
  'notify.add': notifyAddReplySchema,
  'notify.list': notifyListReplySchema,
  'notify.remove': notifyRemoveReplySchema,
  'notify.test': notifyTestReplySchema,
  'operator.add': operatorAddReplySchema,
  'operator.list': operatorListReplySchema,
  'operator.revoke': operatorDocSchema,
  'operator.renew': operatorRenewReplySchema,
  'audit.verify': auditVerifyReplySchema,
  'audit.refused': auditRefusedReplySchema,
  'backup.record': backupRecordReplySchema,
  'ui.login': uiLoginReplySchema,
} as const satisfies { [V in ApiVerb]: z.ZodType };

/** What a verb's handler returns (the server builds this). */
export type ApiReplyIn<V extends ApiVerb> = z.input<(typeof apiReplySchemas)[V]>;
/** What the CLI gets for a verb once the reply is parsed. */
export type ApiReplyOf<V extends ApiVerb> = z.output<(typeof apiReplySchemas)[V]>;
