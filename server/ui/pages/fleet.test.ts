import { describe, expect, it } from 'vitest';
import type { ApiVerb } from '../../../shared/protocol/api.js';
import type { AgentDoc, FleetStatusReply, RolloutStatusDoc } from '../../../shared/protocol/replies.js';
import type { PageContext } from './context.js';
import { bySite, byTag, fleetPage } from './fleet.js';
import { rolloutPage } from './rollouts.js';

function ctxOf(replies: Partial<Record<ApiVerb, unknown>>): PageContext {
  return {
    caller: { name: 'ada', role: 'viewer' },
    csrf: 'csrf-token',
    url: new URL('http://console.test/'),
    call: async (verb) => {
      if (!(verb in replies)) throw new Error(`unexpected call ${verb}`);
      return replies[verb];
    },
  };
}

const hrefsOf = (text: string) => [...text.matchAll(/<a href="(\/hosts\/[^"]*)">([^<]*)<\/a>/g)].map((m) => [m[1], m[2]]);

describe('host links', () => {
  // two agents share the hostname "vm": the host page refuses that hostname (FERRY_AMBIGUOUS),
  // so every link goes by agent id and shows the hostname
  const agent = (id: string): AgentDoc => ({ id, hostname: 'vm', online: true, lastSeen: null, tags: {}, os: null, arch: null, installed: {} }) as AgentDoc;

  it('fleet page: failing, drifted and listed hosts link by agent id', async () => {
    const status = {
      hosts: { total: 2, online: 2, offline: 0, failing: 2, drifted: 2 },
      failing: [{ id: 'agent-a', hostname: 'vm', detail: null }, { id: 'agent-b', hostname: 'vm', detail: null }],
      drifted: [{ id: 'agent-a', hostname: 'vm', packages: ['web'] }, { id: 'agent-b', hostname: 'vm', packages: ['web'] }],
      offline: [],
      rollouts: [],
    } as FleetStatusReply;
    const page = await fleetPage(ctxOf({ 'fleet.status': status, 'agents.list': [agent('agent-a'), agent('agent-b')], 'site.list': [] }));
    const links = hrefsOf(page.body.text);
    expect(links).toEqual([
      ['/hosts/agent-a', 'vm'], ['/hosts/agent-b', 'vm'], // failing
      ['/hosts/agent-a', 'vm'], ['/hosts/agent-b', 'vm'], // drifted
      ['/hosts/agent-a', 'vm'], ['/hosts/agent-b', 'vm'], // the host table
    ]);
  });

  it('rollout page: each host links by agent id', async () => {
    const T = '2026-12-05T10:00:00.000Z';
    const status = {
      id: 'r-1', release: 'web-2026.12', operation: 'install', strategy: 'phased', state: 'running', target: 'all', reason: null,
      createdAt: T, startedAt: T,
      options: { waves: ['100%'], soakMs: 0, maxFailures: '1', onFailure: 'halt', hostTimeoutMs: 60_000, includeOffline: false },
      counts: { sent: 2 },
      waves: [{ index: 0, state: 'running', hosts: 2, succeeded: 0, failed: 0, pending: 2, startedAt: T }],
      hosts: [{ agent: 'agent-a', hostname: 'vm', wave: 0, state: 'sent' }, { agent: 'agent-b', hostname: 'vm', wave: 0, state: 'sent' }],
    } as unknown as RolloutStatusDoc;
    const page = await rolloutPage(ctxOf({ 'rollout.status': status }), 'r-1');
    expect(hrefsOf(page.body.text)).toEqual([['/hosts/agent-a', 'vm'], ['/hosts/agent-b', 'vm']]);
  });
});

describe('fleet by tag', () => {
  it('counts online and offline hosts per key=value, sorted, each linking to its selector (escaped)', () => {
    const text = byTag([
      { tags: { env: 'prod', role: 'web' }, online: true },
      { tags: { env: 'prod' }, online: false },
      { tags: { env: 'test', note: 'a"b<c' }, online: true },
    ]).text;
    const rows = [...text.matchAll(/<tr data-tag="([^"]+)">.*?<td>(\d+)<\/td><td[^>]*>(\d+)<\/td><\/tr>/gs)].map((m) => [m[1], Number(m[2]), Number(m[3])]);
    expect(rows).toEqual([['env=prod', 1, 1], ['env=test', 1, 0], ['note=a&quot;b&lt;c', 1, 0], ['role=web', 1, 0]]);
    expect(text).toContain('href="/?target=env%3Dprod"');
    expect(text).not.toContain('a"b<c');
  });

  it('says so when no host has a tag', () => {
    expect(byTag([{ tags: {}, online: true }]).text).toContain('no tags');
  });
});

describe('fleet by site', () => {
  const rowsOf = (text: string) => [...text.matchAll(/<tr data-site="([^"]*)">.*?<td>(\d+)<\/td><td[^>]*>(\d+)<\/td><td>(.*?)<\/td><\/tr>/gs)].map((m) => [m[1], Number(m[2]), Number(m[3]), m[4]]);

  it('counts hosts at the hub and at each site, with each mirror\'s state', () => {
    const text = bySite(
      [
        { tags: { site: 'paris' }, online: true },
        { tags: { site: 'paris', env: 'prod' }, online: false },
        { tags: { site: 'oslo' }, online: true },
        { tags: {}, online: true },
        { tags: { site: 'gone' }, online: false }, // a site that no longer exists counts at the hub
      ],
      [
        { name: 'paris', linked: true, behind: { objects: 2, bytes: 3 * 1048576 } },
        { name: 'oslo', linked: true, behind: { objects: 0, bytes: 0 } },
        { name: 'rome', linked: false, behind: null, error: 'no <answer>' },
      ],
    ).text;
    const rows = rowsOf(text);
    expect(rows.map((r) => r.slice(0, 3))).toEqual([['', 1, 1], ['oslo', 1, 0], ['paris', 1, 1], ['rome', 0, 0]]);
    expect(rows[1]![3]).toContain('caught up');
    expect(rows[2]![3]).toContain('2 objects (3.0 MiB) behind');
    expect(rows[3]![3]).toContain('not linked');
    expect(text).toContain('no &lt;answer&gt;');
    expect(text).toContain('href="/?target=site%3Dparis"');
  });

  it('says so when there are no sites', () => {
    const text = bySite([{ tags: {}, online: true }], []).text;
    expect(rowsOf(text)).toEqual([['', 1, 0, '—']]);
    expect(text).toContain('No sites');
  });
});
