// ferry rollout start|status|list|review|pause|resume|abort|rollback|retry|start-now|stop-follow.
import type { CommandModule } from 'yargs';
import { parseStartAt } from '../../../shared/windows.js';
import { parseRate } from '../../../shared/rates.js';
import { FerryError } from '../../../shared/errors.js';
import { checkOutFile, writeOutFile } from '../../../shared/out-file.js';
import { TERMINAL_ROLLOUT_STATES, type RolloutState } from '../../../shared/protocol/rollout-states.js';
import type { ApiReplyOf, RolloutStatusDoc } from '../../../shared/protocol/replies.js';
import type { AdminClient } from '../client.js';
import { withClient } from '../with-client.js';
import { printJson, printLines, printNote, printTable } from '../output.js';
import { printStatus, renderReviewMarkdown } from '../render/rollout.js';
import { rolloutEnded, stillRunning, watchRollout } from '../render/watch.js';
import { connectionFlags, DURATION_OPTION, durationFlag, nonBlank, waitTimeoutMs, type GlobalArgs } from './common.js';

interface StartArgs extends GlobalArgs {
  release?: string;
  remove?: string;
  target: string;
  strategy: 'big-bang' | 'phased';
  waves?: string;
  soak: string;
  'max-failures': string;
  'on-failure': 'halt' | 'rollback';
  'host-timeout': string;
  'max-rate'?: string;
  'include-offline': boolean;
  'dry-run': boolean;
  wait: boolean;
  timeout?: string;
  window?: string;
  timezone?: string;
  'start-at'?: string;
  force: boolean;
  reason?: string;
  'allow-empty': boolean;
  supersede: boolean;
  follow: boolean;
}

const start: CommandModule<GlobalArgs, StartArgs> = {
  command: 'start [release]',
  describe: 'Start rolling a release out to the fleet (or, with --remove, uninstalling a package); prints the rollout id',
  builder: (y) =>
    y
      .positional('release', { type: 'string', describe: 'the release to install' })
      .option('remove', { type: 'string', describe: 'uninstall this package from the targeted hosts instead (same waves, gates and windows)' })
      .option('target', { type: 'string', default: 'all', describe: 'selector: all, or k=v[,k=v…] over tags and facts' })
      .option('strategy', { choices: ['big-bang', 'phased'] as const, default: 'big-bang' as const })
      .option('waves', { type: 'string', describe: 'cumulative waves for phased, e.g. 1,10%,50%,100%' })
      .option('soak', { ...DURATION_OPTION, default: '0s', describe: 'how long a wave must stay healthy before the next' })
      .option('max-failures', { type: 'string', default: '0', describe: 'failures tolerated per wave: N or P%' })
      .option('on-failure', { choices: ['halt', 'rollback'] as const, default: 'halt' as const })
      .option('host-timeout', { ...DURATION_OPTION, default: '15m', describe: 'a host that takes longer counts as failed' })
      .option('max-rate', { type: 'string', describe: 'per agent: pace package downloads to RATE, e.g. 5MiB/s (a WAN link is not saturated)' })
      .option('include-offline', { type: 'boolean', default: false, describe: 'target offline hosts too (they converge when they return)' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'print the plan without starting' })
      .option('window', { type: 'string', describe: 'start waves only inside this window, e.g. "Mon-Fri 22:00-05:00" or "Sat,Sun"' })
      .option('timezone', { type: 'string', describe: 'time zone of --window (IANA name; default UTC)' })
      .option('start-at', { type: 'string', describe: 'do not start before this time (ISO 8601, or +2h)' })
      .option('force', { type: 'boolean', default: false, describe: 'start although the deployment policy refuses it (needs --reason; audited)' })
      .option('reason', { type: 'string', describe: 'why the policy is overridden (with --force)' })
      .option('allow-empty', { type: 'boolean', default: false, describe: 'start even if the selector matches no host (otherwise FERRY_NO_TARGETS)' })
      .option('supersede', { type: 'boolean', default: false, describe: 'end unfinished rollouts of the same packages for the hosts this one takes (otherwise FERRY_CONFLICT)' })
      .option('follow', { type: 'boolean', default: false, describe: 'after the waves, bring hosts that join or start matching --target to the release too (same health checks), until superseded or stop-follow' })
      .option('wait', { type: 'boolean', default: false, describe: 'block until the rollout ends; exit 0 only if it completed' })
      .option('timeout', { ...DURATION_OPTION, describe: 'with --wait: give up waiting after this long' }),
  handler: async (a) => {
    if ((a.release === undefined) === (a.remove === undefined)) {
      throw new FerryError('FERRY_USAGE', a.release === undefined ? 'say what to roll out: a RELEASE, or --remove PACKAGE' : 'give either a RELEASE to install or --remove PACKAGE, not both', {
        hint: 'ferry rollout start RELEASE … | ferry rollout start --remove PACKAGE …',
      });
    }
    const timeoutMs = waitTimeoutMs(a);
    // An empty --waves or --start-at is refused, not taken for "not given" (server/cli/input.ts checks the rest).
    const waves = nonBlank(a.waves, '--waves');
    const startAt = nonBlank(a['start-at'], '--start-at');
    const body = {
      ...(a.release !== undefined ? { release: a.release } : { remove: a.remove }),
      target: a.target,
      strategy: a.strategy,
      ...(waves !== undefined ? { waves: waves.split(',').map((w) => w.trim()) } : {}),
      soakMs: durationFlag(a.soak, '--soak'),
      maxFailures: a['max-failures'],
      onFailure: a['on-failure'],
      hostTimeoutMs: durationFlag(a['host-timeout'], '--host-timeout'),
      ...(a['max-rate'] !== undefined ? { maxRateBps: parseRate(a['max-rate']) } : {}),
      includeOffline: a['include-offline'],
      dryRun: a['dry-run'],
      ...(a.window !== undefined ? { window: a.window } : {}),
      ...(a.timezone !== undefined ? { timeZone: a.timezone } : {}),
      ...(startAt !== undefined ? { startAt: parseStartAt(startAt).getTime() } : {}),
      ...(a.force ? { force: true } : {}),
      ...(a.reason !== undefined ? { reason: a.reason } : {}),
      ...(a['allow-empty'] ? { allowEmpty: true } : {}),
      ...(a.supersede ? { supersede: true } : {}),
      ...(a.follow ? { follow: true } : {}),
    };
    await withClient(connectionFlags(a), async (c) => {
      const result = await c.request('rollout.start', body);
      if (!a.json) for (const note of result.notes ?? []) printNote(`note: ${note}`);
      if ('dryRun' in result) return a.json ? printJson(result) : printPlan(result);
      if (!a.json) for (const c of result.superseded ?? []) printNote(`superseded rollout ${c.rollout} (${c.release}) on ${c.hosts.length} host(s)`);
      if (result.policy.override && !a.json) printNote(`policy overridden by ${result.policy.override.actor} (${result.policy.override.reason}): ${result.policy.violations.join('; ')}`);
      if (!a.wait) {
        return a.json
          ? printJson({ id: result.id, state: result.state, release: result.release, operation: result.operation, strategy: result.strategy, hosts: result.hosts.length, risk: result.policy.risk.level, policy: result.policy, notes: result.notes ?? [], superseded: result.superseded ?? [] })
          : printLines([result.id]);
      }
      if (!a.json) printNote(`rollout ${result.id} started; waiting for it to end…`);
      const final = await waitForEnd(c, result.id, timeoutMs, !a.json);
      if (a.json && final.state === 'completed') printJson(final);
      if (!a.json) printStatus(final);
      endedOrFail(final);
    });
  },
};

type DryRunPlan = Extract<ApiReplyOf<'rollout.start'>, { dryRun: true }>;

function printPlan(p: DryRunPlan): void {
  const envs = p.policy.environments.map((e) => e || '(no env tag)').join(', ') || 'none';
  printLines([
    `Plan for ${p.release} (${p.strategy}, target ${p.target}) — nothing was started`,
    ...p.waves.map((w) => `  wave ${w.index + 1}: ${w.hosts} host(s)`),
    `  risk: ${p.policy.risk.level} — ${p.policy.risk.factors.join('; ')}`,
    `  policy (environments: ${envs}): ${p.policy.violations.length ? `would be REFUSED — ${p.policy.violations.join('; ')}` : 'allowed'}`,
    ...p.policy.evidence.map((e) => `  evidence: completed on ${e.environment} in ${e.rollout}`),
    ...(p.downgrades ? [`  DOWNGRADE on ${p.downgrades} host(s): agents refuse a downgrade that is not a rollback`] : []),
    ...(p.conflicts ?? []).map((c) => `  CONFLICT: rollout ${c.rollout} (${c.release}, ${c.state}) still holds ${c.hosts.length} of these hosts — refused unless --supersede`),
  ]);
  const why = (h: DryRunPlan['hosts'][number]) => (h.downgrades?.length ? `${h.reason}; DOWNGRADE ${h.downgrades.map((d) => `${d.name} ${d.from} → ${d.to}`).join(', ')}` : h.reason);
  printTable(['HOST', 'AGENT', 'WAVE', 'WHY'], p.hosts.map((h) => [h.hostname, h.agent, h.wave === null ? 'skip' : h.wave + 1, why(h)]));
}

export async function waitForEnd(c: AdminClient, id: string, timeoutMs: number | undefined, showProgress = false): Promise<RolloutStatusDoc> {
  const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
  // A person at a terminal sees one progress bar on stderr, drawn in place and cleared at the end.
  const progress = showProgress && process.stderr.isTTY === true ? new (await import('../render/progress.js')).RolloutProgress() : undefined;
  try {
    for (;;) {
      const s = await c.request('rollout.status', { id });
      progress?.show(s);
      if (rolloutEnded(s)) return s;
      if (Date.now() > deadline) throw stillRunning(s);
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    progress?.stop();
  }
}

const status: CommandModule<GlobalArgs, GlobalArgs & { id?: string; watch: boolean; wait: boolean; timeout?: string; interval: string }> = {
  command: 'status [id]',
  // `show` is what `release show`, `dml show` and `agents show` lead an operator to try
  aliases: ['show'],
  describe: 'Per-wave and per-host progress of a rollout (default: the newest); --watch follows it, --wait waits for its end; both exit non-zero unless it completed',
  builder: (y) =>
    y
      .positional('id', { type: 'string' })
      .option('watch', { type: 'boolean', default: false, describe: 'follow until the rollout ends (redrawn in place on a terminal); exit 6 unless it completed' })
      .option('wait', { type: 'boolean', default: false, describe: 'wait until the rollout ends, then print its final status; exit 6 unless it completed' })
      .option('timeout', { ...DURATION_OPTION, describe: 'with --wait or --watch: give up after this long (FERRY_TIMEOUT); default: no limit' })
      .option('interval', { ...DURATION_OPTION, default: '1s', describe: 'with --watch: how often to ask the server' }),
  handler: async (a) => {
    const intervalMs = durationFlag(a.interval, '--interval', { positive: true });
    const timeoutMs = waitTimeoutMs({ wait: a.wait || a.watch, timeout: a.timeout });
    await withClient(connectionFlags(a), async (c) => {
      const ask = async (id = a.id) => await c.request('rollout.status', id !== undefined ? { id } : {});
      if (!a.watch && !a.wait) {
        const s = await ask();
        return a.json ? printJson(s) : printStatus(s);
      }
      // With --json, following prints one document too: the final status (the failure's error in it).
      const final = a.watch && !a.json
        ? await watchRollout(ask, { intervalMs, timeoutMs })
        : await waitForEnd(c, a.id ?? (await ask()).id, timeoutMs, !a.json);
      if (a.json && final.state === 'completed') printJson(final);
      if (!a.json && !a.watch) printStatus(final);
      endedOrFail(final);
    });
  },
};

/** --watch and --wait share the verdict: anything but completed is FERRY_ROLLOUT_FAILED (exit 6). */
function endedOrFail(final: RolloutStatusDoc): void {
  if (final.state === 'completed') return;
  throw new FerryError('FERRY_ROLLOUT_FAILED', `rollout ${final.id} ended ${final.state}${final.reason ? `: ${final.reason}` : ''}`, {
    // With --json the failure is the one document: the final status with the error in it.
    details: final as unknown as Record<string, unknown>,
    hint: `see: ferry rollout review ${final.id}`,
  });
}

const list: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'list',
  describe: 'List rollouts, newest first',
  handler: async (a) => {
    const rs = await withClient(connectionFlags(a), (c) => c.request('rollout.list', {}));
    if (a.json) return printJson(rs);
    printTable(['ROLLOUT', 'RELEASE', 'STRATEGY', 'STATE', 'TARGET', 'HOSTS', 'CREATED'], rs.map((r) => [r.id, r.release, r.strategy, r.state, r.target, r.hosts, r.createdAt]));
  },
};

const review: CommandModule<GlobalArgs, GlobalArgs & { id: string; out?: string }> = {
  command: 'review <id>',
  describe: 'The post-implementation review of a rollout, as Markdown (or --json)',
  builder: (y) => y.positional('id', { type: 'string', demandOption: true }).option('out', { type: 'string', describe: 'write the Markdown to FILE' }),
  handler: async (a) => {
    if (a.json && a.out) throw new FerryError('FERRY_USAGE', '--out writes the Markdown and --json prints the review as JSON: choose one');
    if (a.out) checkOutFile(a.out, { overwrite: true });
    const r = await withClient(connectionFlags(a), (c) => c.request('rollout.review', { id: a.id }));
    if (a.json) return printJson(r);
    const markdown = renderReviewMarkdown(r);
    if (a.out) {
      writeOutFile(a.out, markdown);
      printLines([`Wrote the review of ${r.id} to ${a.out}`]);
    } else process.stdout.write(markdown);
  },
};

function actionCommand(action: 'pause' | 'resume' | 'abort' | 'rollback' | 'retry' | 'start-now' | 'stop-follow', describe: string): CommandModule<GlobalArgs, GlobalArgs & { id: string }> {
  return {
    command: `${action} <id>`,
    describe,
    builder: (y) => y.positional('id', { type: 'string', demandOption: true }),
    handler: async (a) => {
      const s = await withClient(connectionFlags(a), (c) => c.request('rollout.action', { id: a.id, action }));
      if (a.json) return printJson(s);
      printLines([action === 'stop-follow' ? `Rollout ${s.id} no longer follows its target (${s.state})` : `Rollout ${s.id} is now ${s.state}`]);
    },
  };
}

export const rolloutCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'rollout <command>',
  aliases: ['rollouts'],
  describe: 'Roll releases out to the fleet and follow them',
  builder: (y) =>
    y
      .command(start)
      .command(status)
      .command(list)
      .command(review)
      .command(actionCommand('pause', 'Stop starting new waves (hosts already sent finish)'))
      .command(actionCommand('resume', 'Continue a paused rollout'))
      .command(actionCommand('abort', 'End a rollout now; nothing more is sent (also a rollback that some host never reports)'))
      .command(actionCommand('rollback', 'Return every host this rollout changed to its previous version'))
      .command(actionCommand('retry', 'Send a halted rollout again to its failed hosts (gated like a wave: window, soak, --max-failures), then go on'))
      .command(actionCommand('start-now', 'Start a rollout waiting for its --start-at now (audited); a --window is still respected'))
      .command(actionCommand('stop-follow', 'Stop a --follow rollout bringing in hosts that join or start matching its target (those already sent finish)'))
      .demandCommand(1),
  handler: () => undefined,
};
