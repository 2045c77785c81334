import { describe, expect, it } from 'vitest';
import { FerryError } from '../../shared/errors.js';
import { parseReply } from './client.js';

describe('parseReply', () => {
  it('returns the reply typed by its verb', () => {
    expect(parseReply('ui.login', { url: 'https://h/x', expiresAt: '2026-01-01T00:00:00.000Z' }).url).toBe('https://h/x');
  });

  it('names the verb and the first path that differs, in one line', () => {
    let err: unknown;
    try {
      parseReply('rollout.list', [{ id: 'r-1', release: 'a', operation: 'install', strategy: 'big-bang', state: 'running', target: 'all', createdAt: 'x', hosts: 'three' }]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).code).toBe('FERRY_INVALID_MESSAGE');
    expect((err as FerryError).message).toMatch(/^rollout\.list reply: 0\.hosts: /);
    expect((err as FerryError).message).not.toContain('\n');
  });
});
