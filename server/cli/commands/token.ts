// ferry token create: print a join token for agents.
import type { CommandModule } from 'yargs';
import { parseDuration } from '../../../shared/durations.js';
import { withClient } from '../client.js';
import { printJson, printLines } from '../output.js';
import { connectionFlags, parsePositiveInt, parseTags, type GlobalArgs } from './common.js';

interface TokenArgs extends GlobalArgs {
  tag?: string[];
  ttl: string;
  uses: number;
}

const create: CommandModule<GlobalArgs, TokenArgs> = {
  command: 'create',
  describe: 'Print a join token for agents',
  builder: (y) =>
    y
      .option('tag', { type: 'string', array: true, describe: 'tag k=v given to agents that join with it (repeatable)' })
      .option('ttl', { type: 'string', default: '1h', describe: 'how long the token is valid' })
      .option('uses', { type: 'number', default: 1, describe: 'how many agents may join with it' }),
  handler: async (a) => {
    const body = { tags: parseTags(a.tag), ttlMs: parseDuration(a.ttl), uses: parsePositiveInt(a.uses, '--uses') };
    const result = (await withClient(connectionFlags(a), (c) => c.request('token.create', body))) as { token: string; expiresAt: string; uses: number };
    if (a.json) return printJson(result);
    printLines([result.token, `(valid until ${result.expiresAt}, ${result.uses} use${result.uses === 1 ? '' : 's'})`]);
  },
};

export const tokenCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'token <command>',
  describe: 'Join tokens for agents',
  builder: (y) => y.command(create).demandCommand(1),
  handler: () => undefined,
};
