// Stages a self-contained bundle of one Ferry program.
//
// The agent (what runs on every host) carries everything but glibc and the C++ runtime:
//   bin/ferry-agent            POSIX sh launcher: runs bin/node with the agent's V8 flags
//   bin/node                   the Node runtime of the build machine (process.execPath)
//   bin/ferry-agent.js         the entry the supervisor and the launcher run (as in the repository)
//   dist/agent/cli/main.js     the compiled agent bundled by esbuild into one module …
//   dist/chunks/*.js           … plus the chunks it loads lazily (inventory, archives, install, hooks)
//   node_modules/better-sqlite3 (lib/ and build/Release/better_sqlite3.node) and its loader, bindings
//   package.json               type: module
// The server runs on the system's node: bin/ferry (POSIX sh launcher), bin/ferry.js, the CLI
// bundle of the checkout (dist/bundle/, ./cli-bundle.ts; no dist/server, so bin/ferry.js always
// takes the bundle), the production node_modules (better-sqlite3, yargs' translations), package.json.
// better-sqlite3 and node are native, so a bundle runs on this platform and architecture only.
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync, type Metafile } from 'esbuild';
import { runtimeNeeds, type RuntimeNeeds } from './elf.js';
import { AGENT_NODE_FLAGS, SUPERVISOR_NODE_FLAGS } from '../agent/service/node-flags.js';
import { CLI_BUNDLE_DIR, NODE_ESM_BUNDLE } from './cli-bundle.js';

/** The checkout this module was compiled from (dist/packaging/ → ../..). */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export type Program = 'agent' | 'server';

interface ProgramSpec {
  /** the bundle's package name and command */
  command: string;
  /** what must be built under dist/ (npm run build) */
  dist: string[];
  /** the repository's bin/ entry the launcher runs */
  entry: string;
}

export const PROGRAMS: Record<Program, ProgramSpec> = {
  agent: { command: 'ferry-agent', dist: ['agent', 'shared'], entry: 'ferry-agent.js' },
  server: { command: 'ferry', dist: ['server', 'bundle'], entry: 'ferry.js' },
};

export function projectVersion(): string {
  return (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Production packages from package-lock.json that are present on disk (other platforms' optionals are not). */
export function productionPackages(root = repoRoot): string[] {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; devOptional?: boolean }> };
  return Object.entries(lock.packages)
    .filter(([path, meta]) => path.startsWith('node_modules/') && !meta.dev && !meta.devOptional)
    .map(([path]) => path)
    .filter((path) => existsSync(join(root, path, 'package.json')));
}

/** Files a running program never needs: build intermediates and sources of native modules. */
function keep(name: string, inner: string): boolean {
  if (inner === '') return true;
  const parts = inner.split(sep);
  if (parts[0] === 'node_modules' || parts.includes('.bin')) return false; // nested packages are copied on their own
  const base = parts[parts.length - 1]!;
  // Type declarations, TypeScript sources, source maps and docs: half the bytes, never loaded.
  if (/^(LICEN[CS]E|COPYING)/i.test(base)) return true;
  if (/\.(d\.[cm]?ts|[cm]?ts|map|md|markdown)$/i.test(base)) return false;
  if (name !== 'better-sqlite3') return true;
  return ['package.json', 'LICENSE', 'lib', 'build', join('build', 'Release'), join('build', 'Release', 'better_sqlite3.node')].includes(inner) || parts[0] === 'lib';
}

function copyModule(root: string, path: string, dest: string): void {
  const from = join(root, path);
  const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
  cpSync(from, join(dest, path), { recursive: true, filter: (src) => keep(name, relative(from, src)) });
}

export interface StagedBundle {
  dir: string;
  version: string;
  command: string;
  /** what the bundle needs from the host (the agent bundle: it carries its own Node runtime) */
  needs?: RuntimeNeeds;
}

/**
 * V8 flags the agent's launcher runs it with (agent/service/node-flags.ts): AGENT_NODE_FLAGS for
 * every command, SUPERVISOR_NODE_FLAGS (no JIT) for `supervise`, which starts `run` with
 * AGENT_NODE_FLAGS itself. Measured in the fetch, footprint and agent benchmarks.
 */
export { AGENT_NODE_FLAGS, SUPERVISOR_NODE_FLAGS } from '../agent/service/node-flags.js';

/**
 * glibc malloc settings the launcher exports (unless already set). Node allocates every 1 MiB
 * download chunk with malloc; with glibc's default, freeing one raises the mmap threshold, later
 * chunks come from the heap and their pages stay resident after they are freed. A fixed
 * threshold returns them to the kernel at once, and two arenas keep the thread pool from growing
 * one each. Measured in the footprint benchmark: ~20 MiB less peak RSS while installing.
 * `ferry-agent run` removes them from its environment again, so hooks do not inherit them.
 */
export const AGENT_MALLOC_ENV: Readonly<Record<string, string>> = Object.freeze({ MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' });

/** Production packages the agent bundle ships unbundled: the native module and its loader. */
const AGENT_NATIVE_PACKAGES = ['node_modules/better-sqlite3', 'node_modules/bindings', 'node_modules/file-uri-to-path'];

/**
 * Stage `<dir>/`. The checkout must be built (dist/) and installed (node_modules/).
 * Agent and server: see the top of this file.
 */
export function stageBundle(program: Program, dir: string, version = projectVersion(), root = repoRoot): StagedBundle {
  const spec = PROGRAMS[program];
  for (const d of spec.dist) {
    if (!existsSync(join(root, 'dist', d))) throw new Error(`dist/${d} is missing: run npm run build first`);
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'bin'), { recursive: true });
  let needs: RuntimeNeeds | undefined;
  if (program === 'agent') {
    bundleAgent(root, dir, version);
    for (const path of AGENT_NATIVE_PACKAGES) copyModule(root, path, dir);
    const node = join(dir, 'bin', 'node');
    copyFileSync(process.execPath, node);
    chmodSync(node, 0o755);
    needs = runtimeNeeds([node, join(dir, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node')]);
    writeFileSync(join(dir, 'bin', spec.command), agentLauncher(spec.entry));
  } else {
    // The checkout's CLI bundle (npm run build), which bin/ferry.js runs when there is no dist/server.
    const bundle = join(root, CLI_BUNDLE_DIR);
    if (statSync(join(bundle, 'ferry.js')).mtimeMs < statSync(join(root, 'dist', 'server', 'cli', 'main.js')).mtimeMs) {
      throw new Error(`${CLI_BUNDLE_DIR} is older than dist/server (tsc ran without the bundle): run npm run build first`);
    }
    cpSync(bundle, join(dir, CLI_BUNDLE_DIR), { recursive: true });
    // yargs' translations and better-sqlite3 are read from here; the rest is in the bundle too.
    for (const path of productionPackages(root)) copyModule(root, path, dir);
    writeFileSync(join(dir, 'bin', spec.command), launcher(spec.entry));
  }
  cpSync(join(root, 'bin', spec.entry), join(dir, 'bin', spec.entry));
  chmodSync(join(dir, 'bin', spec.command), 0o755);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: spec.command, version, private: true, type: 'module', description: pkg.description, license: pkg.license, ...(program === 'server' ? { engines: pkg.engines } : {}), bin: { [spec.command]: `bin/${spec.command}` } }, null, 2) + '\n',
  );
  return { dir, version, command: spec.command, ...(needs ? { needs } : {}) };
}

/**
 * The compiled agent (dist/agent, dist/shared and the JavaScript of its dependencies) as one ES
 * module at dist/agent/cli/main.js — the path bin/ferry-agent.js imports — and the chunks that
 * its lazy `import()`s load (inventory, archives, the install machine), so the idle daemon never
 * reads them. better-sqlite3 stays a real package beside it (native); the options are the CLI
 * bundle's (./cli-bundle.ts).
 * Returns esbuild's metafile (what each output file holds and imports): `staticClosure` reads
 * from it what a command loads before it does anything (test/packaging/agent-bundle.test.ts).
 */
export function bundleAgent(root: string, dir: string, version: string): Metafile {
  const result = buildSync({
    ...NODE_ESM_BUNDLE,
    entryPoints: { 'agent/cli/main': join(root, 'dist', 'agent', 'cli', 'main.js') },
    outdir: join(dir, 'dist'),
    chunkNames: 'chunks/[name]-[hash]',
    define: { __FERRY_AGENT_VERSION__: JSON.stringify(version) },
  });
  if (result.errors.length) throw new Error(`bundling the agent failed: ${result.errors.map((e) => e.text).join('; ')}`);
  return result.metafile;
}

/** What a set of a bundle's modules loads with them, before any `import()` runs. */
export interface StaticClosure {
  /** output files (as the metafile names them) */
  outputs: string[];
  /** source files bundled into them (as the metafile names them: relative to the working directory) */
  inputs: string[];
  /** packages left outside the bundle that they import (better-sqlite3, node:*) */
  external: string[];
  bytes: number;
}

/**
 * The static import closure of the output files that hold these source modules (each a path
 * ending in e.g. `dist/agent/runtime.js`, matched against the metafile's entry points — the
 * chunks that `import()` loads are entry points too): every output file they import with a
 * static `import`, transitively, and the sources bundled into those. Throws for a module that is
 * no entry point of the bundle (renamed, or no longer loaded lazily).
 */
export function staticClosure(metafile: Metafile, modules: string[]): StaticClosure {
  const outputs = metafile.outputs;
  const starts = modules.map((m) => {
    const out = Object.keys(outputs).find((o) => outputs[o]!.entryPoint?.endsWith(m));
    if (!out) throw new Error(`${m} is not an entry point of the bundle (a lazily imported module has its own)`);
    return out;
  });
  const seen = new Set(starts);
  const external = new Set<string>();
  for (const queue = [...starts]; queue.length > 0; ) {
    for (const i of outputs[queue.pop()!]!.imports) {
      if (i.kind === 'dynamic-import') continue;
      if (i.external) external.add(i.path);
      else if (!seen.has(i.path)) {
        seen.add(i.path);
        queue.push(i.path);
      }
    }
  }
  const inputs = new Set<string>();
  let bytes = 0;
  for (const o of seen) {
    bytes += outputs[o]!.bytes;
    for (const [input, { bytesInOutput }] of Object.entries(outputs[o]!.inputs)) if (bytesInOutput > 0) inputs.add(input);
  }
  return { outputs: [...seen], inputs: [...inputs].sort(), external: [...external].sort(), bytes };
}

/**
 * POSIX sh launcher of the agent: follows its own symlink (/usr/bin/ferry-agent → the bundle) and
 * runs the bundled node, with the supervisor's flags for `supervise` (the systemd unit's command).
 */
function agentLauncher(entry: string): string {
  return `#!/bin/sh
# Runs the Ferry agent with the Node runtime shipped beside it (bin/node); FERRY_NODE overrides it.
set -e
self=$(readlink -f "$0")
here=$(dirname "$self")
${Object.entries(AGENT_MALLOC_ENV).map(([k, v]) => `: "\${${k}:=${v}}"; export ${k}`).join('\n')}
flags="${AGENT_NODE_FLAGS.join(' ')}"
if [ "\${1:-}" = supervise ]; then flags="${SUPERVISOR_NODE_FLAGS.join(' ')}"; fi
exec "\${FERRY_NODE:-$here/node}" $flags "$here/${entry}" "$@"
`;
}

/** A POSIX sh launcher: follows its own symlink (/usr/bin/ferry → the bundle) and runs the system's node. */
function launcher(entry: string): string {
  return `#!/bin/sh
# Runs Ferry with the system's node (Node.js 20 or newer); FERRY_NODE overrides which node.
set -e
self=$(readlink -f "$0")
here=$(dirname "$self")
exec "\${FERRY_NODE:-node}" "$here/${entry}" "$@"
`;
}
