// The web console in a real browser (Debian's chromium, driven by puppeteer-core): sign in through
// `ferry ui login`, watch a phased rollout progress live (no reload), pause it from the page and
// see `ferry rollout status` report it paused, resume, see a failing host's error, check that
// a viewer gets no action buttons and that the server refuses the viewer's POST anyway, and that a
// fleet rollback asks first (dismissed: nothing sent; accepted: the CLI sees it roll back).
// One server, three agents, one browser. Screenshots go to $FERRY_CONSOLE_SCREENSHOTS when set
// (docs/console/ holds the committed ones), else to a temporary directory.
// Requires the compiled dist/ (`npx tsc -p .`), nats-server and chromium (scripts/ensure-chromium.sh).
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPackage, cleanupFleet, createToken, initServer, joinAgent, runFerry, startAgents, tempDir, type JoinedAgent, type ServerHandle } from '../helpers/fleet.js';
import { endSoak, HEALTH_ERROR, healthPackage, setHealthFailure, waitStatus } from '../helpers/rollouts.js';

const CHROMIUM = process.env.FERRY_CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p)) ?? '/usr/bin/chromium';
const SHOTS = process.env.FERRY_CONSOLE_SCREENSHOTS ?? tempDir('ferry-console-shots-');
const WAIT_MS = 120_000;

let server: ServerHandle;
let base: string;
let joined: JoinedAgent[];
let browser: Browser;
let rolloutId: string;

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await cleanupFleet();
}, 120_000);

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  const [srv, pkg] = await Promise.all([initServer({ args: ['--ui-listen', '127.0.0.1:0'] }), buildPackage(healthPackage('web', '1.0.0'))]);
  server = srv;
  base = /console (https?:\/\/\S+)/.exec(server.logs())![1]!;
  // The fleet, the release and the browser do not wait for each other.
  const fleet = (async () => {
    const token = await createToken(server.home, { uses: 3, tags: { env: 'staging', role: 'web' } });
    joined = await Promise.all(['web-1', 'web-2', 'web-3'].map((name) => joinAgent(server.home, name, { token })));
    await startAgents(joined, { env: { FERRY_HEALTH_WATCH_MS: '1000' } });
  })();
  const release = (async () => {
    await runFerry(server.home, ['dml', 'add', pkg, '--json']);
    await runFerry(server.home, ['release', 'create', 'web-2026.12', '--package', 'web@1.0.0', '--rfc', 'CHG-1042', '--json']);
  })();
  const launched = puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  [browser] = await Promise.all([launched, fleet, release]);
}, 120_000);

/** A fresh browser context signed in with `ferry ui login --json` (optionally as another operator). */
async function signedInPage(creds?: string): Promise<Page> {
  const { url } = (await runFerry(server.home, ['ui', 'login', '--json', ...(creds ? ['--creds', creds] : [])])).json<{ url: string }>();
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport({ width: 1366, height: 860 });
  page.setDefaultTimeout(WAIT_MS);
  page.on('pageerror', (err) => console.error(`page error: ${String(err)}`));
  page.on('console', (m) => console.error(`page console: ${m.text()}`));
  await page.goto(url, { waitUntil: 'load' });
  expect(new URL(page.url()).pathname).toBe('/');
  return page;
}

/** page.waitForFunction, failing with what the page showed. */
async function until<A extends unknown[]>(page: Page, fn: (...args: A) => unknown, opts: { timeout?: number } = {}, ...args: A): Promise<void> {
  try {
    await page.waitForFunction(fn, opts, ...args);
  } catch (err) {
    const shown = await page.$eval('main', (m) => m.innerHTML.replace(/\s+/g, ' ').slice(0, 6000)).catch(() => '(no page)');
    throw new Error(`${String(err)}: waited for ${fn.toString()}\n${page.url()}\n${shown}`);
  }
}

const hostState = (page: Page, host: string) => page.$eval(`tr[data-host="${host}"]`, (tr) => tr.getAttribute('data-state')).catch(() => null);

describe('web console in a browser', () => {
  it('signs in, shows the fleet, and follows a phased rollout live: pause and resume from the page, a failing host\'s error', async () => {
    const page = await signedInPage();
    await until(page, () => document.querySelectorAll('tbody tr').length >= 3);
    expect(await page.$eval('main', (m) => m.textContent)).toContain('web-3');
    await page.screenshot({ path: join(SHOTS, 'fleet.png'), fullPage: true });

    // Start a phased rollout with a soak after wave 1, and watch it from its page. The soak is
    // far longer than a busy machine's page needs to show it (and be paused in it); the test ends
    // it once resumed, and the last wave's once its hosts finished (a soak's own end is phased.test's).
    const started = (await runFerry(server.home, ['rollout', 'start', 'web-2026.12', '--strategy', 'phased', '--waves', '1,100%', '--soak', '600s', '--max-failures', '1', '--json'])).json<{ id: string }>();
    rolloutId = started.id;
    await page.goto(`${base}/rollouts/${rolloutId}`, { waitUntil: 'load' });
    // A marker that a reload or navigation would wipe: updates must arrive without either.
    await page.evaluate(() => ((window as unknown as { ferryMarker: number }).ferryMarker = 1));
    await until(page, () => document.querySelectorAll('tr[data-host]').length === 3);

    // Wave 1 finishes and soaks: the page shows it by itself, with a countdown.
    await until(page, () => [...document.querySelectorAll('tr[data-host]')].some((tr) => ['succeeded', 'failed'].includes(tr.getAttribute('data-state') ?? '')));
    await until(page, () => /soak ends in \d/.test(document.querySelector('tr[data-wave="1"]')?.textContent ?? ''));
    expect(await page.evaluate(() => (window as unknown as { ferryMarker?: number }).ferryMarker)).toBe(1);
    await page.screenshot({ path: join(SHOTS, 'rollout-soak.png'), fullPage: true });

    // Pause from the page (it does not ask: Resume undoes it), then the CLI reports it paused.
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('#action-pause')]);
    await until(page, () => document.querySelector('#rollout-state')?.textContent?.includes('paused'));
    const status = (await runFerry(server.home, ['rollout', 'status', rolloutId, '--json'])).json<{ state: string; hosts: { hostname: string; wave: number | null }[] }>();
    expect(status.state).toBe('paused');
    expect(await page.$('#action-pause')).toBeNull();

    // One host of wave 2 will fail its health check: its error must show on the page.
    const failing = status.hosts.find((h) => h.wave === 1)!.hostname;
    setHealthFailure(joined.find((a) => a.hostname === failing)!.installRoot, 'web', true);

    // Resume; the rest of the fleet installs and the failing host's error appears, live.
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('#action-resume')]);
    await page.evaluate(() => ((window as unknown as { ferryMarker: number }).ferryMarker = 2));
    await waitStatus(server.home, rolloutId, (s) => s.state !== 'paused', WAIT_MS, 'the rollout resumed');
    await endSoak(server.home, rolloutId);
    // failed, then rolled back on the host (local rollback): either way with its error
    await page.waitForFunction((host) => ['failed', 'rolled-back'].includes(document.querySelector(`tr[data-host="${host}"]`)?.getAttribute('data-state') ?? ''), { timeout: 120_000 }, failing);
    expect(await page.$eval(`tr[data-host="${failing}"]`, (tr) => tr.textContent)).toContain(HEALTH_ERROR);
    await endSoak(server.home, rolloutId); // wave 2's: the last wave soaks too
    await until(page, () => document.querySelector('#rollout-state')?.textContent?.includes('completed'), { timeout: 120_000 });
    const others = joined.map((a) => a.hostname).filter((h) => h !== failing);
    for (const h of others) expect(await hostState(page, h)).toBe('succeeded');
    expect(await page.evaluate(() => (window as unknown as { ferryMarker?: number }).ferryMarker)).toBe(2);
    // the chart of hosts finished over time counts every host, the failing one among the failed
    await until(page, (n: number) => document.querySelector('svg.chart')?.getAttribute('aria-label')?.startsWith(`${n} of ${n} hosts finished (1 failed)`), { timeout: 30_000 }, joined.length);
    expect(await page.$$eval('svg.chart polyline', (l) => l.map((p) => p.getAttribute('class')))).toEqual(['line-finished', 'line-failed']);
    await page.screenshot({ path: join(SHOTS, 'rollout.png'), fullPage: true });

    // The other main pages, for the README.
    for (const [path, name] of [['/', 'fleet-after'], ['/rollouts', 'rollouts'], ['/hosts/FAILING', 'host'], ['/releases', 'releases'], [`/releases/web-2026.12`, 'release'], ['/schedule', 'schedule'], ['/audit', 'audit'], [`/rollouts/${rolloutId}/review`, 'review']] as const) {
      await page.goto(base + path.replace('FAILING', failing), { waitUntil: 'load' });
      expect(await page.$eval('h1', (h) => h.textContent), path).toBeTruthy();
      // the pause and resume pressed on the page are in the audit log under the operator's name
      if (name === 'audit') expect(await page.$eval('main', (m) => m.textContent)).toMatch(/adminrollout\.action/);
      // the failing host's history is a table, not raw JSON
      if (name === 'host') expect((await page.$$('#host-history tbody tr')).length).toBeGreaterThan(0);
      // the policy verdict the start recorded: the rollout passed without violations
      if (name === 'review') expect(await page.$eval('#policy-verdict', (p) => p.textContent)).toMatch(/passed\s+no violations/);
      await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
    }
    await page.browserContext().close();
  }, 300_000);

  it('shows a viewer no action buttons, and the server refuses the viewer\'s POST anyway', async () => {
    const creds = join(tempDir('ferry-console-viewer-'), 'vic.creds');
    await runFerry(server.home, ['operator', 'add', 'vic', '--role', 'viewer', '--out', creds]);
    const page = await signedInPage(creds);
    await page.goto(`${base}/rollouts/${rolloutId}`, { waitUntil: 'load' });
    expect(await page.$eval('.who', (w) => w.textContent)).toContain('vic · viewer');
    expect(await page.$$('form[action^="/actions/"]')).toHaveLength(0);
    await page.goto(`${base}/releases/web-2026.12`, { waitUntil: 'load' });
    expect(await page.$('#action-approve')).toBeNull();
    // A hand-made POST from the viewer's own page (right CSRF token, right Origin): 403.
    const result = await page.evaluate(async (id) => {
      const csrf = (document.querySelector('input[name="csrf"]') as HTMLInputElement).value;
      const res = await fetch(`/actions/rollouts/${id}/rollback`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `csrf=${encodeURIComponent(csrf)}`, redirect: 'manual' });
      return { status: res.status, text: await res.text() };
    }, rolloutId);
    expect(result.status).toBe(403);
    expect(result.text).toContain('FERRY_FORBIDDEN');
    const status = (await runFerry(server.home, ['rollout', 'status', rolloutId, '--json'])).json<{ state: string }>();
    expect(status.state).toBe('completed');
    await page.browserContext().close();
  }, 120_000);

  it('asks before a fleet rollback: dismissed, nothing changes; accepted, the rollout rolls back', async () => {
    const page = await signedInPage();
    await page.goto(`${base}/rollouts/${rolloutId}`, { waitUntil: 'load' });
    const posts: string[] = [];
    page.on('request', (r) => void (r.method() === 'POST' && posts.push(r.url())));
    const answer = (accept: boolean) =>
      new Promise<string>((resolve) =>
        page.once('dialog', (d) => {
          resolve(d.message());
          void (accept ? d.accept() : d.dismiss());
        }),
      );

    // Dismissed: the form is not sent, the page stays, and the CLI still sees the rollout completed.
    const dismissed = answer(false);
    await page.click('#action-rollback');
    expect(await dismissed).toMatch(/^Roll back every changed host/);
    expect((await runFerry(server.home, ['rollout', 'status', rolloutId, '--json'])).json<{ state: string }>().state).toBe('completed');
    expect(posts).toEqual([]);
    expect(new URL(page.url()).pathname).toBe(`/rollouts/${rolloutId}`);
    expect(await page.$('#action-rollback')).not.toBeNull();

    // Accepted: the form is sent and the rollout rolls back (the CLI sees it).
    const accepted = answer(true);
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('#action-rollback')]);
    expect(await accepted).toMatch(/^Roll back every changed host/);
    expect(posts).toEqual([`${base}/actions/rollouts/${rolloutId}/rollback`]);
    expect(['rolling-back', 'rolled-back']).toContain((await runFerry(server.home, ['rollout', 'status', rolloutId, '--json'])).json<{ state: string }>().state);
    await until(page, () => /rolling-back|rolled-back/.test(document.querySelector('#rollout-state')?.textContent ?? ''));
    await page.browserContext().close();
  }, 120_000);
});
