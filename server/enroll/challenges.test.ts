import { describe, expect, it } from 'vitest';
import { CHALLENGES_PER_USE, challengeCapFor, MAX_CHALLENGES_PER_TOKEN, OpenChallenges } from './challenges.js';

const T0 = 1_000_000;

describe('open join challenges', () => {
  it('a challenge stays open until taken: finding it (a join whose proof failed) does not use it up', () => {
    const c = new OpenChallenges(60_000, 100);
    const nonce = c.open('tok', 'agent-nonce', 4, T0);
    expect(c.find(nonce, 'tok', T0 + 1)).toMatchObject({ tokenId: 'tok', agentNonce: 'agent-nonce' });
    expect(c.find(nonce, 'tok', T0 + 2)).toBeDefined();
    c.take(nonce);
    expect(c.find(nonce, 'tok', T0 + 3)).toBeUndefined();
    expect(c.size).toBe(0);
    expect(c.openFor('tok')).toBe(0);
  });

  it('is found only for the token it was made for, and only before it expires', () => {
    const c = new OpenChallenges(60_000, 100);
    const nonce = c.open('tok', 'n', 4, T0);
    expect(c.find(nonce, 'other', T0)).toBeUndefined();
    expect(c.find('no-such-nonce', 'tok', T0)).toBeUndefined();
    expect(c.find(nonce, 'tok', T0 + 59_999)).toBeDefined();
    expect(c.find(nonce, 'tok', T0 + 60_000)).toBeUndefined();
  });

  it("caps one token's open challenges without touching another token's", () => {
    const c = new OpenChallenges(60_000, 100);
    for (let i = 0; i < 3; i++) c.open('x', `n${i}`, 3, T0);
    expect(() => c.open('x', 'n3', 3, T0)).toThrow(/too many joins at once with this token/);
    expect(c.openFor('x')).toBe(3);
    expect(c.open('y', 'n', 3, T0)).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  });

  it('a taken or expired challenge frees its place under the token cap', () => {
    const c = new OpenChallenges(60_000, 100);
    const first = c.open('x', 'a', 2, T0);
    c.open('x', 'b', 2, T0 + 10);
    expect(() => c.open('x', 'c', 2, T0 + 20)).toThrow(/with this token/);
    c.take(first);
    c.open('x', 'c', 2, T0 + 30);
    expect(() => c.open('x', 'd', 2, T0 + 40)).toThrow(/with this token/);
    // 60 s after the second one opened, it has expired: room for one more.
    c.open('x', 'd', 2, T0 + 60_010);
    expect(c.openFor('x')).toBe(2);
  });

  it('keeps the cap in all, and expired challenges free it', () => {
    const c = new OpenChallenges(60_000, 5);
    for (let i = 0; i < 5; i++) c.open(`t${i}`, 'n', 4, T0);
    expect(() => c.open('t9', 'n', 4, T0 + 1)).toThrow(/too many joins at once; try again/);
    expect(c.open('t9', 'n', 4, T0 + 60_000)).toBeTruthy();
    expect(c.size).toBe(1);
  });

  it('taking a challenge twice, or one never opened, changes nothing', () => {
    const c = new OpenChallenges(60_000, 100);
    const a = c.open('x', 'a', 4, T0);
    c.open('x', 'b', 4, T0);
    c.take(a);
    c.take(a);
    c.take('never-opened');
    expect(c.openFor('x')).toBe(1);
    expect(c.size).toBe(1);
  });

  it('the per-token cap is a few per use left, bounded, and none for a token without uses', () => {
    expect(challengeCapFor(0)).toBe(0);
    expect(challengeCapFor(1)).toBe(CHALLENGES_PER_USE);
    expect(challengeCapFor(3)).toBe(3 * CHALLENGES_PER_USE);
    expect(challengeCapFor(1_000_000)).toBe(MAX_CHALLENGES_PER_TOKEN);
    expect(MAX_CHALLENGES_PER_TOKEN).toBeLessThan(20_000 / 10);
  });
});
