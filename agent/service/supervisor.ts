// `ferry-agent supervise` (the service's ExecStart): runs `ferry-agent run` from
// <install-root>/ferry-agent/<version> when Ferry has installed an agent there (`current`), else
// the packaged agent it was itself started from. It is the part that stays put across self-updates:
//   - the agent exits with SELF_UPDATE_EXIT_CODE after activating a new agent version → start again;
//   - a version on probation that exits, or has not confirmed within selfUpdateTimeoutMs → switch
//     `current` back to the previous version, mark the probation rolled back, start that version
//     (which tells the journal and the rollout);
//   - any other exit ends the supervisor with the agent's exit code (systemd restarts on failure).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { DECOMMISSIONED_FILE } from '../config.js';
import { readCurrent, removeCurrent, switchCurrent, versionDir } from '../install/layout.js';
import { AGENT_PACKAGE, SELF_UPDATE_EXIT_CODE, readProbation, writeProbation, type Probation } from './probation.js';

export interface SupervisorOptions {
  stateDir: string;
  installRoot: string;
  /** node and script of the agent this supervisor was started from (the packaged one) */
  packaged: { node: string; script: string };
  /** arguments passed on to `run` (e.g. --state-dir, --config) */
  runArgs: string[];
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
      log.info({ version: target.version ?? 'packaged', probation: probation?.state }, 'starting the agent');
      // An agent bundle carries its own Node runtime (bin/node beside the script): each version
      // runs with its own, and with the V8 flags this supervisor was started with (the launcher's).
      const ownNode = join(dirname(target.script), 'node');
      const node = target.version !== null && existsSync(ownNode) ? ownNode : o.packaged.node;
      child = spawn(node, [...process.execArgv, target.script, 'run', ...o.runArgs], {
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
        returnToPrevious(o, after, `ferry-agent ${after.version} ${why}; returned to ${after.previous ?? 'the packaged agent'}`);
        log.error({ version: after.version, previous: after.previous ?? 'packaged' }, `new agent version ${why}; returned to the previous version`);
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

/** `current` back to the previous version (or none: the packaged agent), then say so for the agent. */
function returnToPrevious(o: SupervisorOptions, p: Probation, reason: string): void {
  if (p.previous && existsSync(versionDir(o.installRoot, AGENT_PACKAGE, p.previous))) switchCurrent(o.installRoot, AGENT_PACKAGE, p.previous);
  else removeCurrent(o.installRoot, AGENT_PACKAGE);
  writeProbation(o.stateDir, { ...p, state: 'rolled-back', reason });
}
