// Both CLIs when the reader of their output goes away (`ferry agents list | head -1`, `| true`,
// `ferry logs HOST --follow | head`): the next write to stdout or stderr fails with EPIPE, and the
// command ends there, quietly, with exit status 141. Node ignores SIGPIPE (so it cannot die of it
// as C and Go programs do); 141 = 128 + SIGPIPE is the status the shell reports for them (`git log
// | true`, `kubectl get pods | true`, coreutils), so `$?`, PIPESTATUS and `set -o pipefail` see
// ferry as they see those. Unhandled, the EPIPE was an 'error' event: a stack trace and exit 1.
// A loop (--follow, --watch) ends at its next write. Daemons (`ferry server`, `ferry-agent run`)
// keep running: a reader of their ready line that left stops nothing.

/** The exit status of a command whose output nobody reads any more: 128 + SIGPIPE (13). */
export const BROKEN_PIPE_EXIT_CODE = 141;

let daemon = false;
let installed = false;

/** Listen for write errors on stdout and stderr (once per process); see above. */
export function endOnBrokenPipe(): void {
  if (installed) return;
  installed = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (daemon) return;
      if (err.code === 'EPIPE') process.exit(BROKEN_PIPE_EXIT_CODE);
      // Another failure (EIO, ENOSPC of a file stdout was redirected to): said on stderr if it
      // can be, exit 1 (an 'error' event nobody handles would print a stack trace).
      if (stream === process.stdout) process.stderr.write(`FERRY_INTERNAL: cannot write the output: ${err.message}\n`);
      process.exit(1);
    });
  }
}

/** This process is a daemon: stdout or stderr failing does not end it (its logs are pino's, on fd 2 itself). */
export function keepRunningOnBrokenPipe(): void {
  daemon = true;
  endOnBrokenPipe();
}
