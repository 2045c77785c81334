// Writes test/durations.json (seconds per test file) from a vitest JSON report, for
// test/sequencer.ts. Usage: node test/record-durations.mjs .tmp/vitest-idle.json
import { readFileSync, writeFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';

const report = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const root = resolve(new URL('..', import.meta.url).pathname);
const rows = report.testResults
  .map((t) => [relative(root, t.name), Math.round((t.endTime - t.startTime) / 100) / 10])
  .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
writeFileSync(new URL('./durations.json', import.meta.url), `${JSON.stringify(Object.fromEntries(rows), null, 1)}\n`);
console.log(`test/durations.json: ${rows.length} files`);
