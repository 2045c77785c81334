// `ferry-agent supervise` (the service's ExecStart): runs `ferry-agent run` from
// <install-root>/ferry-agent/<version> when Ferry has installed an agent there (`current`), else
// the packaged agent it was itself started from. It is the part that stays put across self-updates:
//   - the agent exits with SELF_UPDATE_EXIT_CODE after activating a new agent version → start again;
//   - a version on probation that exits, or has not confirmed within selfUpdateTimeoutMs → switch
//     `current` back to the previous version — only if its files still match the manifest the
//     journal kept for it, else to the packaged agent —, mark the probation rolled back, start that
//     version (which tells the journal and the rollout);
//   - a version that failed its probation is never started again while that probation is open
//     (a return the agent could not complete, or a crash in between, left `current` on it); a
//     return this supervisor was stopped in the middle of is finished when it starts again.
//   - any other exit ends the supervisor with the agent's exit code (systemd restarts on failure).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { DECOMMISSIONED_FILE, agentPaths } from '../config.js';
import { readCurrent, removeCurrent, switchCurrent, versionDir, versionExists } from '../install/layout.js';
import { AGENT_NODE_FLAGS } from './node-flags.js';
import { AGENT_PACKAGE, SELF_UPDATE_EXIT_CODE, readProbation, writeProbation, type Probation } from './probation.js';

export interface SupervisorOptions {
  stateDir: string;
  installRoot: string;
  /** node and script of the agent this supervisor was started from (the packaged one) */
  packaged: { node: string; script: string };
  /** arguments passed on to `run` (e.g. --state-dir, --config) */
  runArgs: string[];
  /** node's flags for `run` (default AGENT_NODE_FLAGS: not this process's own, which are lighter) */
  runNodeArgs?: readonly string[];
  timeoutMs: number;
  log: Logger;
  /** grace period between SIGTERM and SIGKILL for an agent that overstays its probation */
  killGraceMs?: number;
}

interface Target {
  version: string | null;
  script: string;
}

/** The installed agent version in `current`, if its entry point is there; else the packaged agent. */
export function agentTarget(installRoot: string, packagedScript: string): Target {
  const version = readCurrent(installRoot, AGENT_PACKAGE);
  if (version) {
    const script = join(versionDir(installRoot, AGENT_PACKAGE, version), 'bin', 'ferry-agent.js');
    if (existsSync(script)) return { version, script };
  }
  return { version: null, script: packagedScript };
}

export async function supervise(o: SupervisorOptions): Promise<number> {
  const log = o.log.child({ module: 'supervisor' });
  let stopping = false;
  let child: ChildProcess | undefined;
  const forward = (sig: NodeJS.Signals) => () => {
    stopping = true;
    child?.kill(sig);
  };
  const onTerm = forward('SIGTERM');
  const onInt = forward('SIGINT');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  try {
    for (;;) {
      const probation = readProbation(o.stateDir);
      const target = agentTarget(o.installRoot, o.packaged.script);
      if (probation?.state === 'pending' && target.version !== probation.version) {
        // The agent writes a pending probation only once `current` is the new version: `current`
        // elsewhere means this supervisor was stopped while returning from it. Finish that return
        // (with the check) instead of putting the version returned to on probation in its place.
        const to = await returnToPrevious(o, { ...probation, reason: `ferry-agent ${probation.version} did not confirm before the supervisor stopped while returning from it` }, log);
        log.error({ version: probation.version, restored: to ?? 'packaged' }, 'finishing an interrupted return from a new agent version');
        continue;
      }
      if (probation?.state === 'rolled-back' && target.version === probation.version) {
        // The return did not stick (the agent could not activate the previous version, or it was
        // killed in between): the version that failed its probation is not run again.
        const to = await returnToPrevious(o, probation, log);
        log.error({ version: probation.version, restored: to ?? 'packaged' }, `ferry-agent ${probation.version} failed its probation but is current again; not running it`);
        continue;
      }
      log.info({ version: target.version ?? 'packaged', probation: probation?.state }, 'starting the agent');
      // An agent bundle carries its own Node runtime (bin/node beside the script): each version
      // runs with its own, and with the agent's V8 flags (the supervisor runs with lighter ones).
      const ownNode = join(dirname(target.script), 'node');
      const node = target.version !== null && existsSync(ownNode) ? ownNode : o.packaged.node;
      child = spawn(node, [...(o.runNodeArgs ?? AGENT_NODE_FLAGS), target.script, 'run', ...o.runArgs], {
        stdio: 'inherit',
        env: { ...process.env, FERRY_SUPERVISED: '1', FERRY_AGENT_VERSION: target.version ?? '' },
      });
      let overstayed = false;
      const running = child;
      let killTimer: NodeJS.Timeout | undefined;
      const timer =
        probation?.state === 'pending'
          ? setTimeout(() => {
              if (readProbation(o.stateDir)?.state !== 'pending') return;
              overstayed = true;
              log.warn({ version: probation.version, timeoutMs: o.timeoutMs }, 'the new agent version did not report back healthy in time; stopping it');
              running.kill('SIGTERM');
              // Only this child: once it exited, the version started next must not be killed.
              killTimer = setTimeout(() => running.exitCode === null && running.signalCode === null && running.kill('SIGKILL'), o.killGraceMs ?? 10_000);
              killTimer.unref();
            }, o.timeoutMs)
          : undefined;
      const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
        child!.once('error', (err) => {
          log.error({ err: err.message }, 'cannot start the agent');
          resolve({ code: 1, signal: null });
        });
        child!.once('exit', (code, signal) => resolve({ code, signal }));
      });
      clearTimeout(timer);
      clearTimeout(killTimer);
      if (stopping) return exit.code ?? 0;
      if (exit.code === SELF_UPDATE_EXIT_CODE) {
        log.info('the agent activated a new agent version; restarting into it');
        continue;
      }
      // Decommissioned (also while a new version was on probation): stop for good, not return.
      if (existsSync(join(o.stateDir, DECOMMISSIONED_FILE))) {
        log.warn('this agent was decommissioned; the supervisor stops');
        return 0;
      }
      const after = readProbation(o.stateDir);
      if (after?.state === 'pending') {
        const why = overstayed ? `did not report back healthy within ${Math.round(o.timeoutMs / 1000)}s` : `exited (${exit.code ?? exit.signal}) before reporting back healthy`;
        const to = await returnToPrevious(o, { ...after, reason: `ferry-agent ${after.version} ${why}` }, log);
        log.error({ version: after.version, previous: after.previous ?? 'packaged', restored: to ?? 'packaged' }, `new agent version ${why}; returned to ${to ? 'the previous version' : 'the packaged agent'}`);
        continue;
      }
      log.warn({ code: exit.code, signal: exit.signal }, 'the agent exited');
      return exit.code ?? 1;
    }
  } finally {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
  }
}

/**
 * `current` back to the previous version if its files match the manifest the journal kept for it,
 * else to none (the packaged agent); then say so for the agent in the probation file. `p.reason`
 * is why the version on probation failed; what was returned to is added to it (once).
 * Returns the version now current (undefined: the packaged agent).
 */
async function returnToPrevious(o: SupervisorOptions, p: Probation, log: Logger): Promise<string | undefined> {
  const why = (p.reason ?? `ferry-agent ${p.version} did not report back healthy`).replace(/; returned to .*$/, '');
  const problem = p.previous ? await keptProblem(o, p.previous) : undefined;
  let to: string | undefined;
  let reason: string;
  if (p.previous && !problem) {
    switchCurrent(o.installRoot, AGENT_PACKAGE, p.previous);
    to = p.previous;
    reason = `${why}; returned to ${p.previous}`;
  } else {
    removeCurrent(o.installRoot, AGENT_PACKAGE);
    if (problem) log.error({ version: p.previous, problem }, `not returning to ferry-agent ${p.previous}: ${problem}; running the packaged agent`);
    reason = problem ? `${why}; not returned to ${p.previous} (${problem}); returned to the packaged agent` : `${why}; returned to the packaged agent`;
  }
  writeProbation(o.stateDir, { ...p, state: 'rolled-back', reason });
  return to;
}

/**
 * Why a kept agent version must not be started (undefined: it may): not on disk, no manifest kept
 * in the journal, or files that differ from it — the check `ferry-agent verify` and a rollback's
 * revert-verify make (checkDrift).
 */
async function keptProblem(o: SupervisorOptions, version: string): Promise<string | undefined> {
  if (!versionExists(o.installRoot, AGENT_PACKAGE, version)) return `ferry-agent ${version} is no longer on disk`;
  const file = agentPaths(o.stateDir).journal;
  let manifest;
  if (existsSync(file)) {
    // The agent has exited: the supervisor is the only one using the journal now. Loaded here,
    // not at start: the supervisor otherwise never opens the journal (nor loads SQLite).
    try {
      const { Journal } = await import('../install/journal.js');
      const journal = new Journal(file);
      try {
        manifest = journal.versions(AGENT_PACKAGE).find((v) => v.version === version)?.manifest;
      } finally {
        journal.close();
      }
    } catch (err) {
      return `the journal cannot be read to check ferry-agent ${version} (${String((err as Error).message ?? err).split('\n')[0]})`;
    }
  }
  if (!manifest) return `ferry-agent ${version} has no manifest in the journal to check it against`;
  const { checkDrift, describeDrift } = await import('../install/drift.js');
  const drift = await checkDrift(o.installRoot, { name: AGENT_PACKAGE, version, manifest });
  if (drift.modified.length || drift.missing.length) return `ferry-agent ${version} kept on this host does not match its manifest (${describeDrift(drift)})`;
  return undefined;
}
