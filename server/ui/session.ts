// Sign-in for the web console: one-time sign-in tokens (from `ferry ui login`, bound to the
// operator whose key signed that request) and the sessions they open. Both live in memory only:
// a server restart signs everyone out. Secrets are kept as SHA-256 digests, never as given, and
// a session is only as good as its operator: a revoked or unknown operator's session ends at
// its next request.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Caller } from '../operators/authenticate.js';

export interface ConsoleSession {
  operator: string;
  /** the CSRF token every state-changing form of this session must carry */
  csrf: string;
  expiresAt: number;
}

export interface SessionTimings {
  /** how long a sign-in URL may wait before it is used */
  loginTtlMs: number;
  /** how long a session lasts after sign-in */
  sessionTtlMs: number;
}

export function sessionTimings(env: NodeJS.ProcessEnv = process.env): SessionTimings {
  return {
    loginTtlMs: Number(env.FERRY_UI_LOGIN_TTL_MS ?? 5 * 60_000),
    sessionTtlMs: Number(env.FERRY_UI_SESSION_TTL_MS ?? 8 * 3600_000),
  };
}

const digest = (secret: string) => createHash('sha256').update(secret).digest('base64url');
const secret = () => randomBytes(32).toString('base64url');

export class ConsoleSessions {
  private readonly logins = new Map<string, { operator: string; expiresAt: number }>();
  private readonly sessions = new Map<string, ConsoleSession>();

  constructor(
    /** the operator as the registry knows them now; undefined when unknown or revoked */
    private readonly lookup: (operator: string) => Caller | undefined,
    private readonly timings: SessionTimings = sessionTimings(),
    private readonly now: () => number = Date.now,
  ) {}

  /** A fresh single-use sign-in token for this operator. */
  issueLogin(operator: string): { token: string; expiresAt: number } {
    this.prune();
    const token = secret();
    const expiresAt = this.now() + this.timings.loginTtlMs;
    this.logins.set(digest(token), { operator, expiresAt });
    return { token, expiresAt };
  }

  /** Use a sign-in token (once: it is gone afterwards, used or not): the new session's id, or undefined. */
  redeem(token: string): { id: string; session: ConsoleSession } | undefined {
    const key = digest(token);
    const login = this.logins.get(key);
    this.logins.delete(key);
    if (!login || login.expiresAt < this.now() || !this.lookup(login.operator)) return undefined;
    const id = secret();
    const session = { operator: login.operator, csrf: secret(), expiresAt: this.now() + this.timings.sessionTtlMs };
    this.sessions.set(digest(id), session);
    return { id, session };
  }

  /** The live session of a cookie value and its operator as of now, or undefined. */
  get(id: string | undefined): { session: ConsoleSession; caller: Caller } | undefined {
    if (!id) return undefined;
    const key = digest(id);
    const session = this.sessions.get(key);
    if (!session) return undefined;
    const caller = this.lookup(session.operator);
    if (session.expiresAt < this.now() || !caller) {
      this.sessions.delete(key);
      return undefined;
    }
    return { session, caller };
  }

  end(id: string | undefined): void {
    if (id) this.sessions.delete(digest(id));
  }

  /** Whether a submitted CSRF token is this session's (in constant time). */
  static csrfMatches(session: ConsoleSession, submitted: string | undefined): boolean {
    if (!submitted) return false;
    const a = Buffer.from(session.csrf);
    const b = Buffer.from(submitted);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private prune(): void {
    const now = this.now();
    for (const [k, v] of this.logins) if (v.expiresAt < now) this.logins.delete(k);
    for (const [k, v] of this.sessions) if (v.expiresAt < now) this.sessions.delete(k);
  }
}
