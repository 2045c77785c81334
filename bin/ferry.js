#!/usr/bin/env node
// The CLI bundle (dist/bundle/ferry.js, packaging/cli-bundle.ts) starts in about half the CPU of
// the compiled modules. `npm run build` writes it after tsc; a tsc alone rewrites every module of
// dist/server/, so the bundle is taken only if it is at least as new as tsc's main.js.
import { statSync } from 'node:fs';

const BUNDLE = '../dist/bundle/ferry.js';
const COMPILED = '../dist/server/cli/main.js';
const mtime = (path) => statSync(new URL(path, import.meta.url), { throwIfNoEntry: false })?.mtimeMs ?? -1;
const bundled = mtime(BUNDLE);
const { main } = await import(bundled >= 0 && bundled >= mtime(COMPILED) ? BUNDLE : COMPILED);

await main(process.argv);
