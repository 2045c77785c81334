import stringWidth from 'string-width';
import { describe, expect, it } from 'vitest';
import { nearestCommand } from '../../../shared/suggest.js';
import { colorEnabled, paintState } from './color.js';
import { fitWidths, renderTable, truncateCells } from './table.js';
import { toYaml } from '../../../shared/yaml.js';

describe('tables', () => {
  it('aligns plain columns, two spaces apart, no trailing blanks', () => {
    expect(renderTable(['A', 'LONGER'], [['x', 'y'], ['wide', 'z']])).toEqual(['A     LONGER', 'x     y', 'wide  z']);
    expect(renderTable(['A'], [])).toEqual(['(none)']);
    expect(renderTable(['A', 'B'], [['1', '2']], { headers: false })).toEqual(['1  2']);
  });

  it('fits the width by cutting the widest column first, never below its floor', () => {
    expect(fitWidths([10, 30], 30, [5, 5])).toEqual([10, 18]);
    expect(fitWidths([10, 30], 12, [5, 5])).toEqual([5, 5]); // as narrow as the floors go
    expect(fitWidths([10, 30], 8, [5, 5])).toEqual([8]); // then the trailing column is left out
    expect(fitWidths([10], 3, [5])).toEqual([3]); // a single column is cut to the width
    const lines = renderTable(['ID', 'TAGS'], [['a-1', 'x'.repeat(50)]], { width: 30 });
    expect(lines.every((l) => [...l].length <= 30)).toBe(true);
    expect(lines[1]).toMatch(/…$/);
  });

  it('never wraps a row on a narrow terminal: agent list at 40 cells leaves out trailing columns', () => {
    const head = ['AGENT', 'HOSTNAME', 'ONLINE', 'LAST SEEN', 'OS/ARCH', 'TAGS', 'INSTALLED'];
    const rows = [
      ['0f3c2a9d-5b7e-4c1a-9e2f-7d6b8a4c3e21', 'web-1.example.internal', 'yes', '3s ago', 'linux/x64', 'env=test role=web', 'okpkg@1.0.0 other@2.3.4'],
      ['7a1b', 'db', 'no', '2d ago', 'linux/arm64', '', ''],
    ];
    for (const width of [40, 30, 20, 12, 8]) {
      const lines = renderTable(head, rows, { width });
      expect(lines.map((l) => stringWidth(l)).every((w) => w <= width), `${width}: ${JSON.stringify(lines)}`).toBe(true);
      expect(lines[0]!.startsWith('AGENT')).toBe(true);
    }
    const at40 = renderTable(head, rows, { width: 40 });
    expect(at40[0]).toMatch(/^AGENT +HOSTNAME +ONLINE +LAST SEEN$/);
    expect(at40[1]).toMatch(/^0f3c2a9d…/);
    expect(renderTable(head, rows, { width: 40, headers: false }).every((l) => stringWidth(l) <= 40)).toBe(true);
  });

  it('counts wide characters as two cells', () => {
    expect(truncateCells('日本語テキスト', 6)).toBe('日本…');
    expect(truncateCells('short', 10)).toBe('short');
  });

  it('measures past colour codes', () => {
    const lines = renderTable(['S', 'N'], [['ok', '1']], { paint: (c, i, h) => (i === 0 && !h ? `\x1b[32m${c}\x1b[39m` : c) });
    expect(lines[1]).toBe('\x1b[32mok\x1b[39m  1');
  });
});

describe('colour', () => {
  it('only on a terminal, and NO_COLOR wins', () => {
    expect(colorEnabled(true, {})).toBe(true);
    expect(colorEnabled(false, {})).toBe(false);
    expect(colorEnabled(true, { NO_COLOR: '1' })).toBe(false);
    expect(colorEnabled(true, { NO_COLOR: '' })).toBe(true);
    expect(paintState('failed', true)).toBe('\x1b[31mfailed\x1b[39m');
    expect(paintState('failed', false)).toBe('failed');
  });
});

describe('yaml', () => {
  it('prints the JSON document as YAML, quoting what could read as something else', () => {
    expect(toYaml([{ id: 'a-1', online: true, tags: { env: 'prod' }, installed: {}, n: 3, note: null }])).toBe(
      '- id: a-1\n  online: true\n  tags:\n    env: prod\n  installed: {}\n  "n": 3\n  note: null\n', // "n" reads as a boolean in YAML 1.1
    );
    expect(toYaml({ s: 'yes', t: '1.0', u: 'a: b', list: ['x', ''] })).toBe('s: "yes"\nt: "1.0"\nu: "a: b"\nlist:\n- x\n- ""\n');
    expect(toYaml([])).toBe('[]\n');
  });
});

describe('nearest command', () => {
  it('prefers a command the word starts, then the smallest edit distance', () => {
    expect(nearestCommand('stat', ['start', 'status', 'list'])).toBe('status');
    expect(nearestCommand('lsit', ['start', 'status', 'list'])).toBe('list');
    expect(nearestCommand('agnets', ['agent', 'agents', 'audit'])).toBe('agents');
    expect(nearestCommand('zzzzzz', ['start', 'list'])).toBeUndefined();
  });
});
