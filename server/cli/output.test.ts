import { afterEach, describe, expect, it, vi } from 'vitest';
import { configureOutput, printJson, printJsonLine } from './output.js';

// Host text (a hostname, an error, a note) with C1 controls (CSI \x9b) and bidi controls.
const HOST = 'web-1\x1b[2J\x9b31m\x85\u202etxt.exe\u2066\u200f\u061c';
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

describe('the ferry CLI prints --json with nothing raw that could drive a terminal', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    configureOutput({ format: 'table' });
  });

  const captured = (print: () => void): string => {
    let out = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((out += String(chunk)), true));
    print();
    return out;
  };

  it('printJson and printJsonLine escape C1 and bidi controls as \\uXXXX; the document parses to the same value', () => {
    const doc = { hostname: HOST, notes: [`a\n${HOST}`], error: { message: HOST } };
    configureOutput({ format: 'json' });
    const pretty = captured(() => printJson(doc));
    expect(pretty).not.toMatch(RAW);
    expect(pretty).toContain('\\u009b31m\\u0085\\u202etxt.exe\\u2066\\u200f\\u061c');
    expect(JSON.parse(pretty)).toEqual(doc);
    vi.restoreAllMocks();
    const line = captured(() => printJsonLine(doc));
    expect(line.trimEnd()).not.toContain('\n');
    expect(line).not.toMatch(RAW);
    expect(JSON.parse(line)).toEqual(doc);
  });
});
