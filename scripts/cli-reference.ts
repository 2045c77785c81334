// The CLI reference, generated from the yargs definitions themselves: every command's --help of
// the built `ferry` and `ferry-agent` (dist/), walked from the top through each "Commands:"
// section. Writes the command table between the markers in README.md, and the man pages
// packaging/man/ferry.1 and ferry-agent.1 (shipped in the .debs).
//   node dist/scripts/cli-reference.js          rewrite README.md and the man pages
//   node dist/scripts/cli-reference.js --check  exit 1 if either is out of date
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BEGIN = "<!-- cli-reference:begin -->";
const END = '<!-- cli-reference:end -->';

interface Command {
  usage: string;
  describe: string;
  help: string;
}

// About a hundred --help processes: a few at a time, so the walk takes a fraction of the time.
const PARALLEL = 4;
let running = 0;
const waiting: (() => void)[] = [];

async function help(program: string, path: string[]): Promise<string> {
  while (running >= PARALLEL) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    // Help is the same text on any machine: no config file, a fixed width.
    return await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [join(root, 'bin', `${program}.js`), ...path, '--help'], { encoding: 'utf8', env: { ...process.env, FERRY_CONFIG: 'none', COLUMNS: '100', NO_COLOR: '1' } }, (err, stdout) =>
        err ? reject(err) : resolve(stdout),
      ),
    );
  } finally {
    running--;
    waiting.shift()?.();
  }
}

/** The "Commands:" section: [usage, description] for each subcommand (wrapped lines joined). */
function subcommands(text: string, program: string): [string, string][] {
  const lines = text.split('\n');
  const start = lines.indexOf('Commands:');
  if (start < 0) return [];
  const out: [string, string][] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '') break;
    const m = new RegExp(`^  (${program} .+?)(?:\\s{2,}(.*))?$`).exec(line);
    if (m) out.push([m[1]!.trim(), (m[2] ?? '').trim()]);
    else if (out.length) out[out.length - 1]![1] = `${out[out.length - 1]![1]} ${line.trim()}`.trim();
  }
  return out.map(([u, d]) => [u, d.replace(/\s*\[aliases: [^\]]*\]/, '').replace(/\s*\[default\]/, '')]);
}

/** Every leaf command under `path`, in the order of the help texts; `text` is the help of `path`. */
async function walk(program: string, text: string, path: string[] = [], seen = new Set<string>()): Promise<Command[]> {
  const children: { usage: string; describe: string; next: string[] }[] = [];
  for (const [usage, describe] of subcommands(text, program)) {
    const next = [...path, usage.split(' ')[path.length + 1]!];
    if (seen.has(next.join(' '))) continue;
    seen.add(next.join(' '));
    children.push({ usage, describe, next });
  }
  const levels = await Promise.all(
    children.map(async ({ usage, describe, next }) => {
      const sub = await help(program, next);
      return usage.includes('<command>') ? walk(program, sub, next, seen) : [{ usage, describe, help: sub }];
    }),
  );
  return levels.flat();
}

function markdownTable(commands: Command[]): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  return ['| Command | What it does |', '|---|---|', ...commands.map((c) => `| \`${cell(c.usage)}\` | ${cell(c.describe)} |`)].join('\n');
}

function roff(text: string): string {
  return text.replace(/\\/g, '\\e').replace(/^([.'])/gm, '\\&$1');
}

function manPage(program: string, summary: string, top: string, commands: Command[], version: string): string {
  return [
    `.TH ${program.toUpperCase()} 1 "" "${program} ${version}" "Ferry"`,
    '.SH NAME',
    `${program} \\- ${summary}`,
    '.SH SYNOPSIS',
    `.B ${program}`,
    '.I command',
    '[options]',
    '.SH DESCRIPTION',
    '.nf',
    roff(top.trimEnd()),
    '.fi',
    '.SH COMMANDS',
    ...commands.flatMap((c) => ['.SS ' + roff(c.usage), '.nf', roff(c.help.trimEnd()), '.fi']),
    '.SH EXIT STATUS',
    '0 success, 1 other failure, 2 usage or invalid input or configuration, 3 not found, 4 conflict, 5 server unreachable or timeout, 6 a followed rollout did not complete, 7 refused by the deployment policy, 8 forbidden.',
    '.SH SEE ALSO',
    program === 'ferry' ? 'ferry-agent(1)' : 'ferry(1)',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  const [ferryTop, agentTop] = await Promise.all([help('ferry', []), help('ferry-agent', [])]);
  const [ferry, agent] = await Promise.all([walk('ferry', ferryTop), walk('ferry-agent', agentTop)]);
  const files: [string, string][] = [
    [join(root, 'packaging', 'man', 'ferry.1'), manPage('ferry', 'the Ferry server and its administration CLI', ferryTop, ferry, version)],
    [join(root, 'packaging', 'man', 'ferry-agent.1'), manPage('ferry-agent', 'the Ferry agent', agentTop, agent, version)],
  ];
  const readmePath = join(root, 'README.md');
  const readme = readFileSync(readmePath, 'utf8');
  const a = readme.indexOf(BEGIN);
  const b = readme.indexOf(END);
  if (a < 0 || b < a) throw new Error(`README.md has no ${BEGIN} … ${END} section`);
  const table = `${BEGIN}\n\n${markdownTable(ferry)}\n\n${markdownTable(agent)}\n\n${END}`;
  files.push([readmePath, readme.slice(0, a) + table + readme.slice(b + END.length)]);
  const stale = files.filter(([f, text]) => !existsSync(f) || readFileSync(f, 'utf8') !== text).map(([f]) => f);
  if (check) {
    if (stale.length) {
      process.stderr.write(`out of date (run: node dist/scripts/cli-reference.js): ${stale.join(', ')}\n`);
      process.exit(1);
    }
    return;
  }
  for (const [f, text] of files) {
    mkdirSync(dirname(f), { recursive: true });
    writeFileSync(f, text);
  }
  process.stdout.write(`${stale.length ? `wrote ${stale.join(', ')}` : 'up to date'}\n`);
}

await main();
