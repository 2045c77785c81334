import { describe, expect, it } from 'vitest';
import { apiRequestSchemas } from './api.js';
import { apiReplySchemas } from './replies.js';

describe('apiReplySchemas', () => {
  it('has a reply schema for every API verb, and none for a verb that does not exist', () => {
    const verbs = Object.keys(apiRequestSchemas).sort();
    const replies = Object.keys(apiReplySchemas).sort();
    expect(verbs.filter((v) => !replies.includes(v))).toEqual([]);
    expect(replies.filter((v) => !verbs.includes(v))).toEqual([]);
    for (const v of replies) expect(typeof (apiReplySchemas as Record<string, { safeParse?: unknown }>)[v]!.safeParse, v).toBe('function');
  });

  it('keeps fields a newer server adds out of the way, not failing the reply', () => {
    const r = apiReplySchemas['backup.record'].parse({ recorded: true, by: 'ann', later: 1 });
    expect(r).toEqual({ recorded: true, by: 'ann' });
  });
});
