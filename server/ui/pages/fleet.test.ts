import { describe, expect, it } from 'vitest';
import { byTag } from './fleet.js';

describe('fleet by tag', () => {
  it('counts online and offline hosts per key=value, sorted, each linking to its selector (escaped)', () => {
    const text = byTag([
      { tags: { env: 'prod', role: 'web' }, online: true },
      { tags: { env: 'prod' }, online: false },
      { tags: { env: 'test', note: 'a"b<c' }, online: true },
    ]).text;
    const rows = [...text.matchAll(/<tr data-tag="([^"]+)">.*?<td>(\d+)<\/td><td[^>]*>(\d+)<\/td><\/tr>/gs)].map((m) => [m[1], Number(m[2]), Number(m[3])]);
    expect(rows).toEqual([['env=prod', 1, 1], ['env=test', 1, 0], ['note=a&quot;b&lt;c', 1, 0], ['role=web', 1, 0]]);
    expect(text).toContain('href="/?target=env%3Dprod"');
    expect(text).not.toContain('a"b<c');
  });

  it('says so when no host has a tag', () => {
    expect(byTag([{ tags: {}, online: true }]).text).toContain('no tags');
  });
});
