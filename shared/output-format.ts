// `--json`, or `-o json|yaml|wide` (also `--output=…`, `-ojson`), read straight from argv: both CLIs
// need it before (or without) yargs, e.g. to print a failure that happens while parsing as JSON.
export type OutputFormat = 'table' | 'wide' | 'json' | 'yaml';

export const OUTPUT_FORMATS = ['json', 'yaml', 'wide'] as const;

export function formatFromArgv(argv: string[]): OutputFormat {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^(?:-o|--output)(?:=(.*))?$/.exec(a) ?? /^-o(json|yaml|wide)$/.exec(a);
    if (!m) continue;
    const v = m[1] ?? argv[i + 1];
    if (v === 'json' || v === 'yaml' || v === 'wide') return v;
  }
  return argv.includes('--json') ? 'json' : 'table';
}
