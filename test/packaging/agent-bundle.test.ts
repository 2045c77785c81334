// What each agent command loads before it does anything, read from esbuild's metafile of the
// agent bundle (packaging/bundle.ts): the output files a command's modules import statically,
// transitively. The idle daemon (`run`) must not carry the install path, node-tar, the
// inventory's systeminformation or yargs — each is loaded with `import()` when first used — and
// Ferry's own code does not use tweetnacl (signatures and keys are node:crypto's). Bundles the
// compiled dist/ (npm run build first).
import type { Metafile } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleAgent, staticClosure, type StaticClosure } from '../../packaging/bundle.js';
import { REPO_ROOT, tempDir } from '../helpers/fleet.js';

let meta: Metafile;

beforeAll(() => {
  meta = bundleAgent(REPO_ROOT, tempDir('ferry-agent-bundle-'), '0.0.0-test');
});

/** The modules `ferry-agent run` loads: the CLI, then what runAgent imports at once (agent/cli/main.ts). */
const RUN = ['dist/agent/cli/main.js', 'dist/agent/runtime.js', 'dist/agent/inventory/child.js'];
const SUPERVISE = ['dist/agent/cli/main.js', 'dist/agent/service/supervisor.js'];

/** The sources of a closure that match, as `package` or `dist/…` (one entry each). */
function matching(c: StaticClosure, pattern: RegExp): string[] {
  const names = c.inputs.filter((i) => pattern.test(i)).map((i) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(i)?.[1] ?? i.slice(i.indexOf('dist/')));
  return [...new Set(names)].sort();
}

/** Who, among a closure's sources, imports a source that matches (as `package` or `dist/…`). */
function importersOf(c: StaticClosure, pattern: RegExp): string[] {
  const inClosure = new Set(c.inputs);
  const importers = Object.entries(meta.inputs)
    .filter(([path, input]) => inClosure.has(path) && !pattern.test(path) && input.imports.some((i) => pattern.test(i.path)))
    .map(([path]) => path);
  return matching({ ...c, inputs: importers }, /./);
}

describe('the agent bundle', () => {
  it('ferry-agent run loads no install, archive, inventory or CLI-parsing code until it needs it', () => {
    const run = staticClosure(meta, RUN);
    expect(matching(run, /dist\/agent\/runtime\.js$/)).toEqual(['dist/agent/runtime.js']); // the closure is the daemon's
    expect(matching(run, /node_modules\/(tar|systeminformation|yargs)\//)).toEqual([]);
    // tweetnacl comes only with the NATS client: @nats-io/nkeys requires it when it loads (and the
    // agent never calls it: shared/nats/nkey-auth.ts signs natively); ~0.1 MiB of heap, measured.
    expect(importersOf(run, /node_modules\/tweetnacl\//)).toEqual(['@nats-io/nkeys']);
    // the install machine and what only an install, a revert or a soak uses
    expect(matching(run, /dist\/(agent\/install\/(machine|hooks|delta|delta-prepare|full-package|release-undo)|agent\/apply\/release|agent\/control\/rollback|shared\/package\/(build|extract|read))\.js$/)).toEqual([]);
  });

  it('ferry-agent supervise loads neither the message schemas nor the journal', () => {
    const supervise = staticClosure(meta, SUPERVISE);
    expect(matching(supervise, /dist\/agent\/service\/supervisor\.js$/)).toEqual(['dist/agent/service/supervisor.js']);
    expect(matching(supervise, /dist\/(shared\/protocol\/messages|agent\/install\/(journal|drift|machine))\.js$/)).toEqual([]);
    expect(supervise.external).not.toContain('better-sqlite3');
  });

  it('ferry-agent --version loads neither the message schemas nor yargs', () => {
    const version = staticClosure(meta, ['dist/agent/cli/main.js']);
    expect(matching(version, /dist\/shared\/protocol\/messages\.js$|node_modules\/(yargs|tar|tweetnacl)\//)).toEqual([]);
  });

  it('names a module that is not loaded lazily', () => {
    expect(() => staticClosure(meta, ['dist/agent/no-such-module.js'])).toThrow(/not an entry point/);
  });
});
