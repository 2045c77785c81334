// The web console's HTTP(S) listener (`ferry server --ui-listen HOST:PORT`): sign-in with a
// one-time link, server-rendered pages, the actions of the operator's role as POST forms, and
// /events for live updates. Every response carries a strict Content-Security-Policy (scripts and
// styles only from /assets), every POST needs the session's CSRF token and a same-origin Origin,
// and every read or action goes through the admin API as the signed-in operator. Tokens and
// cookies are never logged.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { FerryError, toFerryError } from '../../shared/errors.js';
import type { ApiRequest, ApiVerb } from '../../shared/protocol/api.js';
import type { Caller } from '../operators/authenticate.js';
import { CONSOLE_CSS } from './assets/console-css.js';
import { CONSOLE_JS } from './assets/console-js.js';
import type { LiveEvents } from './live.js';
import { auditPage } from './pages/audit.js';
import type { Page, PageContext } from './pages/context.js';
import { fleetPage } from './pages/fleet.js';
import { hostPage } from './pages/host.js';
import { html, type Html } from './pages/html.js';
import { layout, signInPage } from './pages/layout.js';
import { releasePage, releasesPage } from './pages/releases.js';
import { reviewPage, rolloutIdOf, rolloutPage, rolloutsPage } from './pages/rollouts.js';
import { schedulePage } from './pages/schedule.js';
import { ConsoleSessions, type ConsoleSession } from './session.js';

export const SESSION_COOKIE = 'ferry_session';

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // the sign-in link carries its token in the URL: never send it to another site as a Referer
  // (same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on form POSTs)
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
};

export interface ConsoleOptions {
  listen: string;
  /** serve HTTPS with these PEM files (the server's --tls-cert / --tls-key) */
  tls?: { cert: string; key: string } | undefined;
  sessions: ConsoleSessions;
  /** one admin API verb as this caller (ApiRouter.call: role check, schema, audit) */
  call: (caller: Caller, verb: ApiVerb, body: Record<string, unknown>) => Promise<unknown>;
  live: LiveEvents;
  log: Logger;
}

export interface ConsoleHttp {
  /** http(s)://HOST:PORT, with the port actually bound */
  url: string;
  /** a one-time sign-in URL for this operator (`ferry ui login`) */
  loginUrl(operator: string): { url: string; expiresAt: string };
  close(): Promise<void>;
}

export function parseUiListen(listen: string): { host: string; port: number } {
  const m = /^(.+):(\d{1,5})$/.exec(listen.trim());
  if (!m || Number(m[2]) > 65535) throw new FerryError('FERRY_INVALID_INPUT', `--ui-listen "${listen}" is not HOST:PORT`, { hint: 'e.g. --ui-listen 127.0.0.1:8080' });
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

export async function startConsoleHttp(opts: ConsoleOptions): Promise<ConsoleHttp> {
  const { host, port } = parseUiListen(opts.listen);
  const secure = opts.tls !== undefined;
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    void handle(req, res, opts, secure).catch((err: unknown) => {
      opts.log.error({ err: String(err), path: pathOf(req) }, 'console request failed');
      if (!res.headersSent) sendHtml(res, 500, errorPage('Something went wrong on the server; see its log.'));
      else res.end();
    });
  };
  const server: Server = secure ? createHttpsServer({ cert: readFileSync(opts.tls!.cert), key: readFileSync(opts.tls!.key) }, handler) : createHttpServer(handler);
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new FerryError(err.code === 'EADDRINUSE' ? 'FERRY_CONFLICT' : 'FERRY_INVALID_INPUT', `cannot serve the console on ${opts.listen}: ${err.code ?? err.message}`, { hint: 'choose another --ui-listen address' })),
    );
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.address === '0.0.0.0' || addr.address === '::' ? hostname() : addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `${secure ? 'https' : 'http'}://${shownHost}:${addr.port}`;
  opts.log.info({ url }, 'serving the web console');
  return {
    url,
    loginUrl: (operator) => {
      const { token, expiresAt } = opts.sessions.issueLogin(operator);
      return { url: `${url}/login?t=${token}`, expiresAt: new Date(expiresAt).toISOString() };
    },
    close: () =>
      new Promise<void>((resolve) => {
        opts.live.stop();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const pathOf = (req: IncomingMessage) => (req.url ?? '/').split('?')[0] ?? '/';

async function handle(req: IncomingMessage, res: ServerResponse, opts: ConsoleOptions, secure: boolean): Promise<void> {
  const url = new URL(req.url ?? '/', `${secure ? 'https' : 'http'}://${req.headers.host ?? 'localhost'}`);
  const path = url.pathname;
  const method = req.method ?? 'GET';
  if (method === 'GET' && path === '/assets/console.css') return sendText(res, 200, 'text/css; charset=utf-8', CONSOLE_CSS, true);
  if (method === 'GET' && path === '/assets/console.js') return sendText(res, 200, 'text/javascript; charset=utf-8', CONSOLE_JS, true);
  if (method === 'GET' && path === '/favicon.ico') return sendText(res, 204, 'text/plain', '');
  if (method === 'GET' && path === '/signin') return sendHtml(res, 200, signInPage());
  if (method === 'GET' && path === '/login') return login(res, url, opts, secure);

  const cookie = cookieOf(req, SESSION_COOKIE);
  const signedIn = opts.sessions.get(cookie);
  if (!signedIn) {
    if (method === 'GET' || method === 'HEAD') return redirect(res, '/signin');
    return sendHtml(res, 403, errorPage('You are not signed in (or your session ended).', 403));
  }
  const ctx: PageContext = {
    caller: signedIn.caller,
    csrf: signedIn.session.csrf,
    url,
    liveSince: opts.live.generation,
    call: <V extends ApiVerb>(verb: V, body: ApiRequest<V>) => opts.call(signedIn.caller, verb, body as Record<string, unknown>),
  };

  if (method === 'POST') return post(req, res, ctx, signedIn.session, cookie, opts, secure);
  if (method !== 'GET' && method !== 'HEAD') return sendText(res, 405, 'text/plain', 'method not allowed\n', false, { allow: 'GET, HEAD, POST' });
  if (path === '/events') return opts.live.attach(res, url.searchParams.get('since') ?? undefined);
  let page: PageFn | undefined;
  try {
    page = route(path);
  } catch {
    page = undefined; // a malformed %-escape
  }
  if (!page) return sendHtml(res, 404, layout({ title: 'Not found', section: 'none', body: html`<p>No page at this address. <a href="/">Go to the fleet.</a></p>` }, ctx));
  try {
    sendHtml(res, 200, layout(await page(ctx), ctx));
  } catch (err) {
    const e = toFerryError(err);
    if (e.code === 'FERRY_INTERNAL') opts.log.error({ err: String(err), path }, 'console page failed');
    const status = statusOf(e);
    sendHtml(res, status, layout({ title: status === 404 ? 'Not found' : 'Cannot show this page', section: 'none', body: html`<p class="error" role="alert">${e.code}: ${e.message}</p>` }, ctx));
  }
}

type PageFn = (ctx: PageContext) => Promise<Page>;

function route(path: string): PageFn | undefined {
  const seg = path.split('/').filter(Boolean).map((s) => decodeURIComponent(s));
  if (seg.length === 0) return fleetPage;
  const [first, second, third] = seg;
  if (seg.length === 1 && first === 'rollouts') return rolloutsPage;
  if (seg.length === 2 && first === 'rollouts') return (c) => rolloutPage(c, rolloutIdOf(second!));
  if (seg.length === 3 && first === 'rollouts' && third === 'review') return (c) => reviewPage(c, rolloutIdOf(second!));
  if (seg.length === 2 && first === 'hosts') return (c) => hostPage(c, second!);
  if (seg.length === 1 && first === 'releases') return releasesPage;
  if (seg.length === 2 && first === 'releases') return (c) => releasePage(c, second!);
  if (seg.length === 1 && first === 'schedule') return schedulePage;
  if (seg.length === 1 && first === 'audit') return auditPage;
  return undefined;
}

function login(res: ServerResponse, url: URL, opts: ConsoleOptions, secure: boolean): void {
  const token = url.searchParams.get('t') ?? '';
  const opened = token ? opts.sessions.redeem(token) : undefined;
  if (!opened) return sendHtml(res, 403, signInPage('This sign-in link was already used, has expired, or is not one Ferry issued. Run ferry ui login for a new one.'));
  const maxAge = Math.max(1, Math.floor((opened.session.expiresAt - Date.now()) / 1000));
  res.setHeader('set-cookie', `${SESSION_COOKIE}=${opened.id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${secure ? '; Secure' : ''}`);
  opts.log.info({ operator: opened.session.operator }, 'console sign-in');
  redirect(res, '/');
}

/** The actions: each maps onto one admin API verb, called as the signed-in operator. */
function actionOf(path: string): { verb: ApiVerb; body: Record<string, unknown>; back: string } | undefined {
  const seg = path.split('/').filter(Boolean).map((s) => decodeURIComponent(s));
  if (seg[0] !== 'actions') return undefined;
  if (seg.length === 4 && seg[1] === 'rollouts' && ['pause', 'resume', 'abort', 'rollback'].includes(seg[3]!)) {
    const id = rolloutIdOf(seg[2]!);
    return { verb: 'rollout.action', body: { id, action: seg[3] }, back: `/rollouts/${id}` };
  }
  if (seg.length === 4 && seg[1] === 'releases' && seg[3] === 'approve') return { verb: 'release.approve', body: { name: seg[2] }, back: `/releases/${encodeURIComponent(seg[2]!)}` };
  if (seg.length === 5 && seg[1] === 'dml' && seg[4] === 'authorize') return { verb: 'dml.authorize', body: { name: seg[2], version: seg[3] }, back: '/releases' };
  return undefined;
}

async function post(req: IncomingMessage, res: ServerResponse, ctx: PageContext, session: ConsoleSession, cookie: string | undefined, opts: ConsoleOptions, secure: boolean): Promise<void> {
  // Cross-site requests stop here: the Origin must be this console, and the form must carry this session's token.
  const expectedOrigin = `${secure ? 'https' : 'http'}://${req.headers.host ?? ''}`;
  if (req.headers.origin !== expectedOrigin) return sendHtml(res, 403, layout(refusal('the request did not come from this console (Origin)'), ctx));
  let form: URLSearchParams;
  try {
    form = new URLSearchParams(await readBody(req, 8192));
  } catch (err) {
    return sendHtml(res, 400, layout(refusal((err as Error).message), ctx));
  }
  if (!ConsoleSessions.csrfMatches(session, form.get('csrf') ?? undefined)) return sendHtml(res, 403, layout(refusal('the form is stale or forged (CSRF token); reload the page and try again'), ctx));
  if (ctx.url.pathname === '/logout') {
    opts.sessions.end(cookie);
    res.setHeader('set-cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? '; Secure' : ''}`);
    return redirect(res, '/signin');
  }
  let action: ReturnType<typeof actionOf>;
  try {
    action = actionOf(ctx.url.pathname);
  } catch (err) {
    return sendHtml(res, 400, layout(refusal((err as Error).message), ctx));
  }
  if (!action) return sendHtml(res, 404, layout(refusal('no such action'), ctx));
  try {
    await opts.call(ctx.caller, action.verb, action.body);
  } catch (err) {
    const e = toFerryError(err);
    return sendHtml(res, statusOf(e), layout({ title: 'Refused', section: 'none', body: html`<p class="error" role="alert">${e.code}: ${e.message}</p><p><a href="${action.back}">Back</a></p>` }, ctx));
  }
  redirect(res, action.back);
}

function refusal(why: string): Page {
  return { title: 'Refused', section: 'none', body: html`<p class="error" role="alert">FERRY_FORBIDDEN: ${why}</p>` };
}

function statusOf(e: FerryError): number {
  switch (e.code) {
    case 'FERRY_FORBIDDEN':
    case 'FERRY_POLICY_DENIED':
      return 403;
    case 'FERRY_NOT_FOUND':
      return 404;
    case 'FERRY_CONFLICT':
      return 409;
    case 'FERRY_INTERNAL':
      return 500;
    default:
      return 400;
  }
}

function errorPage(message: string, status = 500): Html {
  return layout({ title: status === 403 ? 'Refused' : 'Error', section: 'none', body: html`<p class="error" role="alert">${message}</p><p><a href="/signin">Sign in</a></p>` }, undefined);
}

function cookieOf(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim() || undefined;
  }
  return undefined;
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new Error(`the form is larger than ${limit} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(303, { ...SECURITY_HEADERS, location });
  res.end();
}

function sendHtml(res: ServerResponse, status: number, body: Html): void {
  sendText(res, status, 'text/html; charset=utf-8', body.text);
}

function sendText(res: ServerResponse, status: number, type: string, body: string, cacheable = false, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, ...(cacheable ? { 'cache-control': 'private, max-age=300' } : {}), 'content-type': type, ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
