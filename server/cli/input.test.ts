import { describe, expect, it } from 'vitest';
import { catchFerryError } from '../../test/helpers/errors.js';
import { checkRequestText } from './input.js';

describe('checkRequestText: the CLI refuses control characters in what a user typed', () => {
  it.each([
    [{ name: 'rel', notes: 'ok\x1b[2J' }, /^--notes contains a control character \(\\x1b at character 3\)$/],
    [{ name: 'rel', rollbackPlan: 'undo\u202e' }, /^--rollback-plan contains a bidirectional/],
    [{ tags: { env: 'prod\x1b[31m' }, ttlMs: 1, uses: 1 }, /^--tag env contains a control character/],
    [{ tags: { 'e\x07': 'x' } }, /^--tag e\\x07 name contains a control character/],
    [{ name: 'r', comment: 'fine\nforged' }, /^--comment contains a control character \(\\x0a/],
    [{ release: 'r', timeZone: 'UTC\x00' }, /^--timezone /],
    [{ packages: ['a@1.0.0', 'b@1\x1b'] }, /^--package /],
    [{ id: 'r-1', actor: 'eve\x1b[8m' }, /^the actor name \(FERRY_ACTOR or \$USER\) /],
  ])('%j', (body, message) => {
    const e = catchFerryError(() => checkRequestText(body), 'FERRY_INVALID_INPUT');
    expect(e.message).toMatch(message);
  });
  it('notes and rollback plans may hold newlines and tabs; ordinary Unicode passes everywhere', () => {
    expect(() => checkRequestText({ name: 'rel', notes: 'line 1\n\tline 2', rollbackPlan: 'a\nb', owner: 'Zoë — ✓' })).not.toThrow();
  });
});
