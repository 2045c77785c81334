// Agents control their hostname, their hooks' output and the error text of their reports: none of
// it may become markup on a console page (the CSP is a backstop, not the first defence).
import { describe, expect, it } from 'vitest';
import type { ApiVerb } from '../../../shared/protocol/api.js';
import type { AgentLogsReply, CmdbShowReply, RolloutReview, RolloutStatusDoc } from '../../../shared/protocol/replies.js';
import type { PageContext } from './context.js';
import { hostPage } from './host.js';
import { reviewPage, rolloutPage } from './rollouts.js';

const EVIL = `<script>alert("x")</script>'"&amp;`;
const ESCAPED = `&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&quot;&amp;amp;`;
const T = '2026-12-05T10:00:00.000Z';

function ctxOf(replies: Partial<Record<ApiVerb, unknown>>): PageContext {
  return {
    caller: { name: 'ada', role: 'admin' },
    csrf: 'csrf-token',
    url: new URL('http://console.test/'),
    call: async (verb) => {
      if (!(verb in replies)) throw new Error(`unexpected call ${verb}`);
      return replies[verb];
    },
  };
}

/** No raw tag from the payload, and the payload's text itself present only escaped. */
function expectInert(text: string, occurrences: number): void {
  expect(text).not.toMatch(/<script/i);
  expect(text).not.toContain(`alert("x")`);
  expect(text.split(ESCAPED).length - 1).toBeGreaterThanOrEqual(occurrences);
}

const hostileHost: CmdbShowReply = {
  id: 'agent-1',
  hostname: EVIL,
  online: true,
  lastSeen: T,
  tags: { [EVIL]: EVIL },
  os: EVIL,
  arch: 'x86_64',
  installed: { web: EVIL },
  state: 'active',
  joinedAt: T,
  facts: { kernel: EVIL },
  inventory: null,
  drift: [{ package: 'web', version: '1.0.0', modified: [`/etc/${EVIL}`], missing: [`/usr/${EVIL}`] }],
  history: [{ ts: Date.parse(T), kind: 'install', package: 'web', version: '1.0.0', fromVersion: null, operation: 'op-1', result: 'failed', detail: EVIL }],
};

const hostileLogs: AgentLogsReply = {
  agent: { id: 'agent-1', hostname: EVIL },
  entries: [{ id: 1, at: T, kind: EVIL, package: 'web', version: '1.0.0', fromVersion: EVIL, operation: EVIL, result: 'failed', detail: EVIL, output: `[post-install] exit 1\n${EVIL}` }],
};

const status: RolloutStatusDoc = {
  id: 'r-1',
  release: 'web-2026.12',
  operation: 'install',
  strategy: 'phased',
  state: 'running',
  target: EVIL,
  reason: EVIL,
  createdAt: T,
  startedAt: T,
  options: { waves: ['1', '100%'], soakMs: 0, maxFailures: '1', onFailure: 'halt', hostTimeoutMs: 60_000, includeOffline: false },
  counts: { failed: 1, waiting: 1 },
  waves: [{ index: 0, state: 'running', hosts: 2, succeeded: 0, failed: 1, pending: 1, startedAt: T }],
  hosts: [
    { agent: 'agent-1', hostname: EVIL, wave: 0, state: 'failed', error: EVIL, finishedAt: T },
    { agent: 'agent-2', hostname: `b&b"`, wave: 0, state: 'waiting', waiting: true, reason: EVIL, waitingUntil: T },
  ],
};

const hostileReview: RolloutReview = {
  id: 'r-1',
  release: 'web-2026.12',
  rfc: EVIL,
  owner: EVIL,
  notes: EVIL,
  approvals: [{ actor: 'bob', at: T, comment: EVIL }],
  rollbackPlan: EVIL,
  policy: null,
  earlyLife: { soakMs: 0, watched: 0, stayedHealthy: 0, failedDuringSoak: [] },
  packages: ['web@1.0.0'],
  copyOf: null,
  testedOnCopies: [],
  strategy: 'phased',
  state: 'halted',
  reason: EVIL,
  target: EVIL,
  actor: 'ada',
  options: status.options,
  createdAt: T,
  startedAt: T,
  endedAt: null,
  durationMs: null,
  timeline: [{ at: T, actor: 'ada', action: 'start', detail: EVIL }],
  waves: [{ index: 0, state: 'halted', hosts: 1, succeeded: 0, failed: 1, startedAt: T, endedAt: null }],
  totals: { failed: 1 },
  installTimeMs: { count: 0, p50: null, p95: null, max: null },
  failures: [{ agent: 'agent-1', hostname: EVIL, wave: 0, state: 'failed', error: EVIL }],
  rollbacks: [],
  notConverged: [{ agent: 'agent-1', hostname: EVIL, state: 'failed', reason: EVIL }],
};

describe('hostile agent data on console pages', () => {
  it('host page: hostname, tags, versions, drift, history, hook output and errors are escaped', async () => {
    const page = await hostPage(ctxOf({ 'cmdb.show': hostileHost, 'agents.logs': hostileLogs }), 'agent-1');
    expect(page.title).toBe(EVIL); // layout escapes the title (see below)
    const text = page.body.text;
    expectInert(text, 8);
    expect(text).toContain(`[post-install] exit 1\n${ESCAPED}`);
  });

  it('rollout page: hostnames (also in links and data attributes), errors, waiting reasons and the target are escaped', async () => {
    const page = await rolloutPage(ctxOf({ 'rollout.status': status, 'rollout.review': hostileReview }), 'r-1');
    const text = page.body.text;
    expectInert(text, 5);
    expect(text).toContain(`<tr data-host="${ESCAPED}" data-state="failed">`);
    // the link goes by agent id (a hostname may name several agents), the hostname is its text
    expect(text).toContain(`<a href="/hosts/agent-1">${ESCAPED}</a>`);
    expect(text).toContain('<tr data-host="b&amp;b&quot;" data-state="waiting">');
    expect(text).toContain(`<span class="error">${ESCAPED}</span>`);
    // the action forms still carry the session's token, in a quoted attribute
    expect(text).toContain('name="csrf" value="csrf-token"');
  });

  it('review page: RFC, owner, approval comments, failures, rollback plan and the timeline are escaped', async () => {
    const page = await reviewPage(ctxOf({ 'rollout.review': hostileReview }), 'r-1');
    expectInert(page.body.text, 7);
  });

  it('policy verdict (on the rollout page and in the review): violations and the override\'s reason are escaped', async () => {
    const policy = { environments: [EVIL], violations: [EVIL], evidence: [{ environment: EVIL, rollout: 'r-0' }], override: { actor: 'ada', reason: EVIL, at: T }, risk: { level: 'high', computed: 'high', override: null, factors: [EVIL] }, targets: 1, fleet: 2 };
    const review = { ...hostileReview, policy };
    const rollout = await rolloutPage(ctxOf({ 'rollout.status': status, 'rollout.review': review }), 'r-1');
    const printed = await reviewPage(ctxOf({ 'rollout.review': review }), 'r-1');
    for (const page of [rollout, printed]) {
      expect(page.body.text).toContain('id="policy-verdict"');
      expectInert(page.body.text.slice(page.body.text.indexOf('id="policy-verdict"')), 5);
    }
  });

  it('the page frame escapes a hostile title', async () => {
    const { layout } = await import('./layout.js');
    const page = await hostPage(ctxOf({ 'cmdb.show': hostileHost, 'agents.logs': hostileLogs }), 'agent-1');
    const text = layout(page, ctxOf({})).text;
    expect(text).toContain(`<title>${ESCAPED} · Ferry</title>`);
    expect(text).toContain(`<h1>${ESCAPED}</h1>`);
    expect(text.match(/<script/g)).toHaveLength(1); // only the console's own /assets/console.js
  });
});
