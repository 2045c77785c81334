// The states a host goes through in a rollout, without zod: modules that only need the names
// (the agent's probation file, which `ferry-agent supervise` and every CLI entry load) do not
// load every message schema with them. shared/protocol/messages.ts builds its schema from these.

export const HOST_STATES = ['pending', 'sent', 'downloading', 'installing', 'verifying', 'succeeded', 'failed', 'rolled-back', 'skipped'] as const;
export type HostState = (typeof HOST_STATES)[number];
export const TERMINAL_HOST_STATES: readonly HostState[] = ['succeeded', 'failed', 'rolled-back', 'skipped'];
