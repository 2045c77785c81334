import { describe, expect, it } from 'vitest';
import { redactText } from './redact.js';

describe('redactText', () => {
  it('hides the values of secret-named settings and keeps their names', () => {
    expect(redactText('DB_PASSWORD=hunter2 user=bob')).toBe('DB_PASSWORD=[redacted] user=bob');
    expect(redactText('api token: abc123def')).toBe('api token: [redacted]');
    expect(redactText('run --secret s3cr3t --verbose')).toBe('run --secret [redacted] --verbose');
    expect(redactText('{"password": "p@ss"}')).toBe('{"password": "[redacted]"}');
  });

  it('hides nkey seeds and bearer credentials anywhere', () => {
    const seed = 'SUAM' + 'A'.repeat(54);
    expect(redactText(`seed is here ${seed} ok`)).not.toContain(seed);
    expect(redactText('Authorization: Bearer eyJhbGciOi.abc.def')).not.toContain('eyJhbGciOi');
  });

  it('leaves ordinary output alone', () => {
    expect(redactText('installed 3 files\nrestarting nginx: ok\ntests passed: 3\nthe password is wrong')).toBe('installed 3 files\nrestarting nginx: ok\ntests passed: 3\nthe password is wrong');
  });
});
