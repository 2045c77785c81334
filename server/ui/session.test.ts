import { describe, expect, it } from 'vitest';
import type { Caller } from '../operators/authenticate.js';
import { ConsoleSessions, type ConsoleSession } from './session.js';

const TIMINGS = { loginTtlMs: 5 * 60_000, sessionTtlMs: 8 * 3600_000 };

/** Sessions over a registry the test edits and a clock the test moves. */
function setUp() {
  const clock = { t: 1_700_000_000_000 };
  const registry = new Map<string, Caller>([['ada', { name: 'ada', role: 'admin' }]]);
  const sessions = new ConsoleSessions((name) => registry.get(name), TIMINGS, () => clock.t);
  return { clock, registry, sessions };
}

describe('console sign-in links', () => {
  it('open a session for their operator exactly once', () => {
    const { sessions } = setUp();
    const { token } = sessions.issueLogin('ada');
    const opened = sessions.redeem(token);
    expect(opened?.session.operator).toBe('ada');
    expect(sessions.get(opened!.id)?.caller.name).toBe('ada');
    expect(sessions.redeem(token)).toBeUndefined();
  });

  it('expire after their lifetime, and an expired link is gone even once the clock is set back', () => {
    const { clock, sessions } = setUp();
    const { token, expiresAt } = sessions.issueLogin('ada');
    expect(expiresAt).toBe(clock.t + TIMINGS.loginTtlMs);
    const early = sessions.issueLogin('ada');
    clock.t += TIMINGS.loginTtlMs; // the last moment it still works
    expect(sessions.redeem(early.token)).toBeDefined();
    clock.t += 1;
    expect(sessions.redeem(token)).toBeUndefined();
    clock.t -= 10;
    expect(sessions.redeem(token)).toBeUndefined(); // a refused link is used up too
  });

  it('refuse a forged token and a link of an operator revoked before it was used', () => {
    const { registry, sessions } = setUp();
    expect(sessions.redeem('not-a-token')).toBeUndefined();
    const { token } = sessions.issueLogin('ada');
    registry.delete('ada');
    expect(sessions.redeem(token)).toBeUndefined();
  });
});

describe('console sessions', () => {
  it('end after their lifetime', () => {
    const { clock, sessions } = setUp();
    const opened = sessions.redeem(sessions.issueLogin('ada').token)!;
    expect(opened.session.expiresAt).toBe(clock.t + TIMINGS.sessionTtlMs);
    clock.t += TIMINGS.sessionTtlMs;
    expect(sessions.get(opened.id)).toBeDefined();
    clock.t += 1;
    expect(sessions.get(opened.id)).toBeUndefined();
    clock.t -= 10; // ended for good, not only while the clock is past it
    expect(sessions.get(opened.id)).toBeUndefined();
  });

  it('end at the next request once their operator is revoked, and carry the role as it is now', () => {
    const { registry, sessions } = setUp();
    const opened = sessions.redeem(sessions.issueLogin('ada').token)!;
    registry.set('ada', { name: 'ada', role: 'viewer' });
    expect(sessions.get(opened.id)?.caller.role).toBe('viewer');
    registry.delete('ada');
    expect(sessions.get(opened.id)).toBeUndefined();
    registry.set('ada', { name: 'ada', role: 'admin' }); // re-added: the old session stays ended
    expect(sessions.get(opened.id)).toBeUndefined();
  });

  it('end on sign-out, and are unknown for a missing or made-up cookie', () => {
    const { sessions } = setUp();
    const opened = sessions.redeem(sessions.issueLogin('ada').token)!;
    expect(sessions.get(undefined)).toBeUndefined();
    expect(sessions.get('made-up')).toBeUndefined();
    sessions.end(opened.id);
    expect(sessions.get(opened.id)).toBeUndefined();
  });

  it('each have their own id and CSRF token', () => {
    const { sessions } = setUp();
    const a = sessions.redeem(sessions.issueLogin('ada').token)!;
    const b = sessions.redeem(sessions.issueLogin('ada').token)!;
    expect(a.id).not.toBe(b.id);
    expect(a.session.csrf).not.toBe(b.session.csrf);
    expect(a.session.csrf.length).toBeGreaterThanOrEqual(40);
  });
});

describe('csrfMatches', () => {
  const session: ConsoleSession = { operator: 'ada', csrf: 'abcdefghijklmnop', expiresAt: 0 };
  it('accepts only the session\'s own token', () => {
    expect(ConsoleSessions.csrfMatches(session, 'abcdefghijklmnop')).toBe(true);
    expect(ConsoleSessions.csrfMatches(session, 'abcdefghijklmnoq')).toBe(false);
  });
  it('refuses a missing token and tokens of another length (without throwing)', () => {
    expect(ConsoleSessions.csrfMatches(session, undefined)).toBe(false);
    expect(ConsoleSessions.csrfMatches(session, '')).toBe(false);
    expect(ConsoleSessions.csrfMatches(session, 'abcdefghijklmno')).toBe(false);
    expect(ConsoleSessions.csrfMatches(session, 'abcdefghijklmnopq')).toBe(false);
    expect(ConsoleSessions.csrfMatches(session, 'a'.repeat(10_000))).toBe(false);
    // same number of characters, more bytes
    expect(ConsoleSessions.csrfMatches(session, 'abcdefghijklmnoé')).toBe(false);
  });
});
