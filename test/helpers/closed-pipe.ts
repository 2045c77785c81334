// A CLI whose stdout is a pipe nobody reads any more (`ferry agents list | head -1` once head has
// gone). Deterministic, however busy the machine: the command waits in `sh` (reading a line from
// stdin) until the test has closed the pipe's only read end, and only then starts.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { FAST_ENV, REPO_ROOT } from './fleet.js';

export interface ClosedPipeResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** `node bin/PROGRAM.js ARGS` with its stdout a pipe already closed at the other end. */
export function runIntoClosedPipe(program: 'ferry' | 'ferry-agent', args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<ClosedPipeResult> {
  const bin = join(REPO_ROOT, 'bin', `${program}.js`);
  const child = spawn('sh', ['-c', 'read go && exec "$@"', 'sh', process.execPath, bin, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...FAST_ENV, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdout.destroy(); // the reader is gone before the command writes anything
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  child.stdin.end('go\n');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${program} ${args.join(' ')} into a closed pipe: still running after ${timeoutMs} ms\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}
