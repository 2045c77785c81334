// ferry notify add|list|remove|test: webhooks that receive Ferry's events, signed (docs/events.md).
import type { CommandModule } from 'yargs';
import { FerryError } from '../../../shared/errors.js';
import { withClient } from '../with-client.js';
import { ago, printJson, printLines, printTable } from '../output.js';
import { connectionFlags, type GlobalArgs } from './common.js';
import type { WebhookDoc } from '../../notify/service.js';


const add: CommandModule<GlobalArgs, GlobalArgs & { url: string; events: string[]; secret?: string; release?: string }> = {
  command: 'add <url>',
  describe: 'Send matching events to a webhook (prints its signing secret once)',
  builder: (y) =>
    y
      .positional('url', { type: 'string', demandOption: true, describe: 'http(s) URL to POST events to' })
      .option('events', { type: 'string', array: true, demandOption: true, describe: 'event types or globs, comma-separated: rollout.completed,rollout.halted or "rollout.*" or "*"' })
      .option('secret', { type: 'string', describe: 'HMAC secret (default: a random one, printed once)' })
      .option('release', { type: 'string', describe: "only this release's events (its communication plan)" }),
  handler: async (a) => {
    const events = a.events.flatMap((e) => String(e).split(',')).map((e) => e.trim()).filter(Boolean);
    const body = { url: String(a.url), events, ...(a.secret !== undefined ? { secret: String(a.secret) } : {}), ...(a.release !== undefined ? { release: String(a.release) } : {}) };
    const r = await withClient(connectionFlags(a), (c) => c.request('notify.add', body));
    if (a.json) return printJson(r);
    printLines([
      `Added webhook ${r.id}: ${r.url}`,
      `  events: ${r.events.join(', ')}${r.release ? ` (release ${r.release} only)` : ''}`,
      ...(a.secret === undefined ? [`  secret: ${r.secret}`, '  (shown once: verify X-Ferry-Signature with it, see docs/events.md)'] : []),
    ]);
  },
};

const list: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'list',
  describe: 'List webhooks with their delivery state (secrets are never shown)',
  handler: async (a) => {
    const hooks = await withClient(connectionFlags(a), (c) => c.request('notify.list', {}));
    if (a.json) return printJson(hooks);
    printTable(
      ['ID', 'URL', 'EVENTS', 'RELEASE', 'LAST', 'PENDING', 'DELIVERED', 'FAILURES'],
      hooks.map((h) => [h.id, h.url, h.events.join(','), h.release, lastDelivery(h), h.pending, h.delivered, h.failures]),
    );
  },
};

const remove: CommandModule<GlobalArgs, GlobalArgs & { id: string }> = {
  command: 'remove <id>',
  describe: 'Stop sending events to a webhook',
  builder: (y) => y.positional('id', { type: 'string', demandOption: true }),
  handler: async (a) => {
    const r = await withClient(connectionFlags(a), (c) => c.request('notify.remove', { id: String(a.id) }));
    if (a.json) return printJson(r);
    printLines([`Removed webhook ${a.id}`]);
  },
};

const test: CommandModule<GlobalArgs, GlobalArgs & { id: string }> = {
  command: 'test <id>',
  describe: 'Send a signed notify.test event now and show the answer',
  builder: (y) => y.positional('id', { type: 'string', demandOption: true }),
  handler: async (a) => {
    const r = await withClient(connectionFlags(a), (c) => c.request('notify.test', { id: String(a.id) }));
    if (!r.ok) throw new FerryError('FERRY_DELIVERY_FAILED', `webhook ${r.id} did not accept the test event: ${r.error ?? `HTTP ${r.status}`}`, { hint: 'the receiver must answer 2xx', details: r });
    if (a.json) return printJson(r);
    printLines([`Webhook ${r.id} answered HTTP ${r.status} in ${r.durationMs} ms`]);
  },
};

function lastDelivery(h: WebhookDoc): string {
  if (h.lastAttemptAt === null) return 'never';
  if (h.lastError) return `${h.lastError} (${ago(h.lastAttemptAt)})`;
  return `HTTP ${h.lastStatus} (${ago(h.lastDeliveredAt)})`;
}

export const notifyCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'notify <command>',
  describe: 'Webhooks: signed event notifications',
  builder: (y) => y.command(add).command(list).command(remove).command(test).demandCommand(1),
  handler: () => undefined,
};
