// ferry status: the fleet and the open rollouts at a glance (one request, fleet.status).
import type { CommandModule } from 'yargs';
import { withClient } from '../with-client.js';
import { printJson, printLines, printTable, relativeTime } from '../output.js';
import { connectionFlags, type GlobalArgs } from './common.js';

export const statusCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'status',
  describe: 'The fleet and the active rollouts at a glance: hosts online/offline, failing, drifted; open rollouts and what they do next',
  handler: async (a) => {
    const s = await withClient(connectionFlags(a), (c) => c.request('fleet.status', {}));
    if (a.json) return printJson(s);
    const h = s.hosts;
    const names = (list: { hostname: string }[], n: number) => list.map((x) => x.hostname).join(', ') + (n > list.length ? `, … (${n - list.length} more)` : '');
    printLines([
      `Hosts: ${h.total} — ${h.online} online, ${h.offline} offline, ${h.failing} failing, ${h.drifted} drifted`,
      ...(h.offline ? [`  offline: ${names(s.offline, h.offline)}`] : []),
      ...(h.failing ? [`  failing: ${names(s.failing, h.failing)}`] : []),
      ...(h.drifted ? [`  drifted: ${names(s.drifted, h.drifted)}`] : []),
      '',
      `Rollouts: ${s.rollouts.length} active`,
    ]);
    if (s.rollouts.length === 0) return;
    printTable(
      ['ROLLOUT', 'RELEASE', 'STATE', 'HOSTS', 'PROGRESS', 'NEXT', 'WHEN'],
      s.rollouts.map((r) => [r.id, r.release, r.state, r.hosts, Object.entries(r.counts).map(([k, v]) => `${v} ${k}`).join(', '), r.next?.event ?? '', r.next?.at ? relativeTime(r.next.at) : '']),
    );
  },
};
