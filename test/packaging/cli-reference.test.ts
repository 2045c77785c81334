// The README's CLI reference and the man pages shipped in the .debs are generated from the yargs
// definitions (scripts/cli-reference.ts). This keeps them from drifting: a changed command, flag,
// description or example that was not regenerated fails here, with the command that fixes it.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/fleet.js';

describe('the CLI reference', () => {
  // Upper bound, not a wait: it runs every command's --help of both programs (about a hundred
  // node processes), which takes minutes beside CI's CPU hog.
  it('README.md and packaging/man/*.1 match every --help of the built ferry and ferry-agent', async () => {
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(process.execPath, [join(REPO_ROOT, 'dist', 'scripts', 'cli-reference.js'), '--check'], { cwd: REPO_ROOT, encoding: 'utf8' }, (err, _stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr });
      });
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  }, 900_000);
});
