import { describe, expect, it } from 'vitest';
import type { CmdbShowReply } from '../../../shared/protocol/replies.js';
import { driftLists, historyTable } from './host.js';

type History = CmdbShowReply['history'][number];
const entry = (ts: number, e: Partial<History> = {}): History => ({ ts, kind: 'install', package: 'web', version: '1.0.1', fromVersion: null, operation: null, result: 'succeeded', detail: null, ...e });
const T0 = Date.parse('2026-12-05T10:00:00.000Z');
const rowsOf = (text: string) => [...text.slice(text.indexOf("<tbody>")).matchAll(/<tr>(.*?)<\/tr>/gs)].map((m) => [...m[1]!.matchAll(/<td>(.*?)<\/td>/gs)].map((c) => c[1]!.replace(/<[^>]+>/g, '').trim()));

describe('host history', () => {
  it('is a table, newest first as cmdb.show gives it: time from ts, kind, package, from → to version, result, detail and operation', () => {
    const text = historyTable([
      entry(T0 + 60_000, { kind: 'rollback', version: '1.0.0', fromVersion: '1.0.1', result: 'failed', detail: 'post-install: exit 1', operation: 'op-2' }),
      entry(T0, { operation: 'op-1' }),
      entry(T0 - 1, { kind: 'drift', package: null, version: null, result: null, detail: 'web: 1 file modified' }),
    ]).text;
    expect(text).toContain('<table class="grid" id="host-history">');
    expect(text).not.toContain('{"');
    expect(rowsOf(text)).toEqual([
      ['2026-12-05 10:01:00Z', 'rollback', 'web', '1.0.1 → 1.0.0', 'failed', 'post-install: exit 1 op-2'],
      ['2026-12-05 10:00:00Z', 'install', 'web', '1.0.1', 'succeeded', 'op-1'],
      ['2026-12-05 09:59:59Z', 'drift', '', '', '', 'web: 1 file modified'],
    ]);
    expect(text).toContain('<time datetime="2026-12-05T10:01:00.000Z">');
    expect(text).toContain('<span class="error">post-install: exit 1</span>');
  });

  it('shows the newest 50 entries and says how many there are', () => {
    const text = historyTable(Array.from({ length: 60 }, (_, i) => entry(T0 - i * 1000, { version: `1.0.${i}` }))).text;
    const rows = rowsOf(text);
    expect(rows).toHaveLength(50);
    expect(rows[0]![3]).toBe('1.0.0');
    expect(rows[49]![3]).toBe('1.0.49');
    expect(text).toContain('the newest 50 of 60 entries');
  });

  it('says so when empty', () => {
    expect(historyTable([]).text).toContain('no history yet');
  });
});

describe('host drift', () => {
  it('lists the modified and missing files of each drifted package', () => {
    const text = driftLists([
      { package: 'web', version: '1.0.0', modified: ['/etc/web.conf', '/usr/bin/web'], missing: ['/usr/share/web/<index>.html'] },
      { package: 'db', version: '2.1.0', modified: ['/etc/db.conf'], missing: [] },
    ]).text;
    expect(text).not.toContain('{"');
    const packages = [...text.matchAll(/<div class="drift" data-package="([^"]+)"><h3>([^<]+)<\/h3>(.*?)<\/div><\/div>(?=<div class="drift"|$)/gs)];
    expect(packages.map((p) => [p[1], p[2]])).toEqual([['web', 'web@1.0.0'], ['db', 'db@2.1.0']]);
    const lists = (chunk: string) => [...chunk.matchAll(/<h4>(.*?)<\/h4><ul class="files">(.*?)<\/ul>/gs)].map((m) => [m[1], [...m[2]!.matchAll(/<code>(.*?)<\/code>/g)].map((c) => c[1])]);
    expect(lists(packages[0]![3]!)).toEqual([['modified (2)', ['/etc/web.conf', '/usr/bin/web']], ['missing (1)', ['/usr/share/web/&lt;index&gt;.html']]]);
    expect(lists(packages[1]![3]!)).toEqual([['modified (1)', ['/etc/db.conf']]]);
  });

  it('says so when there is none', () => {
    expect(driftLists([]).text).toContain('no drift reported');
  });
});
