// ferry audit: every administrative action — who, when, what, and the result. Append-only.
import type { CommandModule } from 'yargs';
import type { AuditEntry } from '../../audit/log.js';
import { FerryError } from '../../../shared/errors.js';
import { withClient } from '../with-client.js';
import { printJson, printLines, printTable } from '../output.js';
import { connectionFlags, DURATION_OPTION, durationFlag, parsePositiveInt, type GlobalArgs } from './common.js';

type AuditArgs = GlobalArgs & { verify?: string; since?: string; actor?: string; action?: string; limit: number };

export const auditCommand: CommandModule<GlobalArgs, AuditArgs> = {
  command: 'audit [verify]',
  describe: 'The audit log of administrative actions, oldest first; `ferry audit verify` checks its hash chain',
  builder: (y) =>
    y
      .positional('verify', { type: 'string', choices: ['verify'], describe: '`ferry audit verify`: check the hash chain, exit 1 at the first changed, inserted or deleted record' })
      .option('since', { ...DURATION_OPTION, describe: 'only this recent, e.g. 24h' })
      .option('actor', { type: 'string', describe: 'only this person' })
      .option('action', { type: 'string', describe: 'only this action, or a prefix with *, e.g. rollout.*' })
      .option('limit', { type: 'number', default: 1000, describe: 'the newest N entries' }),
  handler: async (a) => {
    if (a.verify === 'verify') return verify(a);
    const body = {
      limit: parsePositiveInt(a.limit, '--limit'),
      // an empty filter is refused (server/cli/input.ts for --actor and --action), not taken for "every entry"
      ...(a.since !== undefined ? { since: Date.now() - durationFlag(a.since, '--since') } : {}),
      ...(a.actor !== undefined ? { actor: a.actor } : {}),
      ...(a.action !== undefined ? { action: a.action } : {}),
    };
    const entries = await withClient(connectionFlags(a), (c) => c.request('audit.list', body));
    if (a.json) return printJson(entries);
    printTable(
      ['WHEN', 'WHO', 'ACTION', 'TARGET', 'RESULT', 'DETAIL'],
      entries.map((e) => [e.at, e.actor, e.action, e.target, e.result === 'ok' ? 'ok' : e.error, detail(e)]),
    );
  },
};

async function verify(a: AuditArgs): Promise<void> {
  const r = await withClient(connectionFlags(a), (c) => c.request('audit.verify', {}));
  if (r.ok) return a.json ? printJson(r) : printLines([`audit log intact: ${r.records} record(s), head ${r.head}`]);
  const b = r.firstBreak!;
  // With --json the failure is the one document: the report with the error in it.
  throw new FerryError('FERRY_AUDIT_TAMPERED', `audit record ${b.id} was ${b.kind}: ${b.detail} (${r.records} record(s) before it verified)`, {
    details: r as unknown as Record<string, unknown>,
    hint: 'restore the database from a backup and compare; the log after this record cannot be trusted',
  });
}

/** The arguments worth a glance (the rest is in --json). */
function detail(e: AuditEntry): string {
  const { name: _n, version: _v, id: _i, ...rest } = e.args;
  const text = Object.entries(rest)
    .filter(([, v]) => v !== undefined && v !== false && !(Array.isArray(v) && v.length === 0))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}
