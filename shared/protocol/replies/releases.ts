// Reply documents of the release and DML verbs.
import * as z from 'zod';
import { manifestSchema } from '../../package/manifest.js';
import { signedTrustSchema } from '../../crypto/trust.js';
import { signedEnvelopeSchema } from '../messages.js';
import { riskAssessmentSchema } from './rollouts.js';

const str = z.string();
const int = z.number().int();
const riskLevel = z.enum(['low', 'medium', 'high']);

/** An approval as stored with a release (release.list, release.create). */
export const approvalSchema = z.object({ actor: str, at: str, comment: str.optional() });

/** A release: named DML packages that ship together, with its change record (release.list, release.create). */
export const releaseDocSchema = z.object({
  name: str,
  /** in install order: every package after the ones it depends on */
  packages: z.array(z.object({ name: str, version: str })),
  /** dependencies the release does not ship: targeted hosts must already have them */
  requires: z.array(z.object({ package: str, name: str, range: str })),
  rfc: str.optional(),
  owner: str.optional(),
  notes: str.optional(),
  /** the owner's risk level, replacing the computed one */
  riskOverride: riskLevel.optional(),
  rollbackPlan: str,
  approvals: z.array(approvalSchema),
  createdAt: str,
});
export type ReleaseDoc = z.infer<typeof releaseDocSchema>;
export const releaseListReplySchema = z.array(releaseDocSchema);

/** An approval and whether it counts toward four eyes (release.show, release.approve). */
export const approvalDocSchema = z.object({
  by: str,
  /** same as `by` (the field's name before four eyes) */
  actor: str,
  at: str,
  counts: z.boolean(),
  reason: str.optional(),
  comment: str.optional(),
  /**
   * the stored signature checked again now: valid (the approver's signed request, or the server's
   * seal over a console approval), invalid or none (neither counts)
   */
  signature: z.enum(['valid', 'invalid', 'none']),
  /** 'console': approved in the web console, sealed by the server for the signed-in operator */
  via: z.literal('console').optional(),
});
export type ApprovalDoc = z.infer<typeof approvalDocSchema>;

export const releaseApproveReplySchema = releaseDocSchema.extend({ approvals: z.array(approvalDocSchema) });

export const releaseShowReplySchema = releaseDocSchema.extend({
  approvals: z.array(approvalDocSchema),
  /** the webhooks that hear of this release's rollouts */
  notify: z.array(z.object({ id: str, url: str, events: z.array(str), scope: z.enum(['release', 'all']) })),
  risk: riskAssessmentSchema,
  /** each package's DML state now ('missing': no longer in the DML) */
  packageStates: z.array(z.object({ name: str, version: str, state: str })),
});
export type ReleaseShowReply = z.infer<typeof releaseShowReplySchema>;

export const packageStateSchema = z.enum(['draft', 'authorized', 'retired']);

/** One DML package version as dml.list describes it. */
export const dmlSummarySchema = z.object({ name: str, version: str, digest: str, size: z.number(), state: packageStateSchema, createdAt: str });
export type DmlSummary = z.infer<typeof dmlSummarySchema>;
export const dmlListReplySchema = z.array(dmlSummarySchema);

export const dmlAddReplySchema = dmlSummarySchema.extend({ added: z.boolean(), description: str.nullable(), files: int });

export const dmlShowReplySchema = dmlSummarySchema.extend({
  authorizedAt: str.nullable(),
  authorizedBy: str.nullable(),
  evidence: str.nullable(),
  retiredAt: str.nullable(),
  retiredBy: str.nullable(),
  retireReason: str.nullable(),
  depends: z.record(str, str),
  manifest: manifestSchema,
});
export type DmlShowReply = z.infer<typeof dmlShowReplySchema>;

export const dmlAuthorizeReplySchema = dmlSummarySchema.extend({
  authorizedAt: str.nullable(),
  authorizedBy: str.nullable(),
  evidence: str.nullable(),
  /** evidence that names a rollout: the hosts it installed the package on */
  evidenceHosts: int.optional(),
});

export const dmlRetireReplySchema = dmlSummarySchema.extend({ retiredAt: str.nullable(), retiredBy: str.nullable(), retireReason: str.nullable() });

/** What `ferry dml export` writes into an offline bundle, except the bytes (the CLI reads them from the DML's objects). */
export const dmlExportReplySchema = z.object({
  trust: signedTrustSchema,
  index: signedEnvelopeSchema,
  packages: z.array(z.object({ name: str, version: str, object: str, sha256: str, size: z.number(), record: signedEnvelopeSchema })),
});
export type DmlExportReply = z.infer<typeof dmlExportReplySchema>;
