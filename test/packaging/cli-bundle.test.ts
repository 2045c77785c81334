// The `ferry` CLI runs from its esbuild bundle (dist/bundle/, packaging/cli-bundle.ts): the build
// writes it after tsc, bin/ferry.js loads it (unless tsc's output is newer), it prints what the
// compiled modules print, and a command loads the heavy parts (schemas, NATS client, tar, the
// server) only when it uses them. Needs the checkout built by `npm run build` (npm test does).
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Metafile } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleCli, lazyCommonJs, NODE_ESM_BUNDLE } from '../../packaging/cli-bundle.js';
import { staticClosure } from '../../packaging/bundle.js';
import { REPO_ROOT, tempDir } from '../helpers/fleet.js';

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string; scripts: Record<string, string> };
const BUNDLE = join(REPO_ROOT, 'dist', 'bundle', 'ferry.js');
const COMPILED = join(REPO_ROOT, 'dist', 'server', 'cli', 'main.js');

function node(args: string[], env: Record<string, string | undefined> = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, FERRY_CONFIG: 'none', ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** An entry script that runs the CLI from these modules (what bin/ferry.js does with one of them). */
function entryFor(module: string): string {
  const file = join(tempDir('ferry-cli-entry-'), 'entry.mjs');
  writeFileSync(file, `const { main } = await import(${JSON.stringify(pathToFileURL(module).href)});\nawait main(process.argv);\n`);
  return file;
}

describe('the CLI bundle', () => {
  it('is written by npm run build, which every script builds with, and this checkout has it', () => {
    expect(pkg.scripts.build).toBe('tsc -p tsconfig.json && node dist/packaging/cli-bundle.js');
    for (const script of ['prepare', 'package', 'cli-reference']) expect(pkg.scripts[script], script).toMatch(/^npm run build( |$)/);
    for (const file of ['scripts/test.sh', 'scripts/demo.sh', 'scripts/bench.sh']) {
      const text = readFileSync(join(REPO_ROOT, file), 'utf8');
      expect(text, file).toMatch(/^npm run build\b/m);
      expect(text, file).not.toMatch(/^\s*(npx )?tsc\b/m);
    }
    const bundle = statSync(BUNDLE, { throwIfNoEntry: false });
    expect(bundle, `${BUNDLE} is missing: build with npm run build`).toBeDefined();
    expect(bundle!.mtimeMs, 'dist/bundle is older than tsc\'s output: build with npm run build').toBeGreaterThanOrEqual(statSync(COMPILED).mtimeMs);
  });

  it('is what bin/ferry.js runs: ferry --version reads the bundle and no compiled module', () => {
    const log = join(tempDir('ferry-module-log-'), 'modules.log');
    const r = node(['--import', pathToFileURL(join(REPO_ROOT, 'test', 'helpers', 'module-log.mjs')).href, join(REPO_ROOT, 'bin', 'ferry.js'), '--version'], { FERRY_TEST_MODULE_LOG: log });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${pkg.version}\n`);
    const files = readFileSync(log, 'utf8').split('\n').filter((u) => u.startsWith('file:'));
    expect(files).toContain(pathToFileURL(BUNDLE).href);
    expect(files.filter((u) => /\/(dist\/(server|shared)|node_modules)\//.test(u))).toEqual([]);
  });

  it('prints what the compiled modules print: help, translated help (yargs\' locales), a usage error', () => {
    const bundled = entryFor(BUNDLE);
    const compiled = entryFor(COMPILED);
    const english = node([bundled, 'rollout', '--help'], { LANG: 'C', LC_ALL: undefined, LC_MESSAGES: undefined, LANGUAGE: undefined }).stdout;
    for (const [args, env] of [
      [['--help'], { LANG: 'C' }],
      [['rollout', '--help'], { LANG: 'de_DE.UTF-8' }],
      [['rolout', 'status'], { LANG: 'C' }],
    ] as [string[], Record<string, string>][]) {
      const locale = { LC_ALL: undefined, LC_MESSAGES: undefined, LANGUAGE: undefined, ...env };
      const a = node([bundled, ...args], locale);
      const b = node([compiled, ...args], locale);
      expect({ status: a.status, stdout: a.stdout, stderr: a.stderr }, args.join(' ')).toEqual({ status: b.status, stdout: b.stdout, stderr: b.stderr });
      if (env.LANG === 'de_DE.UTF-8') expect(a.stdout, 'yargs found no translations').not.toBe(english);
    }
  });
});

describe('bin/ferry.js', () => {
  /** A copy of bin/ferry.js beside two stub CLIs that say which one ran; times in seconds (undefined: no bundle). */
  function runs(times: { bundle?: number; compiled: number }): string {
    const root = tempDir('ferry-bin-');
    mkdirSync(join(root, 'bin'));
    copyFileSync(join(REPO_ROOT, 'bin', 'ferry.js'), join(root, 'bin', 'ferry.js'));
    writeFileSync(join(root, 'package.json'), '{"type":"module"}\n');
    for (const [name, file, time] of [['bundle', join(root, 'dist', 'bundle', 'ferry.js'), times.bundle], ['compiled', join(root, 'dist', 'server', 'cli', 'main.js'), times.compiled]] as const) {
      if (time === undefined) continue;
      mkdirSync(join(file, '..'), { recursive: true });
      writeFileSync(file, `export async function main() { console.log(${JSON.stringify(name)}); }\n`);
      utimesSync(file, time, time);
    }
    const r = node([join(root, 'bin', 'ferry.js')]);
    rmSync(root, { recursive: true, force: true });
    return r.stdout.trim();
  }

  it('runs the bundle unless tsc wrote the compiled modules after it', () => {
    expect(runs({ bundle: 2_000_000, compiled: 1_000_000 })).toBe('bundle');
    expect(runs({ bundle: 1_000_000, compiled: 1_000_000 })).toBe('bundle'); // copied with their times, e.g. from a .deb
    expect(runs({ bundle: 1_000_000, compiled: 2_000_000 })).toBe('compiled'); // a tsc alone since the last npm run build
    expect(runs({ compiled: 1_000_000 })).toBe('compiled');
  });
});

describe('what a command loads (esbuild\'s metafile)', () => {
  let meta: Metafile;
  beforeAll(async () => {
    meta = await bundleCli(REPO_ROOT, tempDir('ferry-cli-bundle-'));
  }, 120_000);

  /** The packages (or dist/ modules) of a closure whose sources match. */
  function matching(modules: string[], pattern: RegExp): string[] {
    const names = staticClosure(meta, modules).inputs.filter((i) => pattern.test(i)).map((i) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(i)?.[1] ?? i.slice(i.indexOf('dist/')));
    return [...new Set(names)].sort();
  }
  const HEAVY = /node_modules\/(zod|@nats-io\/[^/]+|tar|pino|cli-progress|tweetnacl|semver|better-sqlite3)\/|dist\/server\/(server|db\/[^/]+)\.js$/;

  it('--help and --version load neither schemas nor the NATS client, tar, pino or the server', () => {
    expect(matching(['dist/server/cli/main.js'], /node_modules\/yargs\//)).toEqual(['yargs']); // the closure is the CLI's
    expect(matching(['dist/server/cli/main.js'], HEAVY)).toEqual([]);
    expect(staticClosure(meta, ['dist/server/cli/main.js']).external).not.toContain('better-sqlite3');
  });

  it('no import() loads a CommonJS module, which the bundle would give a default export only', async () => {
    expect(lazyCommonJs(meta)).toEqual([]);
    // what bundleCli refuses: @nats-io/obj is CommonJS, and bundled, `import()` of it finds no Objm
    const dir = tempDir('ferry-cjs-import-');
    writeFileSync(join(dir, 'entry.mjs'), "const { Objm } = await import('@nats-io/obj');\nconsole.log(typeof Objm);\n");
    const r = await build({ ...NODE_ESM_BUNDLE, entryPoints: [join(dir, 'entry.mjs')], outdir: join(dir, 'out'), nodePaths: [join(REPO_ROOT, 'node_modules')] });
    expect(lazyCommonJs(r.metafile)).toEqual([expect.stringMatching(/@nats-io\/obj\/lib\/mod\.js$/)]);
    expect(node([join(dir, 'out', 'entry.js')]).stdout).toBe('undefined\n');
  });

  it('a request loads the schemas and the NATS client, not tar, pino or the server', () => {
    const request = ['dist/server/cli/main.js', 'dist/server/cli/client.js', 'dist/server/server-settings.js'];
    expect(matching(request, HEAVY)).toEqual(expect.arrayContaining(['@nats-io/transport-node', 'zod']));
    expect(matching(request, /node_modules\/(tar|pino|cli-progress)\/|dist\/server\/server\.js$/)).toEqual([]);
  });
});
