// `node --import <this file> SCRIPT …` with FERRY_TEST_MODULE_LOG=FILE: appends the URL of every
// module the process loads through the ES module loader (its imports and `import()`s, node:
// builtins included) to FILE, one a line. Tells which files a command really read.
import { register } from 'node:module';

const HOOKS = `
import { appendFileSync } from 'node:fs';
let file;
export function initialize(data) { file = data.file; }
export async function load(url, context, next) {
  appendFileSync(file, url + '\\n');
  return next(url, context);
}`;

if (process.env.FERRY_TEST_MODULE_LOG) register(`data:text/javascript,${encodeURIComponent(HOOKS)}`, { data: { file: process.env.FERRY_TEST_MODULE_LOG } });
