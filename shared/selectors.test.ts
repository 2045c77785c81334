import { describe, expect, it } from 'vitest';
import { FerryError } from './errors.js';
import { globMatch, matchSelector, parseSelector, selectorMatchesAll } from './selectors.js';

const facts = {
  id: 'h-123',
  hostname: 'Web-01.example.com',
  os: 'linux',
  arch: 'x64',
  virtual: 'true',
  'installed.hello-web': '1.2.3',
  env: 'fact-env',
  missingValue: undefined,
};
const tags = { env: 'prod', role: 'web', zone: 'eu-west-1a' };

const matches = (sel: string, f: Record<string, string | undefined> = facts, t: Record<string, string> | undefined = tags) =>
  matchSelector(parseSelector(sel), f, t);

function expectInvalid(text: string): void {
  try {
    parseSelector(text);
    expect.unreachable(`parseSelector(${JSON.stringify(text)}) should throw`);
  } catch (e) {
    expect(e).toBeInstanceOf(FerryError);
    expect((e as FerryError).code).toBe('FERRY_INVALID_INPUT');
    expect((e as FerryError).toLine()).not.toContain('\n');
  }
}

describe('parseSelector', () => {
  it.each([undefined, '', '   ', 'all', 'ALL', ' all '])('%j matches everything', (text) => {
    const sel = parseSelector(text);
    expect(sel.terms).toEqual([]);
    expect(sel.text).toBe('all');
    expect(selectorMatchesAll(sel)).toBe(true);
    expect(matchSelector(sel, {})).toBe(true);
  });

  it('parses terms, negation and whitespace', () => {
    const sel = parseSelector(' os = linux , tag.env!=prod,installed.hello-web=1.* ');
    expect(sel.terms).toEqual([
      { key: 'os', op: '=', pattern: 'linux' },
      { key: 'tag.env', op: '!=', pattern: 'prod' },
      { key: 'installed.hello-web', op: '=', pattern: '1.*' },
    ]);
    expect(sel.text).toBe('os=linux,tag.env!=prod,installed.hello-web=1.*');
    expect(selectorMatchesAll(sel)).toBe(false);
  });

  it('keeps "=" inside values and allows empty values', () => {
    expect(parseSelector('note=a=b').terms).toEqual([{ key: 'note', op: '=', pattern: 'a=b' }]);
    expect(parseSelector('note=').terms).toEqual([{ key: 'note', op: '=', pattern: '' }]);
  });

  it.each(['os', 'linux', '=linux', '!=linux', ' =x', 'os=linux,', ',os=linux', 'os=linux,,arch=x64', 'bad key=x', 'k$=x', 'a/b=c', 'all,os=linux', 'os!!=linux'])(
    'rejects %j',
    (text) => expectInvalid(text),
  );
});

describe('matchSelector', () => {
  it('requires every term', () => {
    expect(matches('os=linux,arch=x64')).toBe(true);
    expect(matches('os=linux,arch=arm64')).toBe(false);
  });

  it('compares case-insensitively against the whole value', () => {
    expect(matches('os=LINUX')).toBe(true);
    expect(matches('hostname=web-01.example.com')).toBe(true);
    expect(matches('hostname=web')).toBe(false); // no substring matching
    expect(matches('os=lin')).toBe(false);
  });

  it('supports * and ? globs', () => {
    expect(matches('hostname=web-*')).toBe(true);
    expect(matches('hostname=*.example.com')).toBe(true);
    expect(matches('hostname=web-0?.example.com')).toBe(true);
    expect(matches('hostname=web-?.example.com')).toBe(false);
    expect(matches('hostname=db-*')).toBe(false);
    expect(matches('id=*')).toBe(true);
  });

  it('treats regex metacharacters literally', () => {
    expect(matches('installed.hello-web=1.2.3')).toBe(true);
    expect(matches('installed.hello-web=1x2x3', { 'installed.hello-web': '1.2.3' })).toBe(false);
    expect(matches('v=a.b', { v: 'axb' })).toBe(false);
    expect(matches('v=(a|b)+[x]$^', { v: '(a|b)+[x]$^' })).toBe(true);
    expect(matches('v=\\d', { v: '7' })).toBe(false);
  });

  it('handles negation and missing keys', () => {
    expect(matches('os!=windows')).toBe(true);
    expect(matches('os!=lin*')).toBe(false);
    expect(matches('nope=*')).toBe(false);
    expect(matches('nope=')).toBe(false);
    expect(matches('nope!=x')).toBe(true);
    expect(matches('missingValue=*')).toBe(false);
    expect(matches('missingValue!=*')).toBe(true);
  });

  it('addresses tags as tag.<k> and plain <k> (facts first)', () => {
    expect(matches('tag.env=prod')).toBe(true);
    expect(matches('env=fact-env')).toBe(true); // fact wins over tag
    expect(matches('env=prod')).toBe(false);
    expect(matches('role=web')).toBe(true); // falls through to tags
    expect(matches('tag.zone=eu-*')).toBe(true);
    expect(matches('tag.role!=db')).toBe(true);
    expect(matches('tag.nope!=x')).toBe(true);
    expect(matchSelector(parseSelector('role=web'), facts)).toBe(false); // no tags given
  });

  it('matches boolean-ish facts as strings', () => {
    expect(matches('virtual=true')).toBe(true);
    expect(matches('virtual=false')).toBe(false);
  });

  it('ignores prototype members', () => {
    expect(matches('constructor=*', {}, {})).toBe(false);
    expect(matches('toString!=x', {}, {})).toBe(true);
    expect(matches('tag.hasOwnProperty=*', {}, {})).toBe(false);
  });
});

describe('globMatch', () => {
  it('matches edge cases', () => {
    expect(globMatch('', '')).toBe(true);
    expect(globMatch('', 'a')).toBe(false);
    expect(globMatch('*', '')).toBe(true);
    expect(globMatch('?', '')).toBe(false);
    expect(globMatch('a*b*c', 'aXXbYYc')).toBe(true);
    expect(globMatch('a*b*c', 'aXXbYY')).toBe(false);
    expect(globMatch('**a**', 'bab')).toBe(true);
    expect(globMatch('é*', 'É-x')).toBe(true);
  });

  it('is not vulnerable to catastrophic backtracking', () => {
    const value = 'a'.repeat(5_000);
    const t = Date.now();
    expect(globMatch('*a*a*a*a*a*a*a*a*a*a*b', value)).toBe(false);
    expect(globMatch(`${'a*'.repeat(200)}b`, value)).toBe(false);
    expect(Date.now() - t).toBeLessThan(10_000); // linear vs catastrophic, on a busy machine
  });
});
