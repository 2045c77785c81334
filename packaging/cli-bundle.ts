// The `ferry` CLI — and the server that `ferry server` runs — bundled by esbuild into dist/bundle/:
// one ES module (dist/bundle/ferry.js, what bin/ferry.js loads) and the chunks its lazy
// `import()`s load (dist/bundle/chunks/). Node then parses a few files instead of ~900 modules
// of dist/ and node_modules/; docs/performance.md has the CPU it saves per command.
//
// `npm run build` runs tsc, then this (node dist/packaging/cli-bundle.js). bin/ferry.js takes the
// bundle only when it is at least as new as tsc's dist/server/cli/main.js, so a `tsc` alone never
// leaves an older bundle in charge: it falls back to the compiled modules.
//
// What the code resolves relative to its own module had to hold from the bundle too:
// - the version: server/version.ts walks up to the package.json named ferry (from any chunk);
// - yargs' translations (y18n): found beside yargs' own module, see yargsLocales below;
// - better-sqlite3 (native) stays an external package, loaded from node_modules as before.
// Nothing else is looked up by path: the console's assets are modules (server/ui/assets/) and the
// embedded nats-server is found on PATH.
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions, type Metafile, type Plugin } from 'esbuild';

/** Where the bundle goes, under a checkout or a staged package. */
export const CLI_BUNDLE_DIR = join('dist', 'bundle');

/** Packages left outside the bundles: native code (a .node file) that Node loads from node_modules. */
export const NATIVE_EXTERNALS = ['better-sqlite3'];

/**
 * What the agent's and the CLI's bundles share: ES modules for this Node. CommonJS dependencies
 * get a `require` made with createRequire, which esbuild's ES module output does not provide.
 */
export const NODE_ESM_BUNDLE = {
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: NATIVE_EXTERNALS,
  banner: { js: "import { createRequire as __ferryCreateRequire } from 'node:module'; const require = __ferryCreateRequire(import.meta.url);" },
  legalComments: 'none',
  minifyWhitespace: true,
  minifySyntax: true,
  metafile: true,
  logLevel: 'silent',
} as const satisfies BuildOptions;

/**
 * yargs reads its translations (y18n: `Optionen:` for `Options:` where LANG=de_DE) from
 * `resolve(__dirname, '../../../locales')` in lib/platform-shims/esm.mjs, where `__dirname` is
 * that module's own file. In a bundle it is the bundle's, so the directory would not exist and
 * every locale would print English. The bundle asks Node where yargs is instead (its shim's own
 * createRequire, from the bundle's directory: node_modules/ beside dist/ in a checkout and in
 * the .deb), and keeps the original path if yargs cannot be found.
 */
const YARGS_LOCALES_FROM = "resolve(__dirname, '../../../locales')";
export const yargsLocales: Plugin = {
  name: 'ferry-yargs-locales',
  setup(b) {
    b.onLoad({ filter: /[\\/]yargs[\\/]lib[\\/]platform-shims[\\/]esm\.mjs$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes(YARGS_LOCALES_FROM)) throw new Error(`${args.path} no longer has ${YARGS_LOCALES_FROM}: see packaging/cli-bundle.ts`);
      const found = `(() => { try { return resolve(require.resolve('yargs/package.json'), '../locales'); } catch { return ${YARGS_LOCALES_FROM}; } })()`;
      return { contents: text.replace(YARGS_LOCALES_FROM, found), loader: 'js' };
    });
  },
};

/**
 * Bundle the compiled CLI (root/dist/server/cli/main.js, from tsc) into `outDir` (emptied first):
 * outDir/ferry.js and outDir/chunks/. Returns esbuild's metafile (test/packaging/cli-bundle.test.ts
 * reads from it what each command loads).
 */
export async function bundleCli(root: string, outDir: string): Promise<Metafile> {
  rmSync(outDir, { recursive: true, force: true });
  const result = await build({
    ...NODE_ESM_BUNDLE,
    entryPoints: { ferry: join(root, 'dist', 'server', 'cli', 'main.js') },
    outdir: outDir,
    chunkNames: 'chunks/[name]-[hash]',
    plugins: [yargsLocales],
  });
  if (result.errors.length) throw new Error(`bundling the CLI failed: ${result.errors.map((e) => e.text).join('; ')}`);
  const cjs = lazyCommonJs(result.metafile);
  if (cjs.length) throw new Error(`bundling the CLI: ${cjs.join(', ')} loaded with import(): in the bundle it has only a default export; import it from an ES module that import() loads instead`);
  return result.metafile;
}

/**
 * CommonJS modules that an `import()` loads. Node gives such a module named exports too (read
 * from its source), but esbuild's chunk for it exports only `default`: `const { X } = await
 * import('cjs-package')` works unbundled and finds nothing in the bundle.
 */
export function lazyCommonJs(meta: Metafile): string[] {
  return Object.values(meta.outputs)
    .map((o) => o.entryPoint)
    .filter((entry): entry is string => entry !== undefined && meta.inputs[entry]?.format === 'cjs');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  await bundleCli(root, join(root, CLI_BUNDLE_DIR));
}
