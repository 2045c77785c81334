// Hostile text through the rollout views: what a host reported (its name, its error, its hook's
// last line) or an operator typed reaches the terminal, and the review's Markdown file, made
// visible, never as the control bytes themselves, and never as HTML or a link in the Markdown.
import { describe, expect, it } from 'vitest';
import type { RolloutReview, RolloutStatusDoc } from '../../../shared/protocol/replies.js';
import { tableLines } from '../output.js';
import { renderReviewMarkdown, statusLines } from './rollout.js';

const HOSTILE = '\u001b]0;pwned\u0007\u001b[2J\u001b[1A\r\u0008\u009b31m\u202etxt.exe\u0007';
/** What the hostile text reads as once escaped (shared/text.ts's `visible`). */
const SHOWN = '\\x1b]0;pwned\\x07\\x1b[2J\\x1b[1A\\x0d\\x08\\x9b31m\\u202etxt.exe\\x07';
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

function statusDoc(): RolloutStatusDoc {
  return {
    id: 'r-1',
    release: `rel-${HOSTILE}`,
    operation: 'install',
    strategy: 'phased',
    state: 'running',
    target: `env=${HOSTILE}`,
    reason: `reason ${HOSTILE}`,
    createdAt: '2026-01-01T00:00:00.000Z',
    options: { waves: ['1', '100%'], soakMs: 0, maxFailures: '0', onFailure: 'halt', hostTimeoutMs: 60_000, includeOffline: false },
    counts: { failed: 1, succeeded: 1 },
    waves: [{ index: 0, state: 'running', hosts: 2, succeeded: 1, failed: 1, pending: 0 }],
    hosts: [
      { agent: 'web-1-abc', hostname: `web-1${HOSTILE}`, wave: 0, state: 'failed', error: `postinstall hook failed (exit 1): ${HOSTILE}` },
      { agent: 'web-2-def', hostname: 'web-2', wave: 0, state: 'succeeded', reason: HOSTILE },
    ],
  };
}

function review(): RolloutReview {
  const host = { agent: 'web-1-abc', hostname: `web-1${HOSTILE}` };
  return {
    id: 'r-1',
    release: `rel ${HOSTILE}`,
    rfc: `CHG-1 ${HOSTILE}`,
    owner: 'ops',
    notes: null,
    approvals: [{ actor: `eve${HOSTILE}`, at: '2026-01-01T00:00:00.000Z' }],
    rollbackPlan: `step 1\n${HOSTILE}`,
    policy: {
      environments: [`prod${HOSTILE}`],
      violations: [`violation ${HOSTILE}`],
      evidence: [{ environment: `staging${HOSTILE}`, rollout: 'r-0' }],
      override: { actor: `eve${HOSTILE}`, reason: `because ${HOSTILE}`, at: '2026-01-01T00:00:00.000Z' },
      risk: { level: 'high', computed: 'high', override: null, factors: [`factor ${HOSTILE}`] },
      targets: 2,
      fleet: 2,
    },
    earlyLife: { soakMs: 60_000, watched: 2, stayedHealthy: 1, failedDuringSoak: [{ ...host, wave: 0, error: `health ${HOSTILE}` }] },
    packages: [`app@1.0.0${HOSTILE}`],
    copyOf: { agent: 'db-1-xyz', hostname: `db-1${HOSTILE}` },
    testedOnCopies: [{ ...host, copyOf: { agent: 'db-1-xyz', hostname: `db-1${HOSTILE}` }, cloneRollout: 'r-0', copiedAt: '2026-01-01T00:00:00.000Z' }],
    strategy: 'phased',
    state: 'halted',
    reason: `halted: ${HOSTILE}`,
    target: `env=${HOSTILE}`,
    actor: `eve${HOSTILE}`,
    options: { waves: ['1', '100%'], soakMs: 60_000, maxFailures: '0', onFailure: 'halt', hostTimeoutMs: 60_000, includeOffline: false },
    createdAt: '2026-01-01T00:00:00.000Z',
    startedAt: '2026-01-01T00:00:00.000Z',
    endedAt: '2026-01-01T00:10:00.000Z',
    durationMs: 600_000,
    timeline: [{ at: '2026-01-01T00:00:00.000Z', actor: `eve${HOSTILE}`, action: 'start', detail: `detail ${HOSTILE}` }],
    waves: [{ index: 0, state: 'failed', hosts: 2, succeeded: 1, failed: 1, startedAt: '2026-01-01T00:00:00.000Z', endedAt: '2026-01-01T00:10:00.000Z' }],
    totals: { failed: 1, succeeded: 1 },
    installTimeMs: { count: 1, p50: 1200, p95: 1200, max: 1200 },
    failures: [{ ...host, wave: 0, state: 'failed', error: `postinstall hook failed (exit 1): ${HOSTILE}` }],
    rollbacks: [{ ...host, state: 'rolled-back', error: `rollback ${HOSTILE}` }],
    notConverged: [{ ...host, state: 'failed', reason: `reason ${HOSTILE}` }],
  };
}

describe('rollout status: hostile host text is shown escaped', () => {
  it('no raw control character in any line; the hostname, error and reason read escaped', () => {
    const lines = statusLines(statusDoc(), Date.parse('2026-01-01T00:01:00.000Z'));
    for (const l of lines) expect(l, JSON.stringify(l)).not.toMatch(RAW_CONTROL);
    const text = lines.join('\n');
    expect(lines[0]).toContain(`target env=${SHOWN}`);
    expect(lines[0]).toContain(`(reason ${SHOWN})`);
    expect(text).toContain(`  web-1${SHOWN}: postinstall hook failed (exit 1): ${SHOWN}`);
  });
});

describe('tables: every cell is escaped', () => {
  it('a hostile cell leaves no raw control character, and its row stays one line', () => {
    const lines = tableLines(['HOST', 'DETAIL'], [[`web-1${HOSTILE}`, `line 1\nline 2 ${HOSTILE}`], ['web-2', null]]);
    expect(lines).toHaveLength(3);
    for (const l of lines) expect(l, JSON.stringify(l)).not.toMatch(RAW_CONTROL);
    expect(lines[1]).toContain(`web-1${SHOWN}`);
    expect(lines[1]).toContain(`line 1\\x0aline 2 ${SHOWN}`);
  });
});

describe('rollout review Markdown: hostile text cannot drive a terminal or become markup', () => {
  it('no raw control character anywhere, and the hostile values read escaped', () => {
    const md = renderReviewMarkdown(review());
    for (const l of md.split('\n')) expect(l, JSON.stringify(l)).not.toMatch(RAW_CONTROL);
    // In Markdown `[` and `]` are escaped too (no links): `\x1b\]0;…\x1b\[2J`.
    const shownInMarkdown = SHOWN.replace(/[[\]]/g, (c) => `\\${c}`);
    expect(md).toContain(`| Target | env=${shownInMarkdown} |`);
    expect(md).toContain(`- web-1${shownInMarkdown} (web-1-abc), wave 1: failed — postinstall hook failed (exit 1): ${shownInMarkdown}`);
    expect(md).toContain(`| Rollback plan | step 1<br>${shownInMarkdown} |`);
  });

  it('host text cannot open HTML, an autolink, a link or an image, nor undo the escapes with a backslash', () => {
    const r = review();
    r.failures = [
      { agent: 'web-1-abc', hostname: '<img src=x onerror=alert(1)>', wave: 0, state: 'failed', error: '[click here](https://evil.example) ![t](https://evil.example/t.png) <https://evil.example>' },
      // GFM's extended autolinks: a bare URL, www., an email address (app@1.0.0 is one too)
      { agent: 'web-2-abc', hostname: 'web-2', wave: 0, state: 'failed', error: 'see https://evil.example/fix?x=1, HTTP://EVIL.EXAMPLE, ftp://evil.example, www.evil.example or admin@evil.example (app@1.0.0)' },
    ];
    r.rollbacks = [{ agent: 'web-1-abc', hostname: 'web-1', state: 'rolled-back', error: '\\[x\\](https://evil.example) https\\://evil.example a\\@evil.example' }];
    r.target = '<b>env=prod</b> | [x](https://evil.example) https://evil.example';
    const md = renderReviewMarkdown(r);
    expect(md).not.toMatch(/<(?!br>)/); // the only tag left is the <br> of the rollback plan's lines
    expect(md).toContain('- &lt;img src=x onerror=alert(1)&gt; (web-1-abc), wave 1: failed — \\[click here\\](https\\://evil.example) !\\[t\\](https\\://evil.example/t.png) &lt;https\\://evil.example&gt;');
    expect(md).toContain('- web-2 (web-2-abc), wave 1: failed — see https\\://evil.example/fix?x=1, HTTP\\://EVIL.EXAMPLE, ftp\\://evil.example, www\\.evil.example or admin\\@evil.example (app\\@1.0.0)');
    // a backslash the text had is doubled: it escapes nothing, and the autolink is broken all the same
    expect(md).toContain('- web-1 (web-1-abc): rolled-back — \\\\\\[x\\\\\\](https\\://evil.example) https\\\\\\://evil.example a\\\\\\@evil.example');
    expect(md).toContain('| Target | &lt;b&gt;env=prod&lt;/b&gt; \\| \\[x\\](https\\://evil.example) https\\://evil.example |');
    // No scheme, www. or email left as GFM would link it.
    expect(md).not.toMatch(/[A-Za-z]:\/\/|\bwww\.|[\w.+-]@\w/i);
    // No unescaped `[` anywhere: every one has an odd run of backslashes before it.
    for (const m of md.matchAll(/(\\*)\[/g)) expect(m[1]!.length % 2, md.slice(Math.max(0, m.index - 20), m.index + 5)).toBe(1);
  });
});
