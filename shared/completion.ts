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
