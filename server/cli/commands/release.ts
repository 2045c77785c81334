// ferry release create|approve|list|show: named sets of packages that ship together, with their
// change record (RFC, owner, risk, rollback plan) and approvals.
import type { CommandModule } from 'yargs';
import { withClient } from '../with-client.js';
import { printJson, printLines, printTable, textLines } from '../output.js';
import { connectionFlags, type GlobalArgs } from './common.js';
import type { ReleaseShowReply } from '../../../shared/protocol/replies.js';


type CreateArgs = GlobalArgs & { name: string; package: string[]; rfc?: string; owner?: string; notes?: string; risk?: 'low' | 'medium' | 'high'; 'rollback-plan'?: string };

const create: CommandModule<GlobalArgs, CreateArgs> = {
  command: 'create <name>',
  describe: 'Create a release from DML packages (checked, and put in dependency order)',
  builder: (y) =>
    y
      .positional('name', { type: 'string', demandOption: true })
      .option('package', { type: 'string', array: true, demandOption: true, describe: 'NAME@VERSION (repeatable)' })
      .option('rfc', { type: 'string', describe: 'request-for-change id' })
      .option('owner', { type: 'string', describe: 'who answers for this release (default: you)' })
      .option('notes', { type: 'string' })
      .option('risk', { choices: ['low', 'medium', 'high'] as const, describe: 'override the computed risk level' })
      .option('rollback-plan', { type: 'string', describe: 'how to back this release out (default: the automatic plan)' }),
  handler: async (a) => {
    const body = {
      name: a.name,
      packages: a.package.map(String),
      // without --owner the server records the verified caller
      ...(a.owner ? { owner: a.owner } : {}),
      ...(a.rfc ? { rfc: a.rfc } : {}),
      ...(a.notes ? { notes: a.notes } : {}),
      ...(a.risk ? { risk: a.risk } : {}),
      ...(a['rollback-plan'] ? { rollbackPlan: a['rollback-plan'] } : {}),
    };
    const r = await withClient(connectionFlags(a), (c) => c.request('release.create', body));
    if (a.json) return printJson(r);
    printLines([
      `Created release ${r.name}: ${r.packages.map((p) => `${p.name}@${p.version}`).join(' → ')} (install order)`,
      ...r.requires.map((d) => `  hosts must already have ${d.name} ${d.range} (for ${d.package})`),
    ]);
  },
};

const approve: CommandModule<GlobalArgs, GlobalArgs & { name: string; comment?: string }> = {
  command: 'approve <name>',
  describe: 'Approve a release for environments whose policy requires approval',
  builder: (y) => y.positional('name', { type: 'string', demandOption: true }).option('comment', { type: 'string' }),
  handler: async (a) => {
    const r = await withClient(connectionFlags(a), (c) => c.request('release.approve', { name: a.name, ...(a.comment ? { comment: a.comment } : {}) }));
    if (a.json) return printJson(r);
    printLines([`Release ${r.name} has ${r.approvals.length} approval(s): ${r.approvals.map((x) => `${x.actor}${x.counts === false ? ` (not counted: ${x.reason})` : ''}`).join(', ')}`]);
  },
};

const list: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'list',
  describe: 'List releases, newest first',
  handler: async (a) => {
    const rs = await withClient(connectionFlags(a), (c) => c.request('release.list', {}));
    if (a.json) return printJson(rs);
    printTable(
      ['RELEASE', 'PACKAGES', 'RFC', 'OWNER', 'APPROVALS', 'CREATED'],
      rs.map((r) => [r.name, r.packages.map((p) => `${p.name}@${p.version}`).join(' '), r.rfc, r.owner, r.approvals.length, r.createdAt]),
    );
  },
};

const show: CommandModule<GlobalArgs, GlobalArgs & { name: string }> = {
  command: 'show <name>',
  describe: 'Show one release: packages in install order, change record, approvals, risk',
  builder: (y) => y.positional('name', { type: 'string', demandOption: true }),
  handler: async (a) => {
    const r = await withClient(connectionFlags(a), (c) => c.request('release.show', { name: a.name }));
    if (a.json) return printJson(r);
    printLines([
      `${r.name}  (created ${r.createdAt})`,
      `  RFC: ${r.rfc ?? '-'}   owner: ${r.owner ?? '-'}`,
      `  risk: ${r.risk.level}${r.risk.override ? ` (computed ${r.risk.computed})` : ''} — ${r.risk.factors.join('; ')}`,
      '  packages, in install order:',
      ...r.packageStates.map((p, i) => `    ${i + 1}. ${p.name}@${p.version}  (${p.state})`),
      ...r.requires.map((d) => `  hosts must already have ${d.name} ${d.range} (for ${d.package})`),
      `  approvals: ${r.approvals.length ? r.approvals.map((x) => `${x.actor} at ${x.at}${x.comment ? ` (${x.comment})` : ''}${x.via === 'console' ? ' (in the web console, sealed by the server)' : ''}${x.counts === false ? ` — not counted: ${x.reason}` : ''}`).join('; ') : 'none'}`,
      ...labelled('  rollback plan', r.rollbackPlan),
      ...(r.notes ? labelled('  notes', r.notes) : []),
      ...communicationPlan(r),
    ]);
  },
};

/** `label: text` on one line, or the label and then the text's lines indented under it. */
function labelled(label: string, text: string): string[] {
  return /[\r\n]/.test(text) ? [`${label}:`, ...textLines(text, `${' '.repeat(label.length - label.trimStart().length)}    `)] : [`${label}: ${text}`];
}

function communicationPlan(r: ReleaseShowReply): string[] {
  if (r.notify.length === 0) return ['  notifies: nobody (see: ferry notify add URL --events ... --release NAME)'];
  return ['  notifies:', ...r.notify.map((h) => `    ${h.id} ${h.url} (${h.events.join(',')}${h.scope === 'all' ? ', all releases' : ''})`)];
}

export const releaseCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'release <command>',
  aliases: ['releases'],
  describe: 'Releases: packages that ship together',
  builder: (y) => y.command(create).command(approve).command(list).command(show).demandCommand(1),
  handler: () => undefined,
};
