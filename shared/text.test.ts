import { describe, expect, it } from 'vitest';
import { apiRequestSchemas } from './protocol/api.js';
import { inventoryReportSchema, statusReportSchema, tagsSchema } from './protocol/messages.js';
import { isSafeText, jsonText, markdownCell, markdownText, unsafeCharProblem, visible, visibleLine } from './text.js';

const ESC = '\x1b';
const HOSTILE = `${ESC}]0;pwned\x07${ESC}[2J\x9b31m\u202etxt.exe\u2066\r`;

describe('visible: the one escaping rule every printer uses', () => {
  it('makes ESC, other C0 and C1 controls, DEL and bidi controls visible', () => {
    expect(visible(HOSTILE)).toBe('\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m\\u202etxt.exe\\u2066\\x0d');
    expect(visible('a\x7fb\u200fc\u2028d\u061ce')).toBe('a\\x7fb\\u200fc\\u2028d\\u061ce');
  });
  it('keeps newlines and tabs only for multi-line text', () => {
    expect(visible('a\nb\tc')).toBe('a\\x0ab\\x09c');
    expect(visible('a\nb\tc', { multiline: true })).toBe('a\nb\tc');
    expect(visible('a\r\nb', { multiline: true })).toBe('a\\x0d\nb');
  });
  it('is idempotent and leaves ordinary text, Unicode and backslashes alone', () => {
    expect(visible(visible(HOSTILE))).toBe(visible(HOSTILE));
    expect(visible('héllo — ✓ C:\\path 日本')).toBe('héllo — ✓ C:\\path 日本');
  });
  it('a Markdown cell stays in its column and its row', () => {
    expect(markdownCell(`step 1 | drop\nstep 2\t${ESC}[31m`)).toBe('step 1 \\| drop<br>step 2 \\x1b\\[31m');
  });
  it('Markdown text cannot become HTML, a link or an image', () => {
    expect(markdownText('<script>alert(1)</script>')).toBe('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(markdownText('<https://evil.example>')).toBe('&lt;https\\://evil.example&gt;');
    expect(markdownText('[click](https://evil.example) ![x](https://evil.example/t.png)')).toBe('\\[click\\](https\\://evil.example) !\\[x\\](https\\://evil.example/t.png)');
    // GFM's extended autolinks: one escape each (rendered as the character itself)
    expect(markdownText('https://evil.example www.evil.example ops@evil.example web@1.0.0')).toBe('https\\://evil.example www\\.evil.example ops\\@evil.example web\\@1.0.0');
    expect(markdownText('an @mention, a@ b, 12:30 // ok')).toBe('an @mention, a@ b, 12:30 // ok');
    expect(markdownText(`a${ESC}[2J\n`)).toBe('a\\x1b\\[2J\\x0a');
  });
  it("a backslash in the text cannot undo the escapes (it is doubled before punctuation, kept before letters)", () => {
    expect(markdownText('\\[x\\](https://evil.example)')).toBe('\\\\\\[x\\\\\\](https\\://evil.example)');
    expect(markdownCell('a\\|b')).toBe('a\\\\\\|b');
    expect(markdownText('C:\\path \\x1b')).toBe('C:\\path \\x1b');
  });
  it('an error line is one line, made visible', () => {
    expect(visibleLine(`FERRY_X: ${ESC}]0;pwned\x07\r\nsecond`)).toBe('FERRY_X: \\x1b]0;pwned\\x07 second');
  });
  it('names the first unsafe character for a refusal', () => {
    expect(unsafeCharProblem(`ok${ESC}[31m`)).toBe('contains a control character (\\x1b at character 3)');
    expect(unsafeCharProblem('abc\u202e')).toBe('contains a bidirectional or line-separator character (\\u202e at character 4)');
    expect(unsafeCharProblem('two\nlines', { multiline: true })).toBeUndefined();
    expect(isSafeText('two\nlines')).toBe(false);
  });
});

describe('jsonText: --json output of both CLIs', () => {
  const EVERY = '\x7f\x80\x85\x9b\x9f\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069';
  it('writes C1, DEL, bidi controls and line separators as \\uXXXX; the same value parses back', () => {
    const doc = { hostname: `web${HOSTILE}`, [`key\u202e`]: ['\\\x9b', EVERY], n: 1 };
    const text = jsonText(doc, 2);
    expect(text).not.toMatch(/[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
    expect(JSON.parse(text)).toEqual(doc);
    expect(jsonText('\x9b31m\u202e')).toBe('"\\u009b31m\\u202e"');
    // a backslash before one stays a backslash of its own
    expect(jsonText('\\\x85')).toBe('"\\\\\\u0085"');
    expect(JSON.parse(jsonText(`\\${EVERY}`))).toBe(`\\${EVERY}`);
  });
  it('is JSON.stringify for everything else (C0 as JSON escapes it, Unicode as it is, indentation)', () => {
    const doc = { a: 'héllo — ✓ 日本 \u00a0', b: [1, null, true], c: `${ESC}\n` };
    expect(jsonText(doc, 2)).toBe(JSON.stringify(doc, null, 2));
    expect(jsonText(doc)).toBe(JSON.stringify(doc));
  });
});

describe('edges: user text is refused, host text is neutralised', () => {
  const create = apiRequestSchemas['release.create'];
  const base = { name: 'rel', packages: ['app@1.0.0'] };
  it.each([
    ['notes', { notes: `fine${ESC}[2J` }],
    ['rollbackPlan', { rollbackPlan: `undo\u202e` }],
    ['rfc', { rfc: 'CHG-1\n' }],
  ])('release.create refuses %s with a control character', (field, extra) => {
    const r = create.safeParse({ ...base, ...extra });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual([field]);
  });
  it('notes and rollback plans may span lines', () => {
    expect(create.safeParse({ ...base, notes: 'line 1\n\tline 2', rollbackPlan: 'a\nb' }).success).toBe(true);
  });
  it.each([
    ['release.approve', { name: 'rel', comment: `ok${ESC}[1A` }],
    ['dml.authorize', { name: 'app', version: '1.0.0', evidence: `r-1\x07` }],
    ['dml.retire', { name: 'app', version: '1.0.0', reason: `cve\x9b` }],
    ['rollout.start', { release: 'rel', reason: 'x\u202e', force: true }],
    ['rollout.start', { release: 'rel', target: `env=prod${ESC}` }],
    ['rollout.action', { id: 'r-1', action: 'pause', actor: `eve${ESC}[8m` }],
    ['token.create', { ttlMs: 60_000, uses: 1, tags: { env: `prod${ESC}[31m` } }],
  ] as const)('%s refuses %j', (verb, body) => {
    expect((apiRequestSchemas[verb] as { safeParse(v: unknown): { success: boolean } }).safeParse(body).success).toBe(false);
  });
  it('token tags are checked by the same schema the agent applies to its join reply', () => {
    expect(tagsSchema.safeParse({ env: `a${ESC}` }).success).toBe(false);
    expect(tagsSchema.safeParse({ env: 'a\u202e' }).success).toBe(false);
  });
  it('a status report keeps its hostile error, made visible, instead of being dropped', () => {
    const report = statusReportSchema.parse({ agent: 'a-1', ts: 1, operation: 'r-1', state: 'failed', installed: {}, step: `x${ESC}`, error: `postinstall hook failed (exit 1): ${HOSTILE}\nforged line`, output: `[postinstall]\n${HOSTILE}\n\tdone`, waiting: { reason: `w${ESC}` } });
    expect(report.error).toBe(`postinstall hook failed (exit 1): ${visible(HOSTILE)}\\x0aforged line`);
    expect(report.output).toBe(`[postinstall]\n${visible(HOSTILE)}\n\tdone`);
    expect(report.step).toBe('x\\x1b');
    expect(report.waiting?.reason).toBe('w\\x1b');
    for (const s of [report.error!, report.output!, report.step!]) expect(isSafeText(s, { multiline: true })).toBe(true);
  });
  it("a status report's operation is made visible too (it is stored in the host's history)", () => {
    const report = statusReportSchema.parse({ agent: 'a-1', ts: 1, operation: `r-1${ESC}]0;pwned\x07\u202e`, state: 'failed', installed: {} });
    expect(report.operation).toBe('r-1\\x1b]0;pwned\\x07\\u202e');
    expect(statusReportSchema.parse({ agent: 'a-1', ts: 1, operation: 'r-1:rollback', state: 'failed', installed: {} }).operation).toBe('r-1:rollback');
    expect(statusReportSchema.safeParse({ agent: 'a-1', ts: 1, operation: '', state: 'failed', installed: {} }).success).toBe(false);
    expect(statusReportSchema.safeParse({ agent: 'a-1', ts: 1, operation: 'r'.repeat(129), state: 'failed', installed: {} }).success).toBe(false);
  });
  it('an inventory report neutralises mount points, interface names and drifted paths', () => {
    const inventory = { hostname: 'h', os: 'linux', distro: 'd', release: 'r', kernel: 'k', arch: 'x64', cpu: { model: 'm', cores: 1 }, memoryMB: 1, virtual: false,
      disks: [{ mount: `/mnt/${ESC}[2J`, sizeMB: 1, usedMB: 0, fs: 'ext4' }], interfaces: [{ name: `eth0\u202e` }] };
    const r = inventoryReportSchema.parse({ agent: 'a-1', ts: 1, installed: {}, inventory, drift: [{ package: 'app', version: '1.0.0', modified: [`etc/${ESC}]0;x\x07`], missing: [] }] });
    expect(r.inventory.disks[0]!.mount).toBe('/mnt/\\x1b[2J');
    expect(r.inventory.interfaces[0]!.name).toBe('eth0\\u202e');
    expect(r.drift![0]!.modified).toEqual(['etc/\\x1b]0;x\\x07']);
  });
});
