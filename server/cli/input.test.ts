import { describe, expect, it } from 'vitest';
import { catchFerryError } from '../../test/helpers/errors.js';
import { FerryError } from '../../shared/errors.js';
import { checkRequestShape, checkRequestText, flagFor, inputErrorFromServer } from './input.js';

describe('checkRequestText: the CLI refuses control characters in what a user typed', () => {
  it.each([
    [{ name: 'rel', notes: 'ok\x1b[2J' }, /^--notes contains a control character \(\\x1b at character 3\)$/],
    [{ name: 'rel', rollbackPlan: 'undo\u202e' }, /^--rollback-plan contains a bidirectional/],
    [{ tags: { env: 'prod\x1b[31m' }, ttlMs: 1, uses: 1 }, /^--tag env contains a control character/],
    [{ tags: { 'e\x07': 'x' } }, /^--tag e\\x07 name contains a control character/],
    [{ name: 'r', comment: 'fine\nforged' }, /^--comment contains a control character \(\\x0a/],
    [{ release: 'r', timeZone: 'UTC\x00' }, /^--timezone /],
    [{ packages: ['a@1.0.0', 'b@1\x1b'] }, /^--package /],
  ])('%j', (body, message) => {
    const e = catchFerryError(() => checkRequestText(body), 'FERRY_INVALID_INPUT');
    expect(e.message).toMatch(message);
  });
  it('notes and rollback plans may hold newlines and tabs; ordinary Unicode passes everywhere', () => {
    expect(() => checkRequestText({ name: 'rel', notes: 'line 1\n\tline 2', rollbackPlan: 'a\nb', owner: 'Zoë — ✓' })).not.toThrow();
  });
});

describe('flagFor: a request field is named as the user typed it', () => {
  it.each([
    ['token.create', ['ttlMs'], '--ttl'],
    ['rollout.start', ['hostTimeoutMs'], '--host-timeout'],
    ['rollout.start', ['soakMs'], '--soak'],
    ['rollout.start', ['maxRateBps'], '--max-rate'],
    ['rollout.start', ['timeZone'], '--timezone'],
    ['rollout.start', ['maxFailures'], '--max-failures'],
    ['rollout.start', ['release'], 'RELEASE'],
    ['rollout.start', ['remove'], '--remove'],
    ['notify.add', ['release'], '--release'],
    ['agents.decommission', ['purgeTimeoutMs'], '--purge-timeout'],
    ['agents.logs', ['host'], 'HOST'],
    ['cmdb.show', ['host'], 'HOST'],
    ['cmdb.clone', ['from'], 'PROD'],
    ['cmdb.clone', ['to'], '--to'],
    ['site.set', ['maxRateBps'], '--max-rate'],
    ['token.revoke', ['id'], 'ID'],
    ['release.create', ['packages', '0'], '--package'],
    ['token.create', ['tags', 'env'], '--tag env'],
  ])('%s %j is %s', (verb, path, flag) => {
    expect(flagFor(path, verb)).toBe(flag);
  });
});

describe('checkRequestShape: the bounds in the unit the user typed', () => {
  it.each([
    ['token.create', { ttlMs: 0, uses: 1 }, '--ttl "0s": must be more than 0s'],
    ['token.create', { ttlMs: 400 * 86_400_000, uses: 1 }, '--ttl "400d": must be at most 365d'],
    ['rollout.start', { release: 'r', hostTimeoutMs: 0 }, '--host-timeout "0s": must be more than 0s'],
    ['rollout.start', { release: 'r', maxRateBps: 512 }, '--max-rate "0.5KiB/s": must be at least 1KiB/s'],
    ['site.set', { name: 's', maxRateBps: 100 }, '--max-rate "0.1KiB/s": must be at least 1KiB/s'],
    ['agents.decommission', { id: 'a', purgeTimeoutMs: 7_200_000 }, '--purge-timeout "2h": must be at most 1h'],
    ['rollout.start', { release: 'r', target: 'x'.repeat(1025) }, `--target "${'x'.repeat(60)}…" (1025 characters): must be at most 1024 characters`],
    ['token.create', { tags: { k: 'v'.repeat(5000) }, ttlMs: 1, uses: 1 }, `--tag k "${'v'.repeat(60)}…" (5000 characters): must be at most 256 characters`],
    ['notify.add', { url: 'http://x', events: [] }, '--events: must not be empty'],
  ] as const)('%s %j', (verb, body, message) => {
    const e = catchFerryError(() => checkRequestShape(verb, body), 'FERRY_INVALID_INPUT');
    if (typeof message === 'string') expect(e.message).toBe(message);
    else expect(e.message).toMatch(message);
  });

  it('a release name is called one, with what it may hold', () => {
    for (const [verb, body, name] of [
      ['rollout.start', { release: 'Bad_Name' }, 'RELEASE "Bad_Name"'],
      ['release.create', { name: 'bad name', packages: ['a@1.0.0'] }, 'NAME "bad name"'],
      ['release.show', { name: 'Bad' }, 'NAME "Bad"'],
      ['notify.add', { url: 'http://x', events: ['*'], release: 'A' }, '--release "A"'],
    ] as const) {
      const e = catchFerryError(() => checkRequestShape(verb, body));
      expect(e.message).toBe(`${name}: not a valid release name`);
      expect(e.hint).toMatch(/^a release name is 1-64 of a-z 0-9 \. _ -/);
    }
    // a package is still a package
    expect(catchFerryError(() => checkRequestShape('dml.show', { name: 'Bad', version: '1.0.0' })).message).toBe('NAME@VERSION "Bad": not a valid package name');
  });

  it('a --tag key that is not one: the key is named (not the value) with what a key may hold', () => {
    const e = catchFerryError(() => checkRequestShape('token.create', { tags: { ключ: '☃' }, ttlMs: 1, uses: 1 }));
    expect(e.message).toBe('--tag key "ключ": tag keys are letters, digits, _ . -');
  });
});

describe('checkRequestShape: an empty value is refused naming its flag, never taken for the default', () => {
  it.each([
    ['rollout.start', { release: 'r', target: '' }, '--target must not be empty', 'to select every host, say --target all'],
    ['rollout.start', { release: 'r', target: '  ' }, '--target must not be empty', 'to select every host, say --target all'],
    ['agents.list', { target: '' }, '--target must not be empty', 'to select every host, say --target all'],
    ['cmdb.versions', { package: 'p', target: '' }, '--target must not be empty', 'to select every host, say --target all'],
    ['rollout.start', { release: 'r', window: '' }, '--window must not be empty', 'see --help for what it takes'],
    ['rollout.start', { release: 'r', reason: '', force: true }, '--reason must not be empty', 'see --help for what it takes'],
    ['rollout.start', { release: '' }, 'RELEASE must not be empty', 'see --help for what it takes'],
    ['rollout.status', { id: '' }, 'ID must not be empty', 'see --help for what it takes'],
    ['rollout.review', { id: '' }, 'ID must not be empty', 'see --help for what it takes'],
    ['cmdb.show', { host: '' }, 'HOST must not be empty', 'see --help for what it takes'],
    ['agents.tag', { host: '', set: { a: 'b' } }, 'HOST must not be empty', 'see --help for what it takes'],
    ['agents.logs', { host: 'h', rollout: '' }, '--rollout must not be empty', 'see --help for what it takes'],
    ['audit.list', { actor: '' }, '--actor must not be empty', 'see --help for what it takes'],
    ['token.create', { ttlMs: 1, uses: 1, site: '' }, '--site must not be empty', 'see --help for what it takes'],
    ['notify.add', { url: 'http://x', events: ['*'], secret: '' }, '--secret must not be empty', 'see --help for what it takes'],
  ] as const)('%s %j', (verb, body, message, hint) => {
    const e = catchFerryError(() => checkRequestShape(verb, body));
    expect([e.message, e.hint]).toEqual([message, hint]);
  });

  it('descriptive text may be empty, and so may a tag value', () => {
    expect(() => checkRequestShape('release.create', { name: 'r', packages: ['a@1.0.0'], notes: '', owner: '', rfc: '', rollbackPlan: '' })).not.toThrow();
    expect(() => checkRequestShape('release.approve', { name: 'r', comment: '' })).not.toThrow();
    expect(() => checkRequestShape('token.create', { tags: { env: '' }, ttlMs: 1, uses: 1 })).not.toThrow();
    expect(() => checkRequestShape('rollout.start', { release: 'r', target: 'all', window: 'Sat,Sun' })).not.toThrow();
  });
});

describe('inputErrorFromServer: a server refusing the shape speaks the CLI\'s words', () => {
  const server = (verb: string, rest: string) => new FerryError('FERRY_INVALID_MESSAGE', `${verb} request: ${rest}`);
  it.each([
    ['token.create', 'ttlMs: Too small: expected number to be >0', '--ttl: must be more than 0s'],
    ['rollout.start', 'hostTimeoutMs: Too small: expected number to be >0', '--host-timeout: must be more than 0s'],
    ['rollout.start', 'maxRateBps: Too small: expected number to be >=1024', '--max-rate: must be at least 1KiB/s'],
    ['rollout.start', 'release: not a valid package name', 'RELEASE: not a valid release name'],
    ['dml.show', 'name: not a valid package name', 'NAME@VERSION: not a valid package name'],
    ['cmdb.show', 'host: Too small: expected string to have >=1 characters', 'HOST: must not be empty'],
    ['rollout.start', 'target: Too big: expected string to have <=1024 characters', '--target: must be at most 1024 characters'],
    ['release.create', 'packages.0: expected NAME@VERSION', '--package: expected NAME@VERSION'],
  ])('%s %s', (verb, rest, message) => {
    const e = inputErrorFromServer(verb, server(verb, rest));
    expect([e.code, e.message]).toEqual(['FERRY_INVALID_INPUT', message]);
  });
  it('leaves other errors, and another verb\'s, as they are', () => {
    const other = new FerryError('FERRY_NOT_FOUND', 'no release x');
    expect(inputErrorFromServer('release.show', other)).toBe(other);
    const elsewhere = server('token.create', 'ttlMs: bad');
    expect(inputErrorFromServer('rollout.start', elsewhere)).toBe(elsewhere);
  });
});
