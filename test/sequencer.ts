// The order the suite's files start in. Four files run at once (vitest.config.ts), so the wall
// time is bounded by whichever long file starts last: vitest's own order on a clean checkout (no
// cache of past runs) is by file size, which started the 136 s browser test halfway through and
// left one slow file running alone at the end. Here the slowest files start first, by the times
// recorded in test/durations.json (seconds per file, from a run's JSON report:
// `node test/record-durations.mjs .tmp/vitest-idle.json`). A file the table does not know yet starts
// first too (it might be slow); the table only orders, so a stale one costs speed, never a result.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const durations = JSON.parse(readFileSync(new URL('./durations.json', import.meta.url), 'utf8')) as Record<string, number>;

export class SlowestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const seconds = (f: TestSpecification) => durations[relative(this.ctx.config.root, f.moduleId).split('\\').join('/')] ?? Infinity;
    return [...files].sort((a, b) => seconds(b) - seconds(a));
  }
}
