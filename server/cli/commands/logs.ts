// ferry logs HOST [--rollout ID] [--follow]: the hooks' stdout/stderr of every operation on a
// host, as its agent reported them (redacted and capped there). Host text is escaped on print.
import type { CommandModule } from 'yargs';
import type { AgentLogsReply } from '../../../shared/protocol/replies.js';
import { withClient } from '../with-client.js';
import { configureOutput, printJson, printJsonLine, printLines, textLines } from '../output.js';
import { connectionFlags, DURATION_OPTION, durationFlag, parsePositiveInt, type GlobalArgs } from './common.js';

interface LogsArgs extends GlobalArgs {
  host: string;
  rollout?: string;
  follow: boolean;
  limit: number;
  interval: string;
}

type Entry = AgentLogsReply['entries'][number];

function entryLines(e: Entry): string[] {
  const what = `${e.kind} ${e.package ?? ''}${e.version ? `@${e.version}` : ''}${e.fromVersion && e.fromVersion !== e.version ? ` (from ${e.fromVersion})` : ''}`;
  return [
    `=== ${e.at}  ${what}  ${e.operation ?? ''}  ${e.result ?? ''}`.trimEnd(),
    ...(e.detail ? [`  ${e.detail}`] : []),
    ...(e.output ? textLines(e.output.replace(/\n$/, ''), '  ') : ['  (no hook ran)']),
  ];
}

export const logsCommand: CommandModule<GlobalArgs, LogsArgs> = {
  command: 'logs <host>',
  describe: 'The stdout/stderr of every hook of every operation on a host (agent id, or a hostname only one agent has), oldest first',
  builder: (y) =>
    y
      .positional('host', { type: 'string', demandOption: true, describe: 'agent id or hostname' })
      .option('rollout', { type: 'string', describe: 'only the operations of this rollout (its rollbacks included)' })
      .option('follow', { alias: 'f', type: 'boolean', default: false, describe: 'keep printing new operations as the host reports them (Ctrl-C ends)' })
      .option('limit', { type: 'number', default: 100, describe: 'the newest N operations' })
      .option('interval', { ...DURATION_OPTION, default: '1s', describe: 'with --follow: how often to ask the server' }),
  handler: async (a) => {
    const limit = parsePositiveInt(a.limit, '--limit');
    const intervalMs = durationFlag(a.interval, '--interval', { positive: true });
    await withClient(connectionFlags(a), async (c) => {
      const ask = async (afterId?: number) =>
        await c.request('agents.logs', { host: a.host, ...(a.rollout !== undefined ? { rollout: a.rollout } : {}), ...(afterId !== undefined ? { afterId } : {}), limit });
      const first = await ask();
      if (!a.follow) {
        if (a.json) return printJson(first);
        if (first.entries.length === 0) return printLines([`no operations on ${first.agent.hostname} (${first.agent.id})${a.rollout ? ` in ${a.rollout}` : ''} yet`]);
        return printLines(first.entries.flatMap(entryLines));
      }
      // --follow: one entry at a time as it arrives (--json: a stream, one document per line; a
      // failure ends it with one more line).
      if (a.json) configureOutput({ streaming: true });
      const print = (e: Entry) => (a.json ? printJsonLine({ agent: first.agent, ...e }) : printLines(entryLines(e)));
      let last = 0;
      for (const e of first.entries) {
        print(e);
        last = e.id;
      }
      for (;;) {
        await new Promise((r) => setTimeout(r, intervalMs));
        for (const e of (await ask(last)).entries) {
          print(e);
          last = e.id;
        }
      }
    });
  },
};
