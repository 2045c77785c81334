// The web console's defences, with a plain HTTP client against a real server: no session →
// sign-in page; a sign-in link works once and only before it expires; cross-site POSTs (no or a
// wrong CSRF token, a foreign or missing Origin) are refused; a viewer's session is refused on an
// action endpoint (and audited); a revoked operator's session ends; the CSP allows no inline script.
// Requires the compiled dist/ (`npx tsc -p .`) and nats-server on PATH.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupFleet, initServer, runFerry, tempDir, waitFor, type ServerHandle } from '../helpers/fleet.js';

afterAll(cleanupFleet, 60_000);

/** Sign-in links live this long on this server: long enough for a loaded machine, short enough to wait out. */
// Long enough for a busy CLI to hand the link over before it expires.
const LOGIN_TTL_MS = 20_000;

let server: ServerHandle;
let base: string;
let viewerCreds: string;

interface Login {
  url: string;
  expiresAt: string;
}

async function uiLogin(creds?: string): Promise<Login> {
  return (await runFerry(server.home, ['ui', 'login', '--json', ...(creds ? ['--creds', creds] : [])])).json<Login>();
}

/** Redeem a sign-in link: the session cookie ("name=value"), or undefined when refused. */
async function signIn(login: Login): Promise<{ status: number; cookie?: string; setCookie: string | null }> {
  const res = await fetch(login.url, { redirect: 'manual' });
  const setCookie = res.headers.get('set-cookie');
  return { status: res.status, setCookie, ...(setCookie ? { cookie: setCookie.split(';')[0]! } : {}) };
}

async function csrfOf(cookie: string, path = '/'): Promise<string> {
  const text = await (await fetch(base + path, { headers: { cookie } })).text();
  const m = /name="csrf" value="([^"]+)"/.exec(text);
  if (!m) throw new Error(`no CSRF token on ${path}:\n${text.slice(0, 2000)}`);
  return m[1]!;
}

function post(path: string, opts: { cookie?: string; csrf?: string; origin?: string | null }): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (opts.cookie) headers.cookie = opts.cookie;
  if (opts.origin !== null) headers.origin = opts.origin ?? base;
  return fetch(base + path, { method: 'POST', redirect: 'manual', headers, body: opts.csrf === undefined ? '' : `csrf=${encodeURIComponent(opts.csrf)}` });
}

beforeAll(async () => {
  server = await initServer({ args: ['--ui-listen', '127.0.0.1:0'], env: { FERRY_UI_LOGIN_TTL_MS: String(LOGIN_TTL_MS) } });
  base = /console (https?:\/\/\S+)/.exec(server.logs())![1]!;
  viewerCreds = join(tempDir('ferry-console-sec-'), 'vera.creds');
  await runFerry(server.home, ['operator', 'add', 'vera', '--role', 'viewer', '--out', viewerCreds]);
}, 180_000);

describe('web console security', () => {
  it('sends a request without a session to the sign-in page, on every page', async () => {
    for (const path of ['/', '/rollouts', '/rollouts/r-00000000', '/hosts/web-1', '/releases', '/schedule', '/audit', '/events']) {
      const res = await fetch(base + path, { redirect: 'manual' });
      expect(res.status, path).toBe(303);
      expect(res.headers.get('location'), path).toBe('/signin');
    }
    const signin = await fetch(base + '/signin');
    expect(signin.status).toBe(200);
    expect(await signin.text()).toContain('ferry ui login');
    // an action without a session is refused outright
    expect((await post('/actions/rollouts/r-00000000/pause', { csrf: 'x' })).status).toBe(403);
  });

  it('opens a session once per sign-in link, with a strict cookie, and refuses the link the second time', async () => {
    const login = await uiLogin();
    expect(login.url).toMatch(new RegExp(`^${base}/login\\?t=[A-Za-z0-9_-]{43}$`));
    expect(Date.parse(login.expiresAt)).toBeGreaterThan(Date.now());
    const first = await signIn(login);
    expect(first.status).toBe(303);
    expect(first.setCookie).toMatch(/^ferry_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    const page = await fetch(base + '/', { headers: { cookie: first.cookie! } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('admin · admin');

    const again = await signIn(login);
    expect(again.status).toBe(403);
    expect(again.setCookie).toBeNull();
    const forged = await signIn({ url: `${base}/login?t=${'A'.repeat(43)}`, expiresAt: login.expiresAt });
    expect(forged.status).toBe(403);
  });

  it('refuses an expired sign-in link', async () => {
    const login = await uiLogin();
    // wait for the link's own expiry time to pass (no fixed sleep: the time is the condition)
    await waitFor(() => Date.now() > Date.parse(login.expiresAt) + 200, LOGIN_TTL_MS + 10_000, { intervalMs: 200 });
    const res = await signIn(login);
    expect(res.status).toBe(403);
    expect(res.setCookie).toBeNull();
  }, 120_000);

  it('refuses cross-site POSTs: no or a wrong CSRF token, a foreign or missing Origin', async () => {
    const { cookie } = await signIn(await uiLogin());
    const csrf = await csrfOf(cookie!);
    const action = '/actions/rollouts/r-00000000/pause';
    expect((await post(action, { cookie })).status).toBe(403); // no token
    expect((await post(action, { cookie, csrf: 'x'.repeat(43) })).status).toBe(403); // wrong token
    expect((await post(action, { cookie, csrf, origin: 'https://evil.example' })).status).toBe(403);
    expect((await post(action, { cookie, csrf, origin: null })).status).toBe(403);
    // the same request from the console itself gets through to the API (no such rollout: 404)
    const ok = await post(action, { cookie, csrf });
    expect(ok.status).toBe(404);
    expect(await ok.text()).toContain('FERRY_NOT_FOUND');
    // a token of another session does not count either
    const other = await signIn(await uiLogin());
    expect((await post(action, { cookie: other.cookie!, csrf })).status).toBe(403);
  }, 120_000);

  it("refuses a viewer's session on an action endpoint and audits the refusal; a revoked operator's session ends", async () => {
    const login = await uiLogin(viewerCreds);
    const { cookie } = await signIn(login);
    const home = await (await fetch(base + '/', { headers: { cookie: cookie! } })).text();
    expect(home).toContain('vera · viewer');
    const csrf = await csrfOf(cookie!);
    for (const path of ['/actions/rollouts/r-00000000/pause', '/actions/releases/web/approve', '/actions/dml/web/1.0.0/authorize']) {
      const res = await post(path, { cookie, csrf });
      expect(res.status, path).toBe(403);
      expect(await res.text(), path).toContain('FERRY_FORBIDDEN');
    }
    const audit = (await runFerry(server.home, ['audit', '--actor', 'vera', '--json'])).json<{ action: string; result: string; error: string | null }[]>();
    expect(audit.map((e) => e.action)).toEqual(expect.arrayContaining(['ui.login', 'rollout.action', 'release.approve', 'dml.authorize']));
    expect(audit.find((e) => e.action === 'rollout.action')).toMatchObject({ result: 'error', error: expect.stringContaining('FERRY_FORBIDDEN') });

    await runFerry(server.home, ['operator', 'revoke', 'vera']);
    const after = await fetch(base + '/', { headers: { cookie: cookie! }, redirect: 'manual' });
    expect(after.status).toBe(303);
    expect(after.headers.get('location')).toBe('/signin');
  }, 120_000);

  it('serves every page with a strict Content-Security-Policy and no inline script', async () => {
    const { cookie } = await signIn(await uiLogin());
    for (const path of ['/', '/rollouts', '/releases', '/schedule', '/audit', '/signin']) {
      const res = await fetch(base + path, { headers: { cookie: cookie! } });
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp, path).toContain("default-src 'none'");
      expect(csp, path).toContain("script-src 'self'");
      expect(csp, path).not.toContain('unsafe-inline');
      expect(res.headers.get('referrer-policy'), path).toBe('same-origin');
      const text = await res.text();
      expect(text.match(/<script[^>]*>/g), path).toEqual(['<script src="/assets/console.js" defer>']);
      expect(text, path).not.toMatch(/\son[a-z]+=|style="/);
    }
  }, 120_000);
});
