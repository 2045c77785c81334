// `ferry site remove` with real processes: the hub is `ferry server --leaf-listen`, the site a
// nats-server started with the config of `ferry site add` (test/helpers/site.ts, as sites.test.ts).
// An agent joined with the site's token holds the removal back; --force removes it: the hub closes
// both of the site's links (leafz) and deletes the consumer it made for the site's mirror (asked
// for by the name the site's row held: a mirror's consumer is a direct one, which JetStream's
// consumer list leaves out), the site's nats-server started again with its old credentials
// is refused, site list no longer shows it, its unused token is revoked, and the audit log has the
// refusal and the removal. A site added again under the same name has new keys and links. A site
// whose link asked for consumers besides its mirror's (as a hostile site would): every one of them
// still at the hub is deleted, its mirror's too.
// Requires the compiled dist/ (`npx tsc -p .`) and nats-server on PATH.
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectNats, type NatsConnection } from '../../shared/nats/connect.js';
import { readCredsFile } from '../../shared/nats/creds.js';
import { expectCliRefusals } from '../helpers/errors.js';
import { apiRequest, cleanupFleet, joinAgent, runFerry, startServer, tempDir, waitFor, type ServerHandle } from '../helpers/fleet.js';
import { boundMirrorConsumers, hubLeafz, hubSystemConnection, startSite, type TestSite } from '../helpers/site.js';

afterAll(cleanupFleet, 60_000);

describe('site remove', () => {
  let home: string;
  let server: ServerHandle;
  let site: TestSite;
  let again: TestSite | undefined;
  let hostile: TestSite | undefined;
  let sys: NatsConnection;
  let hubNc: NatsConnection;

  /** The consumer the server made for a site's mirror: the one the mirror receives from (the server's log names it). */
  const mirrorConsumerName = async (name: string) => (await boundMirrorConsumers(hubNc, () => server.logs(), name))[0]?.name;
  /** That consumer at the hub, asked for by name. */
  const consumerInfo = async (name: string) =>
    (await hubNc.request(`$JS.API.CONSUMER.INFO.OBJ_ferry-dml.${name}`, '', { timeout: 5000 })).json<{ name?: string; config?: { deliver_subject?: string }; error?: { err_code?: number } }>();

  beforeAll(async () => {
    home = tempDir('ferry-home-');
    await runFerry(home, ['init']);
    // (At info, the server's log names each consumer it makes for a site.)
    server = await startServer(home, { args: ['--leaf-listen', '127.0.0.1:0'], env: { FERRY_SITE_CHECK_MS: '60000', FERRY_LOG_LEVEL: 'info' } });
    site = await startSite(home, 'lyon');
    sys = await hubSystemConnection(home, server.url);
    hubNc = await connectNats({ url: server.url, creds: readCredsFile(join(home, 'keys', 'admin.creds')), name: 'test at the hub' });
  }, 120_000);

  afterAll(async () => {
    await sys?.close().catch(() => undefined);
    await hubNc?.close().catch(() => undefined);
    await server?.stop();
    await site?.stop();
    await again?.stop();
    await hostile?.stop();
  }, 60_000);

  afterEach((ctx) => {
    if (ctx.task.result?.state !== 'fail' || !server) return;
    process.stderr.write(['--- ferry server (tail) ---', server.logs().slice(-6000), '--- site nats-server (tail) ---', site?.logs().slice(-4000) ?? '', ''].join('\n'));
  });

  it('refused while an agent is tagged to the site; --force revokes both links (closed, refused on reconnect), drops the site and its token; audited', async () => {
    const token = (await runFerry(home, ['token', 'create', '--site', 'lyon', '--uses', '2', '--json'])).json<{ token: string; id: string }>();
    const agent = await joinAgent(home, 'lyon-1', { token: token.token });
    // The site's link (AGENTS) and its system-account link (SYS).
    expect((await hubLeafz(sys)).length).toBe(2);

    await expectCliRefusals((args) => runFerry(home, args, { allowFail: true }), [
      [['site', 'remove', 'lyon'], 4, /^FERRY_CONFLICT: site lyon still has 1 agent \(lyon-1\); nothing was removed — hint: .*--force/],
      [['site', 'remove', 'nowhere'], 3, /^FERRY_NOT_FOUND: no site nowhere — hint: ferry site list shows the sites$/],
    ]);
    expect((await apiRequest(home, 'site.list', {})).map((s) => s.name)).toEqual(['lyon']);
    expect((await hubLeafz(sys)).length).toBe(2);

    // The site's mirror consumer at the hub, made by the server for its mirror.
    const consumer = await mirrorConsumerName('lyon');
    expect(consumer).toBeDefined();
    expect(await consumerInfo(consumer!)).toMatchObject({ name: consumer, config: { deliver_subject: expect.stringMatching(/^\$JS\.M\./) as unknown } });

    const removed = (await runFerry(home, ['site', 'remove', 'lyon', '--force', '--json'])).json<{ name: string; link: string; systemLink: string; agents: { id: string }[]; tokensRevoked: string[]; mirrorConsumer: string }>();
    expect(removed).toMatchObject({ name: 'lyon', link: 'revoked', systemLink: 'revoked', agents: [{ id: agent.id }], tokensRevoked: [token.id], mirrorConsumer: 'deleted' });
    // The reply comes once nats-server applied the account update: both links are closed by then,
    // and the mirror's consumer is gone (not left for JetStream to drop once it sees no interest).
    expect(await hubLeafz(sys)).toEqual([]);
    expect((await consumerInfo(consumer!)).error?.err_code).toBe(10014);
    const text = await runFerry(home, ['site', 'list']);
    expect(text.stdout).not.toMatch(/^lyon\s/m);
    expect(await apiRequest(home, 'site.list', {})).toEqual([]);
    const tokens = (await runFerry(home, ['token', 'list', '--json'])).json<{ id: string; state: string }[]>();
    expect(tokens.find((t) => t.id === token.id)?.state).toBe('revoked');
    // The agent keeps its tag: --target site=lyon still finds it.
    expect((await apiRequest(home, 'agents.list', { target: 'site=lyon' })).map((a) => a.id)).toEqual([agent.id]);

    // The site's nats-server started afresh with its old credentials: the hub refuses both links.
    const before = site.logs().length;
    await site.restart({ linked: false });
    await waitFor(() => /authorization violation/i.test(site.logs().slice(before)), 30_000, { intervalMs: 200, message: () => `the site's nats-server was not refused:\n${site.logs().slice(before).slice(-3000)}` });
    expect(await hubLeafz(sys)).toEqual([]);

    const audit = (await runFerry(home, ['audit', '--action', 'site.remove', '--json'])).json<{ actor: string; target: string | null; result: string; error: string | null; args: Record<string, unknown> }[]>();
    expect(audit.filter((e) => e.target === 'lyon').map((e) => [e.result, e.args.force])).toEqual(expect.arrayContaining([['error', false], ['ok', true]]));
    expect(audit.find((e) => e.result === 'error' && e.target === 'lyon')?.error).toMatch(/^FERRY_CONFLICT/);
    expect(audit.find((e) => e.target === 'nowhere')?.error).toMatch(/^FERRY_NOT_FOUND/);
  }, 120_000);

  it('a site added again under the removed name has new link keys: it links; removed again, as text', async () => {
    await site.stop();
    again = await startSite(home, 'lyon');
    expect((await apiRequest(home, 'site.list', {})).map((s) => [s.name, s.linked])).toEqual([['lyon', true]]);
    expect((await hubLeafz(sys)).length).toBe(2);
    // The agent joined through the first lyon is tagged site=lyon: it counts for this one too.
    const out = (await runFerry(home, ['site', 'remove', 'lyon', '--force'])).stdout.split('\n');
    expect(out[0]).toBe('Removed site lyon: its link credentials are revoked; the hub has closed its link and refuses it from now on');
    expect(out).toContain("1 agent is still tagged site=lyon: it reaches the hub once the site's nats-server stops (ferry agents list --target site=lyon)");
    expect(await hubLeafz(sys)).toEqual([]);
  }, 120_000);

  it('a site whose link asked for more consumers than its mirror\'s (as a hostile site would): every one still at the hub is deleted, its mirror\'s too', async () => {
    hostile = await startSite(home, 'nice');
    const live = (await boundMirrorConsumers(hubNc, () => server.logs(), 'nice'))[0];
    expect(live?.config.deliver_subject).toMatch(/^\$JS\.M\./);
    const atNice = await connectNats({ url: hostile.url, creds: readCredsFile(join(home, 'keys', 'admin.creds')), name: 'hostile nice' });
    // Something at the hub keeps receiving from the mirror's consumer and from one of the others:
    // JetStream would not drop them by itself once the link is closed.
    const held = [hubNc.subscribe(live!.config.deliver_subject!), hubNc.subscribe('$JS.M.more0')];
    try {
      const more: string[] = [];
      for (let i = 0; i < 2; i++) {
        const body = { stream_name: 'OBJ_ferry-dml', config: { deliver_subject: `$JS.M.more${i}`, deliver_policy: 'all' } };
        const made = (await atNice.request('ferry.mirror.nice.CONSUMER.CREATE.OBJ_ferry-dml', JSON.stringify(body), { timeout: 10_000, noMux: true, reply: `$JSC.R.more${i}` })).json<{ name?: string; error?: unknown }>();
        expect(made.error).toBeUndefined();
        more.push(made.name!);
      }
      const removed = (await runFerry(home, ['site', 'remove', 'nice', '--json'])).json<{ mirrorConsumer: string }>();
      expect(removed.mirrorConsumer).toBe('deleted');
      expect((await consumerInfo(live!.name)).error?.err_code).toBe(10014);
      expect((await consumerInfo(more[0]!)).error?.err_code).toBe(10014);
    } finally {
      for (const sub of held) sub.unsubscribe();
      await atNice.close();
    }
  }, 120_000);
});
