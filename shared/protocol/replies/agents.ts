// Reply documents of the agent verbs (agents.list, agents.logs, fleet.status) and join tokens.
import * as z from 'zod';

/** One agent as `agents.list` (and the head of `cmdb.show`) describes it. */
export const agentDocSchema = z.object({
  id: z.string(),
  hostname: z.string(),
  online: z.boolean(),
  lastSeen: z.string().nullable(),
  tags: z.record(z.string(), z.string()),
  os: z.string().nullable(),
  arch: z.string().nullable(),
  /** package → installed version */
  installed: z.record(z.string(), z.string()),
  state: z.enum(['active', 'revoked', 'decommissioned']),
  decommissionedAt: z.string().optional(),
});
export type AgentDoc = z.infer<typeof agentDocSchema>;
export const agentsListReplySchema = z.array(agentDocSchema);
export type AgentsListReply = z.infer<typeof agentsListReplySchema>;

/** A join token as `token.list` and `token.revoke` describe it (never its secret). */
export const tokenInfoSchema = z.object({
  id: z.string(),
  tags: z.record(z.string(), z.string()),
  createdAt: z.string(),
  expiresAt: z.string(),
  usesLeft: z.number().int(),
  state: z.enum(['active', 'expired', 'used-up', 'revoked']),
  revokedAt: z.string().optional(),
});
export type TokenInfo = z.infer<typeof tokenInfoSchema>;
export const tokenListReplySchema = z.array(tokenInfoSchema);

export const fleetStatusReplySchema = z.object({
  hosts: z.object({
    total: z.number().int(),
    online: z.number().int(),
    offline: z.number().int(),
    /** hosts whose latest install, removal or rollback failed */
    failing: z.number().int(),
    /** hosts with files that differ from their package's manifest */
    drifted: z.number().int(),
  }),
  /** the hosts behind the failing and drifted counts (hostname and agent id), at most 20 each */
  failing: z.array(z.object({ id: z.string(), hostname: z.string(), detail: z.string().nullable() })),
  drifted: z.array(z.object({ id: z.string(), hostname: z.string(), packages: z.array(z.string()) })),
  offline: z.array(z.object({ id: z.string(), hostname: z.string(), lastSeen: z.string().nullable() })),
  /** rollouts that have not ended: planned, waiting, running, paused, rolling-back, and halted ones still open */
  rollouts: z.array(
    z.object({
      id: z.string(),
      release: z.string(),
      state: z.string(),
      hosts: z.number().int(),
      counts: z.record(z.string(), z.number()),
      /** what happens next and when (ISO time), e.g. "wave 2 starts" at the end of a soak */
      next: z.object({ event: z.string(), at: z.string().nullable() }).nullable(),
    }),
  ),
});
export type FleetStatusReply = z.infer<typeof fleetStatusReplySchema>;

/** A host named by a hostname that several agents share: the CLI refuses it and lists them. */
export const ambiguousHostDetailsSchema = z.object({ host: z.string(), candidates: z.array(z.object({ id: z.string(), hostname: z.string(), state: z.string(), lastSeen: z.string().nullable() })) });

/** `agents.logs`: one host's operations with the output of their hooks, oldest first. */
export const agentLogsReplySchema = z.object({
  agent: z.object({ id: z.string(), hostname: z.string() }),
  entries: z.array(
    z.object({
      /** increasing: --follow asks for entries after the last one it printed */
      id: z.number().int(),
      at: z.string(),
      kind: z.string(),
      package: z.string().nullable(),
      version: z.string().nullable(),
      fromVersion: z.string().nullable(),
      operation: z.string().nullable(),
      result: z.string().nullable(),
      detail: z.string().nullable(),
      /** every hook's stdout/stderr, each under a "[hook] exit N" line; null when no hook ran */
      output: z.string().nullable(),
    }),
  ),
});
export type AgentLogsReply = z.infer<typeof agentLogsReplySchema>;
