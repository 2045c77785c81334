// The probation file (<state-dir>/self-update.json) that the agent and its supervisor share while
// a new agent version proves itself:
//   pending      written by the agent that installed a new `ferry-agent` version, just before it
//                exits with SELF_UPDATE_EXIT_CODE; holds that install's final report
//   rolled-back  written by the supervisor after the new version crashed or did not confirm in time,
//                once `current` points at the previous version again
// The new version deletes a pending file once it has sent the held report (it is healthy); the
// restored version deletes a rolled-back file once the journal and the server know.
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';
import { HOST_STATES } from '../../shared/protocol/host-states.js';

/** The agent's exit code after it activated a new agent version: "start me again, from current". */
export const SELF_UPDATE_EXIT_CODE = 75;
/** The package name under which Ferry ships the agent itself. */
export const AGENT_PACKAGE = 'ferry-agent';

export const probationSchema = z.object({
  format: z.literal(1),
  state: z.enum(['pending', 'rolled-back']),
  /** the agent version on probation */
  version: z.string(),
  /** the version to return to; null: the agent the host was installed with (no `current`) */
  previous: z.string().nullable(),
  operation: z.string(),
  /** the install's final report, sent by the new version once it runs */
  report: z.object({ operation: z.string(), state: z.enum(HOST_STATES), package: z.string(), version: z.string(), step: z.string(), previousVersion: z.string().optional(), error: z.string().optional(), output: z.string().optional(), changed: z.array(z.object({ package: z.string(), version: z.string(), previousVersion: z.string().optional(), step: z.string() })).optional() }),
  since: z.string(),
  reason: z.string().optional(),
});
export type Probation = z.infer<typeof probationSchema>;

export function probationFile(stateDir: string): string {
  return join(stateDir, 'self-update.json');
}

export function readProbation(stateDir: string): Probation | undefined {
  const file = probationFile(stateDir);
  if (!existsSync(file)) return undefined;
  return probationSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
}

/** Written whole and renamed into place, so a reader never sees half a file. */
export function writeProbation(stateDir: string, p: Probation): void {
  const file = probationFile(stateDir);
  writeFileSync(`${file}.tmp`, JSON.stringify(p, null, 2));
  renameSync(`${file}.tmp`, file);
}

export function clearProbation(stateDir: string): void {
  rmSync(probationFile(stateDir), { force: true });
}
