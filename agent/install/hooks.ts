// Runs a package's lifecycle hooks: a path inside the version directory, run there with the
// FERRY_* environment, a timeout, and output captured up to a cap (its end) for the report.
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import type { Manifest } from '../../shared/package/mod.js';

export type HookName = 'preinstall' | 'postinstall' | 'healthcheck' | 'rollback' | 'preremove' | 'postremove';

export interface HookResult {
  ran: boolean;
  ok: boolean;
  code: number | null;
  timedOut: boolean;
  output: string;
}

export interface HookContext {
  manifest: Manifest;
  /** the version directory the hook belongs to (its working directory) */
  dir: string;
  previousVersion: string | null;
  installRoot: string;
}

export const OUTPUT_CAP = 16 * 1024;
const DEFAULT_TIMEOUT_S = 60;

export async function runHook(name: HookName, ctx: HookContext): Promise<HookResult> {
  const rel = (ctx.manifest.hooks as Partial<Record<HookName, string>> | undefined)?.[name];
  if (!rel) return { ran: false, ok: true, code: 0, timedOut: false, output: '' };
  const path = resolve(ctx.dir, rel);
  // The manifest was validated, but the hook must still resolve inside the version directory.
  if (!path.startsWith(resolve(ctx.dir) + sep) || !existsSync(path)) {
    return { ran: true, ok: false, code: null, timedOut: false, output: `hook ${name}: ${rel} is missing from the package` };
  }
  const executable = isExecutable(path);
  const timeoutMs = (ctx.manifest.hookTimeoutSeconds ?? DEFAULT_TIMEOUT_S) * 1000;
  const env = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: process.env.HOME ?? '/',
    LANG: process.env.LANG ?? 'C.UTF-8',
    FERRY_PACKAGE: ctx.manifest.name,
    FERRY_VERSION: ctx.manifest.version,
    FERRY_PREVIOUS_VERSION: ctx.previousVersion ?? '',
    FERRY_INSTALL_DIR: ctx.dir,
    FERRY_ROOT: ctx.installRoot,
    FERRY_HOOK: name,
  };
  return new Promise((done) => {
    const child = spawn(executable ? path : '/bin/sh', executable ? [] : [path], { cwd: ctx.dir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    let timedOut = false;
    // The newest output is kept: a failing hook says why at the end.
    const capture = (d: Buffer) => {
      output = (output + d.toString('utf8')).slice(-OUTPUT_CAP);
    };
    child.stdout.on('data', capture);
    child.stderr.on('data', capture);
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      done({ ran: true, ok: false, code: null, timedOut: false, output: `hook ${name} could not start: ${err.message}` });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const note = timedOut ? `\n[hook ${name} killed after ${timeoutMs / 1000}s]` : '';
      done({ ran: true, ok: code === 0 && !timedOut, code, timedOut, output: output + note });
    });
  });
}

/** Run the health check with retries: healthy as soon as one attempt passes. */
export async function runHealthcheck(ctx: HookContext): Promise<HookResult> {
  const retries = ctx.manifest.healthcheck?.retries ?? 3;
  const intervalMs = (ctx.manifest.healthcheck?.intervalSeconds ?? 1) * 1000;
  let last = await runHook('healthcheck', ctx);
  for (let i = 1; i < retries && last.ran && !last.ok; i++) {
    await new Promise((r) => setTimeout(r, intervalMs));
    last = await runHook('healthcheck', ctx);
  }
  return last;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function killGroup(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGKILL'); // the hook and anything it started
  } catch {
    // already gone
  }
}

