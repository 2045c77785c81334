// ferry cmdb clone-config PROD_HOST --to TEST_HOST: test a release on a copy of production. One
// rollout gives the test host exactly the package versions the production host runs (installs,
// downgrades and removals); `--wait` follows it like `rollout start --wait`.
import type { CommandModule } from 'yargs';
import { FerryError } from '../../../shared/errors.js';
import type { CloneResult } from '../../rollouts/service.js';
import { withClient } from '../with-client.js';
import { printJson, printLines, printNote, printTable } from '../output.js';
import { printStatus } from '../render/rollout.js';
import { connectionFlags, DURATION_OPTION, durationFlag, waitTimeoutMs, type GlobalArgs } from './common.js';
import { waitForEnd } from './rollout.js';

interface CloneArgs extends GlobalArgs {
  prod: string;
  to: string;
  'host-timeout': string;
  'dry-run': boolean;
  supersede: boolean;
  wait: boolean;
  timeout?: string;
}

type Summary = Extract<CloneResult, { identical: true }>;

function changeLines(r: Pick<Summary, 'install' | 'remove'>): string[] {
  return [
    ...r.install.map((p) => `  install ${p.name}@${p.version}${p.downgrade ? ' (downgrade)' : ''}`),
    ...r.remove.map((n) => `  remove  ${n}`),
  ];
}

export const cloneConfig: CommandModule<GlobalArgs, CloneArgs> = {
  command: 'clone-config <prod>',
  describe: 'Give a test host exactly the package versions a production host runs (one rollout: installs and removals); prints the rollout id',
  builder: (y) =>
    y
      .positional('prod', { type: 'string', demandOption: true, describe: 'the production host to copy (agent id or hostname)' })
      .option('to', { type: 'string', demandOption: true, describe: 'the test host that gets the copy (agent id or hostname)' })
      .option('host-timeout', { ...DURATION_OPTION, default: '15m', describe: 'the copy fails if the test host takes longer' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'print the changes without starting' })
      .option('supersede', { type: 'boolean', default: false, describe: 'end unfinished rollouts of the same packages on the test host (otherwise FERRY_CONFLICT)' })
      .option('wait', { type: 'boolean', default: false, describe: 'block until the copy ends; exit 0 only if it completed' })
      .option('timeout', { ...DURATION_OPTION, describe: 'with --wait: give up waiting after this long' }),
  handler: async (a) => {
    const timeoutMs = waitTimeoutMs(a);
    const body = { from: a.prod, to: a.to, hostTimeoutMs: durationFlag(a['host-timeout'], '--host-timeout'), dryRun: a['dry-run'], supersede: a.supersede };
    await withClient(connectionFlags(a), async (c) => {
      const r = await c.request('cmdb.clone', body);
      const pair = `${r.to.hostname} (${r.to.agent}) ← ${r.from.hostname} (${r.from.agent})`;
      if ('identical' in r) {
        if (a.json) return printJson(r);
        return printLines([`${r.to.hostname} already runs exactly the versions of ${r.from.hostname} (${r.unchanged} package(s)); nothing to do, no rollout started`]);
      }
      if (!a.json) for (const note of r.notes) printNote(`note: ${note}`);
      if ('dryRun' in r) {
        if (a.json) return printJson(r);
        printLines([`Plan for the copy ${pair} — nothing was started`, ...changeLines(r), `  ${r.unchanged} package(s) already at the production version`]);
        for (const v of r.violations) printLines([`  POLICY: would be REFUSED — ${v}`]);
        if (r.conflicts.length) printTable(['CONFLICT', 'RELEASE', 'STATE'], r.conflicts.map((x) => [x.rollout, x.release, x.state]));
        return;
      }
      if (!a.json) for (const s of r.superseded) printNote(`superseded rollout ${s.rollout} (${s.release}) on ${s.hosts.length} host(s)`);
      if (!a.wait) {
        if (a.json) return printJson({ id: r.id, state: r.state, release: r.release, operation: r.operation, copyOf: r.copyOf, from: r.from, to: r.to, install: r.install, remove: r.remove, unchanged: r.unchanged, notes: r.notes, superseded: r.superseded });
        for (const line of [`copy ${pair}:`, ...changeLines(r)]) printNote(line);
        return printLines([r.id]);
      }
      if (!a.json) printNote(`rollout ${r.id} copies ${pair}; waiting for it to end…`);
      const final = await waitForEnd(c, r.id, timeoutMs, !a.json);
      const failed = final.state !== 'completed';
      if (a.json && !failed) printJson(final);
      if (!a.json) printStatus(final);
      if (failed) {
        throw new FerryError('FERRY_ROLLOUT_FAILED', `rollout ${final.id} ended ${final.state}${final.reason ? `: ${final.reason}` : ''}`, {
          details: final as unknown as Record<string, unknown>,
          hint: `see: ferry rollout review ${final.id}`,
        });
      }
    });
  },
};
