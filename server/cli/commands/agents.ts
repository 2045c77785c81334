// ferry agents list|show|tag|revoke|decommission and ferry cmdb show|versions|clone-config: the fleet as the CMDB sees it.
import { cloneConfig } from './clone-config.js';
import type { CommandModule } from 'yargs';
import { withClient } from '../with-client.js';
import { ago, printJson, printLines, printTable } from '../output.js';
import { connectionFlags, DURATION_OPTION, durationFlag, type GlobalArgs } from './common.js';
import { FerryError } from '../../../shared/errors.js';


const list: CommandModule<GlobalArgs, GlobalArgs & { target: string; all: boolean }> = {
  command: 'list',
  describe: 'List agents',
  builder: (y) =>
    y
      .option('target', { type: 'string', default: 'all', describe: 'selector, e.g. os=linux,env=prod' })
      .option('all', { type: 'boolean', default: false, describe: 'also list revoked and decommissioned agents (with their state)' }),
  handler: async (a) => {
    const agents = await withClient(connectionFlags(a), (c) => c.request('agents.list', { target: a.target, ...(a.all ? { all: true } : {}) }));
    if (a.json) return printJson(agents);
    printTable(
      ['AGENT', 'HOSTNAME', a.all ? 'STATE' : 'ONLINE', 'LAST SEEN', 'OS/ARCH', 'TAGS', 'INSTALLED'],
      agents.map((g) => [
        g.id,
        g.hostname,
        a.all && g.state !== 'active' ? (g.state ?? '?') : g.online ? 'yes' : 'no',
        ago(g.lastSeen),
        `${g.os ?? '?'}/${g.arch ?? '?'}`,
        Object.entries(g.tags).map(([k, v]) => `${k}=${v}`).join(' '),
        Object.entries(g.installed).map(([k, v]) => `${k}@${v}`).join(' '),
      ]),
    );
  },
};

const revoke: CommandModule<GlobalArgs, GlobalArgs & { id: string }> = {
  command: 'revoke <id>',
  describe: 'Revoke an agent: its NATS identity is removed at once and it no longer counts in targets',
  builder: (y) => y.positional('id', { type: 'string', demandOption: true }),
  handler: async (a) => {
    const r = await withClient(connectionFlags(a), (c) => c.request('agents.revoke', { id: a.id }));
    if (a.json) return printJson(r);
    printLines([`Revoked ${r.id} (${r.hostname}); its connection was closed and it cannot connect again`]);
  },
};

const decommission: CommandModule<GlobalArgs, GlobalArgs & { id: string; purge: boolean; 'purge-timeout': string }> = {
  command: 'decommission <id>',
  describe: 'Retire a host: stop its agent, revoke its identity, keep its history (--purge: uninstall its packages first)',
  builder: (y) =>
    y
      .positional('id', { type: 'string', demandOption: true, describe: 'agent id or hostname' })
      .option('purge', { type: 'boolean', default: false, describe: 'first uninstall every Ferry-managed package (hooks run), one by one' })
      .option('purge-timeout', { ...DURATION_OPTION, default: '60s', describe: 'with --purge: how long to wait for the removals in total' }),
  handler: async (a) => {
    const purgeTimeoutMs = durationFlag(a['purge-timeout'], '--purge-timeout');
    const body = { id: a.id, purge: a.purge, purgeTimeoutMs };
    const r = await withClient(connectionFlags(a), (c) => c.request('agents.decommission', body, purgeTimeoutMs + 30_000));
    if (a.json) return printJson(r);
    printLines([
      ...(r.purge ?? []).map((p) => `  ${p.package}@${p.version}: ${p.result}${p.error ? ` (${p.error})` : ''}`),
      `Decommissioned ${r.id} (${r.hostname}): ${r.stopped ? 'its agent stopped' : 'its agent did not answer (offline?)'}; its identity is revoked; its history stays in the CMDB`,
    ]);
  },
};

const TAG_KEY = /^[A-Za-z0-9_.-]{1,64}$/;
const TAG_HINT = 'e.g. ferry agent tag web-1 env=prod lane=blue --remove canary; keys are 1-64 of A-Z a-z 0-9 _ . -, values up to 256 characters';

/** `k=v` words into tags, checked as the join's tags are (the server checks again). */
function tagWords(words: string[]): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const w of words) {
    const eq = w.indexOf('=');
    if (eq <= 0) throw new FerryError('FERRY_INVALID_INPUT', `${JSON.stringify(w)} is not key=value`, { hint: TAG_HINT });
    const key = w.slice(0, eq);
    if (!TAG_KEY.test(key)) throw new FerryError('FERRY_INVALID_INPUT', `tag key ${JSON.stringify(key)} is not valid`, { hint: TAG_HINT });
    // Tags reach operators' terminals: no control characters (terminal escapes).
    if (/[\u0000-\u001f\u007f-\u009f]/.test(w)) throw new FerryError('FERRY_INVALID_INPUT', `tag ${JSON.stringify(w)} contains control characters`, { hint: TAG_HINT });
    const value = w.slice(eq + 1);
    if (value.length > 256) throw new FerryError('FERRY_INVALID_INPUT', `the value of tag ${key} is ${value.length} characters, more than 256`, { hint: TAG_HINT });
    tags[key] = value;
  }
  return tags;
}

const tag: CommandModule<GlobalArgs, GlobalArgs & { host: string; tags?: string[]; remove?: string[] }> = {
  command: 'tag <host> [tags..]',
  describe: 'Set or remove tags of a host (k=v ...; --remove k ...); rollouts that follow their target see the change',
  builder: (y) =>
    y
      .positional('host', { type: 'string', demandOption: true, describe: 'agent id or hostname' })
      .positional('tags', { type: 'string', array: true, describe: 'tags to set, key=value' })
      .option('remove', { type: 'string', array: true, describe: 'tag keys to remove (repeatable)' }),
  handler: async (a) => {
    const set = tagWords((a.tags ?? []).map(String));
    const remove = (a.remove ?? []).map(String);
    const bad = remove.find((k) => !TAG_KEY.test(k));
    if (bad !== undefined) throw new FerryError('FERRY_INVALID_INPUT', `--remove ${JSON.stringify(bad)} is not a tag key`, { hint: `give keys after --remove, tags to set before it; ${TAG_HINT}` });
    if (Object.keys(set).length === 0 && remove.length === 0) throw new FerryError('FERRY_INVALID_INPUT', 'no tag to set or remove', { hint: TAG_HINT });
    const r = await withClient(connectionFlags(a), (c) => c.request('agents.tag', { host: a.host, set, remove }));
    if (a.json) return printJson(r);
    const text = Object.entries(r.tags).map(([k, v]) => `${k}=${v}`).join(' ') || 'none';
    printLines([r.changed ? `Tagged ${r.hostname} (${r.id}): ${text}` : `${r.hostname} (${r.id}) already has these tags: ${text}`]);
  },
};

export const agentsCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'agent <command>',
  aliases: ['agents'],
  describe: 'The agents that joined this server',
  builder: (y) => y.command(list).command(show).command(tag).command(revoke).command(decommission).demandCommand(1),
  handler: () => undefined,
};

const show: CommandModule<GlobalArgs, GlobalArgs & { host: string }> = {
  command: 'show <host>',
  describe: 'One host: its agent id, inventory, installed versions and change history (by agent id, or by a hostname only one agent has)',
  builder: (y) => y.positional('host', { type: 'string', demandOption: true, describe: 'agent id or hostname' }),
  handler: async (a) => {
    const d = await withClient(connectionFlags(a), (c) => c.request('cmdb.show', { host: a.host }));
    if (a.json) return printJson(d);
    const inv = d.inventory;
    printLines([
      `${d.hostname} (${d.id}) — ${d.state && d.state !== 'active' ? `${d.state}, ` : ''}${d.online ? 'online' : 'offline'}, last seen ${ago(d.lastSeen)}, joined ${d.joinedAt}`,
      inv
        ? `  ${inv.distro} ${inv.release}, kernel ${inv.kernel}, ${d.arch}, ${inv.cpu.cores}× ${inv.cpu.model}, ${Math.round(inv.memoryMB)} MiB, ${inv.virtual ? 'virtual' : 'physical'}`
        : '  no inventory reported yet',
      `  tags: ${Object.entries(d.tags).map(([k, v]) => `${k}=${v}`).join(' ') || 'none'}`,
      `  installed: ${Object.entries(d.installed).map(([k, v]) => `${k}@${v}`).join(' ') || 'nothing'}`,
      `  drift: ${d.drift.length ? d.drift.map((x) => `${x.package}@${x.version}: ${x.modified.length} modified (${x.modified.slice(0, 3).join(', ')}), ${x.missing.length} missing (${x.missing.slice(0, 3).join(', ')})`).join('; ') : 'none'}`,
      '',
      'History (newest first):',
    ]);
    printTable(
      ['WHEN', 'WHAT', 'PACKAGE', 'VERSION', 'FROM', 'RESULT', 'OPERATION', 'DETAIL'],
      d.history.map((h) => [new Date(h.ts).toISOString(), h.kind, h.package, h.version, h.fromVersion, h.result, h.operation, h.detail]),
    );
  },
};

const versions: CommandModule<GlobalArgs, GlobalArgs & { package: string; target: string }> = {
  command: 'versions <package>',
  describe: 'How the versions of a package are spread across the fleet',
  builder: (y) => y.positional('package', { type: 'string', demandOption: true }).option('target', { type: 'string', default: 'all', describe: 'only these hosts (selector)' }),
  handler: async (a) => {
    const d = await withClient(connectionFlags(a), (c) => c.request('cmdb.versions', { package: a.package, target: a.target }));
    if (a.json) return printJson(d);
    const pct = (n: number) => `${((n / Math.max(1, d.hosts)) * 100).toFixed(0)}%`;
    printTable(
      ['VERSION', 'HOSTS', 'SHARE', 'EXAMPLES'],
      [
        ...d.versions.map((v) => [v.version, v.hosts, pct(v.hosts), v.hostnames.slice(0, 3).join(' ') + (v.hostnames.length > 3 ? ' …' : '')]),
        ...(d.notInstalled ? [['(not installed)', d.notInstalled, pct(d.notInstalled), '']] : []),
      ],
    );
  },
};

export const cmdbCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'cmdb <command>',
  describe: 'The configuration management database',
  builder: (y) => y.command(show).command(versions).command(cloneConfig).demandCommand(1),
  handler: () => undefined,
};
