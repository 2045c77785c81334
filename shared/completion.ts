// `ferry completion bash|zsh` and `ferry-agent completion bash|zsh`: yargs writes the script
// for the shell named by $SHELL, read when the parser is created, so the shell asked for on the
// command line is put there first.
import { FerryError } from './errors.js';

export function selectCompletionShell(args: string[], program: string): void {
  if (args[0] !== 'completion') return;
  const shell = args[1];
  if (shell === 'zsh') process.env.SHELL = '/bin/zsh';
  else if (shell === 'bash') process.env.SHELL = '/bin/bash';
  else if (shell !== undefined && !shell.startsWith('-')) {
    throw new FerryError('FERRY_USAGE', `no completion script for the shell "${shell}"`, { hint: `${program} completion bash | ${program} completion zsh` });
  }
}

/**
 * `completion --help`: yargs' completion command prints its script whatever follows it, so the
 * help (with examples, like every other command's) is answered here, before yargs runs.
 */
export function completionHelp(args: string[], program: string): string | undefined {
  if (args[0] !== 'completion' || !args.slice(1).some((a) => a === '--help' || a === '-h')) return undefined;
  const rows: [string, string][] = [
    [`${program} completion bash > /etc/bash_completion.d/${program}`, 'install bash completion (the .deb does this)'],
    [`${program} completion zsh > "\${fpath[1]}/_${program}"`, 'install zsh completion'],
    [`source <(${program} completion bash)`, 'this shell only'],
  ];
  const width = Math.max(...rows.map(([c]) => c.length));
  return [
    `${program} completion [bash|zsh]`,
    '',
    `Print a bash or zsh completion script: ${program} completion bash|zsh (default: for $SHELL)`,
    '',
    'Examples:',
    ...rows.map(([c, what]) => `  ${c.padEnd(width)}  ${what}`),
    '',
  ].join('\n');
}
