// ferry schedule: the release schedule — planned, waiting and running rollouts with their windows,
// scope, owner, RFC, risk and rollback plan; as a table, JSON, or an iCalendar file.
import type { CommandModule } from 'yargs';
import { FerryError } from '../../../shared/errors.js';
import { withClient } from '../with-client.js';
import { printJson, printTable } from '../output.js';
import { renderIcs } from '../render/ics.js';
import { connectionFlags, type GlobalArgs } from './common.js';

export const scheduleCommand: CommandModule<GlobalArgs, GlobalArgs & { ics: boolean; all: boolean }> = {
  command: 'schedule',
  describe: 'The release schedule: planned and scheduled rollouts, soonest first',
  builder: (y) =>
    y
      .option('ics', { type: 'boolean', default: false, describe: 'print an iCalendar (.ics) file for calendars' })
      .option('all', { type: 'boolean', default: false, describe: 'also rollouts that ended in the last 30 days' }),
  handler: async (a) => {
    if (a.ics && a.json) throw new FerryError('FERRY_USAGE', '--ics prints an iCalendar file and --json a JSON document: choose one');
    const entries = await withClient(connectionFlags(a), (c) => c.request('schedule', { all: a.all }));
    if (a.ics) return void process.stdout.write(renderIcs(entries));
    if (a.json) return printJson(entries);
    printTable(
      ['START', 'END', 'ROLLOUT', 'RELEASE', 'STATE', 'HOSTS', 'WINDOW', 'OWNER', 'RFC', 'RISK', 'ROLLBACK PLAN'],
      entries.map((e) => [
        e.start ?? 'never (window)',
        e.end,
        e.rollout,
        e.release,
        e.state,
        e.hosts,
        e.window ? `${e.window} ${e.timeZone}` : null,
        e.owner,
        e.rfc,
        e.risk,
        e.rollbackPlan && e.rollbackPlan.length > 48 ? `${e.rollbackPlan.slice(0, 47)}…` : e.rollbackPlan,
      ]),
    );
  },
};
