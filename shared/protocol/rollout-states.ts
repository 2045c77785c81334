// The states of a rollout and of its waves, without zod: the CLI's rollout commands need the
// names before (or without) the API's schemas, which load when a command talks to the server
// (server/cli/with-client.ts). ./api.ts exports them with the rest of the API.

export const ROLLOUT_STATES = ['planned', 'waiting', 'running', 'paused', 'halted', 'rolling-back', 'completed', 'aborted', 'rolled-back'] as const;
export type RolloutState = (typeof ROLLOUT_STATES)[number];
export const TERMINAL_ROLLOUT_STATES: readonly RolloutState[] = ['completed', 'aborted', 'rolled-back', 'halted'];
export const WAVE_STATES = ['pending', 'running', 'soaking', 'completed', 'failed', 'aborted'] as const;
export type WaveState = (typeof WAVE_STATES)[number];
