// ferry ui login: a one-time sign-in URL of the web console for the operator whose credentials
// sign the request (the server binds the URL to that operator; it works once, for minutes).
import type { CommandModule } from 'yargs';
import { withClient } from '../with-client.js';
import { printJson, printLines } from '../output.js';
import { connectionFlags, type GlobalArgs } from './common.js';

const login: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'login',
  describe: 'Print a one-time sign-in URL of the web console for your operator (--json: {url, expiresAt})',
  handler: async (a) => {
    const doc = await withClient(connectionFlags(a), (c) => c.request('ui.login', {}));
    if (a.json) return printJson({ url: doc.url, expiresAt: doc.expiresAt });
    printLines([doc.url, `open it in your browser before ${doc.expiresAt}; it works once`]);
  },
};

export const uiCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'ui <command>',
  describe: 'The web console (ferry server --ui-listen): sign in',
  builder: (y) => y.command(login).demandCommand(1, 'say what to do: ferry ui login'),
  handler: () => undefined,
};
