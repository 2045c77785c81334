// Production code carries no switch for tests: crashes and shifted clocks come in through the
// harness entry points (test/helpers/*-agent.mjs → main(argv, harness)), never through an
// environment variable a shipped agent or server would read.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/fleet.js';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.(ts|js|mjs)$/.test(name) && !/\.test\./.test(name) ? [path] : [];
  });
}

describe('production sources', () => {
  it('read no FERRY_TEST_* or FERRY_HARNESS_* variable', () => {
    const files = ['agent', 'server', 'shared', 'packaging', 'bin'].flatMap((d) => {
      try {
        return sources(join(REPO_ROOT, d));
      } catch {
        return [];
      }
    });
    expect(files.length).toBeGreaterThan(50);
    const offenders = files.filter((f) => /FERRY_(TEST|HARNESS)_/.test(readFileSync(f, 'utf8'))).map((f) => relative(REPO_ROOT, f));
    expect(offenders).toEqual([]);
  });
});
