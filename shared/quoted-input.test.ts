import { describe, expect, it } from 'vitest';
import { quotedInput } from './quoted-input.js';

describe('quotedInput: what a user typed, for an error line', () => {
  it('short text is quoted whole, on one line, unsafe characters visible', () => {
    expect(quotedInput('10x')).toBe('"10x"');
    expect(quotedInput('')).toBe('""');
    expect(quotedInput('a\nb')).toBe('"a\\nb"');
    expect(quotedInput('a\u202eb')).toBe('"a\\u202eb"');
  });

  it('long text is cut to its first 60 characters, with its length', () => {
    expect(quotedInput('a'.repeat(60))).toBe(`"${'a'.repeat(60)}"`);
    expect(quotedInput('a'.repeat(4000))).toBe(`"${'a'.repeat(60)}…" (4000 characters)`);
    // never half of a surrogate pair
    expect(quotedInput(`${'a'.repeat(59)}${'☃'.repeat(3)}😀${'a'.repeat(10)}`)).toBe(`"${'a'.repeat(59)}☃…" (74 characters)`);
    expect(quotedInput(`${'a'.repeat(59)}😀${'a'.repeat(10)}`)).toBe(`"${'a'.repeat(59)}…" (71 characters)`);
  });
});
