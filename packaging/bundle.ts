// Stages a self-contained bundle of one Ferry program: the compiled code it needs (dist/),
// the production dependencies copied from the checkout's node_modules (the lock file says which
// are production; better-sqlite3 is native, so a bundle runs on this platform and architecture
// only), a package.json, and a launcher script that runs it with the system's node.
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout this module was compiled from (dist/packaging/ → ../..). */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export type Program = 'agent' | 'server';

interface ProgramSpec {
  /** the bundle's package name and command */
  command: string;
  /** compiled directories under dist/ */
  dist: string[];
  /** the repository's bin/ entry the launcher runs */
  entry: string;
}

export const PROGRAMS: Record<Program, ProgramSpec> = {
  agent: { command: 'ferry-agent', dist: ['agent', 'shared'], entry: 'ferry-agent.js' },
  server: { command: 'ferry', dist: ['server', 'shared'], entry: 'ferry.js' },
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
}

/**
 * Stage `<outDir>/<name>/`: bin/<command> (launcher), bin/<command>.js, dist/…, node_modules/…,
 * package.json. The checkout must be built (dist/) and installed (node_modules/).
 */
export function stageBundle(program: Program, dir: string, version = projectVersion(), root = repoRoot): StagedBundle {
  const spec = PROGRAMS[program];
  for (const d of spec.dist) {
    if (!existsSync(join(root, 'dist', d))) throw new Error(`dist/${d} is missing: run npm run build first`);
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'bin'), { recursive: true });
  for (const d of spec.dist) {
    cpSync(join(root, 'dist', d), join(dir, 'dist', d), { recursive: true, filter: (src) => !src.endsWith('.map') && !/\.test\.js$/.test(src) });
  }
  for (const path of productionPackages(root)) copyModule(root, path, dir);
  cpSync(join(root, 'bin', spec.entry), join(dir, 'bin', spec.entry));
  writeFileSync(join(dir, 'bin', spec.command), launcher(spec.entry));
  chmodSync(join(dir, 'bin', spec.command), 0o755);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: spec.command, version, private: true, type: 'module', description: pkg.description, license: pkg.license, engines: pkg.engines, bin: { [spec.command]: `bin/${spec.command}` } }, null, 2) + '\n',
  );
  return { dir, version, command: spec.command };
}

/** A POSIX sh launcher: follows its own symlink (/usr/bin/ferry-agent → the bundle) and runs node. */
function launcher(entry: string): string {
  return `#!/bin/sh
# Runs Ferry with the system's node (Node.js 20 or newer); FERRY_NODE overrides which node.
set -e
self=$(readlink -f "$0")
here=$(dirname "$self")
exec "\${FERRY_NODE:-node}" "$here/${entry}" "$@"
`;
}
