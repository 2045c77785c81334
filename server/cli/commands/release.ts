// ferry release create|list|show: named sets of packages that ship together.
import type { CommandModule } from 'yargs';
import { withClient } from '../client.js';
import { printJson, printLines, printTable } from '../output.js';
import { connectionFlags, type GlobalArgs } from './common.js';

interface ReleaseDoc {
  name: string;
  packages: { name: string; version: string }[];
  rfc?: string;
  notes?: string;
  createdAt: string;
  /** the release's communication plan: webhooks told about it (older servers: absent) */
  notify?: { id: string; url: string; events: string[]; scope: 'release' | 'all' }[];
}

const create: CommandModule<GlobalArgs, GlobalArgs & { name: string; package: string[]; rfc?: string; notes?: string }> = {
  command: 'create <name>',
  describe: 'Create a release from DML packages',
  builder: (y) =>
    y
      .positional('name', { type: 'string', demandOption: true })
      .option('package', { type: 'string', array: true, demandOption: true, describe: 'NAME@VERSION (repeatable)' })
      .option('rfc', { type: 'string', describe: 'request-for-change id' })
      .option('notes', { type: 'string' }),
  handler: async (a) => {
    const body = { name: a.name, packages: a.package.map(String), ...(a.rfc ? { rfc: a.rfc } : {}), ...(a.notes ? { notes: a.notes } : {}) };
    const r = (await withClient(connectionFlags(a), (c) => c.request('release.create', body))) as ReleaseDoc;
    if (a.json) return printJson(r);
    printLines([`Created release ${r.name}: ${r.packages.map((p) => `${p.name}@${p.version}`).join(', ')}`]);
  },
};

const list: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'list',
  describe: 'List releases, newest first',
  handler: async (a) => {
    const rs = (await withClient(connectionFlags(a), (c) => c.request('release.list', {}))) as ReleaseDoc[];
    if (a.json) return printJson(rs);
    printTable(['RELEASE', 'PACKAGES', 'RFC', 'CREATED'], rs.map((r) => [r.name, r.packages.map((p) => `${p.name}@${p.version}`).join(' '), r.rfc, r.createdAt]));
  },
};

const show: CommandModule<GlobalArgs, GlobalArgs & { name: string }> = {
  command: 'show <name>',
  describe: 'Show one release',
  builder: (y) => y.positional('name', { type: 'string', demandOption: true }),
  handler: async (a) => {
    const r = (await withClient(connectionFlags(a), (c) => c.request('release.show', { name: a.name }))) as ReleaseDoc;
    if (a.json) return printJson(r);
    printLines([`${r.name}  (created ${r.createdAt}${r.rfc ? `, RFC ${r.rfc}` : ''})`, ...r.packages.map((p) => `  ${p.name}@${p.version}`), ...(r.notes ? [`  notes: ${r.notes}`] : []), ...communicationPlan(r)]);
  },
};

function communicationPlan(r: ReleaseDoc): string[] {
  if (!r.notify) return [];
  if (r.notify.length === 0) return ['  notifies: nobody (see: ferry notify add URL --events ... --release NAME)'];
  return ['  notifies:', ...r.notify.map((h) => `    ${h.id} ${h.url} (${h.events.join(',')}${h.scope === 'all' ? ', all releases' : ''})`)];
}

export const releaseCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'release <command>',
  describe: 'Releases: packages that ship together',
  builder: (y) => y.command(create).command(list).command(show).demandCommand(1),
  handler: () => undefined,
};
