import { describe, expect, it } from 'vitest';
import { bySite, byTag } from './fleet.js';

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

describe('fleet by site', () => {
  const rowsOf = (text: string) => [...text.matchAll(/<tr data-site="([^"]*)">.*?<td>(\d+)<\/td><td[^>]*>(\d+)<\/td><td>(.*?)<\/td><\/tr>/gs)].map((m) => [m[1], Number(m[2]), Number(m[3]), m[4]]);

  it('counts hosts at the hub and at each site, with each mirror\'s state', () => {
    const text = bySite(
      [
        { tags: { site: 'paris' }, online: true },
        { tags: { site: 'paris', env: 'prod' }, online: false },
        { tags: { site: 'oslo' }, online: true },
        { tags: {}, online: true },
        { tags: { site: 'gone' }, online: false }, // a site that no longer exists counts at the hub
      ],
      [
        { name: 'paris', linked: true, behind: { objects: 2, bytes: 3 * 1048576 } },
        { name: 'oslo', linked: true, behind: { objects: 0, bytes: 0 } },
        { name: 'rome', linked: false, behind: null, error: 'no <answer>' },
      ],
    ).text;
    const rows = rowsOf(text);
    expect(rows.map((r) => r.slice(0, 3))).toEqual([['', 1, 1], ['oslo', 1, 0], ['paris', 1, 1], ['rome', 0, 0]]);
    expect(rows[1]![3]).toContain('caught up');
    expect(rows[2]![3]).toContain('2 objects (3.0 MiB) behind');
    expect(rows[3]![3]).toContain('not linked');
    expect(text).toContain('no &lt;answer&gt;');
    expect(text).toContain('href="/?target=site%3Dparis"');
  });

  it('says so when there are no sites', () => {
    const text = bySite([{ tags: {}, online: true }], []).text;
    expect(rowsOf(text)).toEqual([['', 1, 0, '—']]);
    expect(text).toContain('No sites');
  });
});
