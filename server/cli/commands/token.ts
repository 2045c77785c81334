// ferry token create | list | revoke: join tokens for agents.
import type { CommandModule } from 'yargs';
import { withClient } from '../with-client.js';
import { printJson, printLines, printTable } from '../output.js';
import { connectionFlags, DURATION_OPTION, durationFlag, parsePositiveInt, parseTags, type GlobalArgs } from './common.js';

interface TokenArgs extends GlobalArgs {
  tag?: string[];
  ttl: string;
  uses: number;
  site?: string;
}

const create: CommandModule<GlobalArgs, TokenArgs> = {
  command: 'create',
  describe: 'Print a join token for agents',
  builder: (y) =>
    y
      .option('tag', { type: 'string', array: true, describe: 'tag k=v given to agents that join with it (repeatable; the site tag comes with --site)' })
      .option('ttl', { ...DURATION_OPTION, default: '1h', describe: 'how long the token is valid' })
      .option('uses', { type: 'number', default: 1, describe: 'how many agents may join with it' })
      .option('site', { type: 'string', describe: 'agents that join with it connect through this site (ferry site add) and download from its mirror; the hub stays their fallback' }),
  handler: async (a) => {
    const body = { tags: parseTags(a.tag), ttlMs: durationFlag(a.ttl, '--ttl'), uses: parsePositiveInt(a.uses, '--uses'), ...(a.site !== undefined ? { site: String(a.site) } : {}) };
    const result = await withClient(connectionFlags(a), (c) => c.request('token.create', body));
    if (a.json) return printJson(result);
    printLines([result.token, `(token id ${result.id}, valid until ${result.expiresAt}, ${result.uses} use${result.uses === 1 ? '' : 's'}${result.site ? `, for site ${result.site}` : ''}; revoke: ferry token revoke ${result.id})`]);
  },
};


const list: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'list',
  describe: 'List join tokens (never their secrets): uses left, expiry, state',
  handler: async (a) => {
    const tokens = await withClient(connectionFlags(a), (c) => c.request('token.list', {}));
    if (a.json) return printJson(tokens);
    printTable(
      ['ID', 'STATE', 'USES LEFT', 'EXPIRES', 'TAGS'],
      tokens.map((t) => [t.id, t.state, t.usesLeft, t.expiresAt, Object.entries(t.tags).map(([k, v]) => `${k}=${v}`).join(' ')]),
    );
  },
};

const revoke: CommandModule<GlobalArgs, GlobalArgs & { id: string }> = {
  command: 'revoke <id>',
  describe: 'Revoke a join token: no more joins, and its enrolment credential is cut off at once',
  builder: (y) => y.positional('id', { type: 'string', demandOption: true, describe: 'the token id (ferry token list)' }),
  handler: async (a) => {
    const token = await withClient(connectionFlags(a), (c) => c.request('token.revoke', { id: a.id }));
    if (a.json) return printJson(token);
    printLines([`token ${token.id} revoked`]);
  },
};

export const tokenCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'token <command>',
  aliases: ['tokens'],
  describe: 'Join tokens for agents',
  builder: (y) => y.command(create).command(list).command(revoke).demandCommand(1),
  handler: () => undefined,
};
