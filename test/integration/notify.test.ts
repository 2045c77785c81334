// Events and webhooks end to end: a real server, two agents and real webhook receivers
// (node:http) that check every signature themselves. A phased rollout is delivered from start
// to completion, signed and in order; a receiver that was down gets what it missed; a late
// JetStream consumer catches up on the event stream; a receiver answering 500 then 200 gets the
// event until it accepts it; the cursor survives a server restart; agents cannot touch events;
// and `ferry notify add|list|remove|test` through the real CLI.
// Requires the compiled dist/ (`npx tsc -p .`) and nats-server on PATH.
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENTS_STREAM, ferryEventSchema, type FerryEvent } from '../../shared/protocol/events.js';
import { cleanupFleet, createToken, initServer, joinAgent, runFerry, startAgent, startServer, waitFor, type AgentHandle, type JoinedAgent, type ServerHandle } from '../helpers/fleet.js';
import { connectAsAdmin, connectAsAgent, expectDenied, serverSecrets } from '../helpers/hostile.js';
import { buildAll, healthPackage, publishAll, startAndWait } from '../helpers/rollouts.js';
import { WebhookReceiver } from '../helpers/webhooks.js';
import type { WebhookDoc } from '../../server/notify/service.js';

afterAll(cleanupFleet, 60_000);

const PHASED = ['--strategy', 'phased', '--waves', '1,100%'];
// Short retries so a receiver that comes back is served within about a second.
const SERVER_ENV = { FERRY_NOTIFY_RETRY_BASE_MS: '100', FERRY_NOTIFY_RETRY_CAP_MS: '800', FERRY_NOTIFY_TIMEOUT_MS: '15000' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


async function addWebhook(home: string, receiver: WebhookReceiver, events: string, extra: string[] = []): Promise<WebhookDoc & { secret: string }> {
  const doc = (await runFerry(home, ['notify', 'add', receiver.url, '--events', events, '--json', ...extra])).json<WebhookDoc & { secret: string }>();
  receiver.secret = doc.secret;
  return doc;
}

async function listWebhooks(home: string): Promise<WebhookDoc[]> {
  return (await runFerry(home, ['notify', 'list', '--json'])).json<WebhookDoc[]>();
}

async function webhook(home: string, id: string): Promise<WebhookDoc> {
  const h = (await listWebhooks(home)).find((x) => x.id === id);
  if (!h) throw new Error(`webhook ${id} is not listed`);
  return h;
}

const ofRollout = (events: FerryEvent[], id: string) => events.filter((e) => (e.data as { rollout?: string }).rollout === id);
const indexOf = (events: FerryEvent[], pred: (e: FerryEvent) => boolean, what: string): number => {
  const i = events.findIndex(pred);
  if (i < 0) throw new Error(`no ${what} among ${events.map((e) => e.type).join(', ')}`);
  return i;
};
const waveEvent = (type: string, wave: number) => (e: FerryEvent) => e.type === type && (e.data as { wave?: number }).wave === wave;

/** Everything a complete phased rollout of two hosts (waves 1, 100%) must have told, in order. */
function expectCompleteStory(events: FerryEvent[], rollout: string, agents: JoinedAgent[], waveOf: Map<string, number>): void {
  const story = ofRollout(events, rollout);
  const types = story.map((e) => e.type);
  expect(types[0]).toBe('rollout.created');
  expect(types[1]).toBe('rollout.started');
  expect(types[types.length - 1]).toBe('rollout.completed');
  expect(types.filter((t) => t.startsWith('rollout.'))).toEqual(['rollout.created', 'rollout.started', 'rollout.completed']);
  const w0start = indexOf(story, waveEvent('wave.started', 0), 'wave.started 0');
  const w0done = indexOf(story, waveEvent('wave.completed', 0), 'wave.completed 0');
  const w1start = indexOf(story, waveEvent('wave.started', 1), 'wave.started 1');
  const w1done = indexOf(story, waveEvent('wave.completed', 1), 'wave.completed 1');
  expect(w0start).toBeLessThan(w0done);
  expect(w0done).toBeLessThan(w1start);
  expect(w1start).toBeLessThan(w1done);
  for (const a of agents) {
    const wave = waveOf.get(a.id)!;
    const mine = (type: string) => (e: FerryEvent) => e.type === type && (e.data as { agent?: string }).agent === a.id;
    const sent = indexOf(story, mine('host.sent'), `host.sent of ${a.hostname}`);
    const ok = indexOf(story, mine('host.succeeded'), `host.succeeded of ${a.hostname}`);
    const data = story[ok]!.data as { hostname: string; wave: number; release: string; previous: string };
    expect(data).toMatchObject({ hostname: a.hostname, wave, release: story[0]!.data.release as string });
    // The host's events sit inside its wave.
    expect(sent).toBeGreaterThan(wave === 0 ? w0start : w1start);
    expect(ok).toBeLessThan(wave === 0 ? w0done : w1done);
    expect(story.filter(mine('host.failed'))).toEqual([]);
  }
}

describe('events and webhooks: one server, two agents', () => {
  let server: ServerHandle;
  let home: string;
  let agents: AgentHandle[] = [];
  const main = new WebhookReceiver(); // rollout, wave and host events; goes down for a while
  const scoped = new WebhookReceiver(); // everything, but only release nt-1 (its communication plan)
  let mainHook: WebhookDoc;
  let scopedHook: WebhookDoc;
  let firstRollout = '';
  let secondRollout = '';

  beforeAll(async () => {
    const [fleet, files] = await Promise.all([
      (async () => {
        const s = await initServer({ env: SERVER_ENV });
        const token = await createToken(s.home, { uses: 2 });
        const joined = [await joinAgent(s.home, 'nt-a', { token }), await joinAgent(s.home, 'nt-b', { token })];
        return { s, agents: await Promise.all(joined.map((a) => startAgent(a))) };
      })(),
      buildAll([healthPackage('nt', '1.0.0'), healthPackage('nt', '2.0.0'), healthPackage('nt', '3.0.0')], 2),
    ]);
    server = fleet.s;
    home = server.home;
    agents = fleet.agents;
    await publishAll(home, files, [
      { name: 'nt-1', packages: ['nt@1.0.0'] },
      { name: 'nt-2', packages: ['nt@2.0.0'] },
    ]);
    await Promise.all([main.start(), scoped.start()]);
    mainHook = await addWebhook(home, main, 'rollout.*,wave.*,host.*');
    scopedHook = await addWebhook(home, scoped, '*', ['--release', 'nt-1']);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([main.stop(), scoped.stop()]);
  });

  it('delivers a phased rollout from start to completion, signed and in order', async () => {
    const { code, status } = await startAndWait(home, 'nt-1', PHASED);
    expect(code, JSON.stringify(status)).toBe(0);
    firstRollout = status.id;
    await waitFor(() => main.accepted().some((e) => e.type === 'rollout.completed' && e.data.rollout === firstRollout), 15_000, { message: () => `main receiver got: ${main.deliveries.map((d) => d.event.type).join(', ')}` });

    for (const d of main.deliveries) {
      expect(d.signatureOk, `signature of ${d.event.type}`).toBe(true);
      expect(d.fresh).toBe(true);
      expect(d.headers['x-ferry-event']).toBe(d.event.type);
      expect(d.headers['x-ferry-delivery']).toBe(d.event.id);
      expect(d.event.subject).toBe(`ferry.events.${d.event.type}`);
      expect(d.event.type).toMatch(/^(rollout|wave|host)\./); // only what the webhook asked for
    }
    // In order, each once.
    const seqs = main.accepted().map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    const waveOf = new Map(status.hosts.map((h) => [h.agent, h.wave!]));
    expectCompleteStory(main.accepted(), firstRollout, agents.map((a) => a.agent), waveOf);

    // The release-scoped webhook got the same rollout, plus nothing of other releases.
    await waitFor(() => scoped.accepted().some((e) => e.type === 'rollout.completed'), 10_000);
    expect(scoped.deliveries.every((d) => d.signatureOk)).toBe(true);
    expect(ofRollout(scoped.accepted(), firstRollout).map((e) => e.id)).toEqual(ofRollout(main.accepted(), firstRollout).map((e) => e.id));
  });

  it('a receiver that was down gets every event it missed, in order, once it is back', async () => {
    const before = main.deliveries.length;
    await main.stop();
    const { code, status } = await startAndWait(home, 'nt-2', PHASED);
    expect(code, JSON.stringify(status)).toBe(0);
    secondRollout = status.id;

    const down = await waitFor(async () => {
      const h = await webhook(home, mainHook.id);
      return h.failures > 0 && h.pending > 0 ? h : undefined;
    }, 10_000);
    expect(down.lastError).toMatch(/ECONNREFUSED/);
    expect(main.deliveries.length).toBe(before);
    await sleep(1500); // the receiver stays down a while longer: several retries fail

    await main.start(); // same port
    await waitFor(() => main.accepted().some((e) => e.type === 'rollout.completed' && e.data.rollout === secondRollout), 15_000, {
      message: () => `after the outage the receiver got: ${main.deliveries.slice(before).map((d) => d.event.type).join(', ')}`,
    });
    const missed = main.deliveries.slice(before);
    expect(missed.every((d) => d.signatureOk && d.fresh)).toBe(true);
    const seqs = main.accepted().map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(main.accepted().map((e) => e.id)).size).toBe(main.accepted().length);
    expectCompleteStory(main.accepted(), secondRollout, agents.map((a) => a.agent), new Map(status.hosts.map((h) => [h.agent, h.wave!])));

    const after = await waitFor(async () => {
      const h = await webhook(home, mainHook.id);
      return h.pending === 0 ? h : undefined;
    }, 10_000);
    expect(after).toMatchObject({ lastStatus: 200, lastError: null });
    expect(after.failures).toBeGreaterThanOrEqual(2);
    expect(after.delivered).toBe(main.accepted().length);

    // The webhook scoped to nt-1 heard nothing of nt-2's rollout.
    expect(ofRollout(scoped.accepted(), secondRollout)).toEqual([]);
    expect(scoped.accepted().some((e) => e.data.release === 'nt-2')).toBe(false);
  });

  it('a JetStream consumer created after the fact reads the whole event stream (catch-up)', async () => {
    const admin = await connectAsAdmin(server.url, serverSecrets(home));
    try {
      const jsm = await jetstreamManager(admin.nc);
      await jsm.consumers.add(EVENTS_STREAM, { durable_name: 'late-reader', ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All });
      const consumer = await jetstream(admin.nc).consumers.get(EVENTS_STREAM, 'late-reader');
      const wanted = new Set(main.accepted().map((e) => e.id));
      const read: FerryEvent[] = [];
      await waitFor(async () => {
        const batch = await consumer.fetch({ max_messages: 500, expires: 1000 });
        for await (const m of batch) {
          const e = ferryEventSchema.parse(m.json());
          expect(m.headers?.get('Nats-Msg-Id')).toBe(e.id);
          expect(m.subject).toBe(`ferry.events.${e.type}`);
          read.push(e);
          m.ack();
        }
        return [...wanted].every((id) => read.some((e) => e.id === id));
      }, 15_000, { message: () => `the stream lacks events the webhook got; read ${read.length}` });
      const seqs = read.map((e) => e.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(seqs.length);
      // The stream also has what no webhook asked for: the DML and release history.
      expect(read.filter((e) => e.type === 'dml.added').map((e) => e.data.version).sort()).toEqual(['1.0.0', '2.0.0', '3.0.0']);
      expect(read.filter((e) => e.type === 'release.created').map((e) => e.data.release).sort()).toEqual(['nt-1', 'nt-2']); // created concurrently
      await jsm.consumers.delete(EVENTS_STREAM, 'late-reader');
    } finally {
      await admin.close();
    }
  });

  it('a receiver answering 500 gets the same event again until it answers 200, then not again', async () => {
    const flaky = new WebhookReceiver();
    await flaky.start();
    try {
      flaky.failNext = 2;
      const hook = await addWebhook(home, flaky, 'release.created');
      await runFerry(home, ['release', 'create', 'nt-3', '--package', 'nt@3.0.0', '--json']);
      await waitFor(() => flaky.accepted().length > 0, 15_000, { message: () => `answers so far: ${flaky.deliveries.map((d) => d.status).join(',')}` });
      await sleep(1200); // longer than the retry cap: nothing more may come
      expect(flaky.deliveries.map((d) => d.status)).toEqual([500, 500, 200]);
      expect(new Set(flaky.deliveries.map((d) => d.headers['x-ferry-delivery'])).size).toBe(1);
      expect(new Set(flaky.deliveries.map((d) => d.body)).size).toBe(1);
      expect(flaky.deliveries.every((d) => d.signatureOk)).toBe(true);
      expect(flaky.accepted()[0]).toMatchObject({ type: 'release.created', data: { release: 'nt-3', packages: [{ name: 'nt', version: '3.0.0' }] } });
      expect(await webhook(home, hook.id)).toMatchObject({ delivered: 1, failures: 2, pending: 0, lastStatus: 200 });

      // Undelivered events and the cursor survive a server restart.
      await flaky.stop();
      await runFerry(home, ['release', 'create', 'nt-4', '--package', 'nt@3.0.0', '--json']);
      await waitFor(async () => (await webhook(home, hook.id)).failures > 2, 10_000);
      await server.stop();
      server = await startServer(home, { env: SERVER_ENV });
      expect((await webhook(home, hook.id)).pending).toBe(1);
      await flaky.start();
      await waitFor(() => flaky.accepted().length === 2, 15_000);
      expect(flaky.accepted().map((e) => e.data.release)).toEqual(['nt-3', 'nt-4']);
      expect(flaky.deliveries.every((d) => d.signatureOk)).toBe(true);
      await runFerry(home, ['notify', 'remove', hook.id]);
    } finally {
      await flaky.stop();
    }
  });

  it('ferry release show names the release communication plan', async () => {
    const plan = async (name: string) => (await runFerry(home, ['release', 'show', name, '--json'])).json<{ notify: { id: string; scope: string }[] }>().notify;
    const [one, two, text] = await Promise.all([plan('nt-1'), plan('nt-2'), runFerry(home, ['release', 'show', 'nt-1']).then((r) => r.stdout)]);
    expect(one).toEqual(expect.arrayContaining([expect.objectContaining({ id: mainHook.id, scope: 'all' }), expect.objectContaining({ id: scopedHook.id, scope: 'release' })]));
    expect(two.map((h) => h.id)).toEqual([mainHook.id]);
    expect(text).toContain(scopedHook.id);
  });

  it('ferry notify list, test and remove through the CLI; secrets are never listed', async () => {
    const [listed, listedJson] = await Promise.all([runFerry(home, ['notify', 'list']), runFerry(home, ['notify', 'list', '--json'])]);
    for (const out of [listed.stdout, listedJson.stdout]) {
      expect(out).toContain(mainHook.id);
      expect(out).not.toContain(main.secret);
      expect(out).not.toContain(scoped.secret);
    }
    expect(listedJson.json<WebhookDoc[]>().every((h) => h.secret === undefined)).toBe(true);
    expect(listed.stdout).toMatch(/PENDING/);

    // a token in the query string is not shown (list, release show): the query is elided
    const tokened = await runFerry(home, ['notify', 'add', 'http://127.0.0.1:9/hook?token=query-token-123', '--events', 'rollout.completed', '--json']);
    const tokenedDoc = tokened.json<WebhookDoc>();
    expect(tokenedDoc.url).toBe('http://127.0.0.1:9/hook?…');
    const shown = await Promise.all([runFerry(home, ['notify', 'list']), runFerry(home, ['notify', 'list', '--json']), runFerry(home, ['release', 'show', 'nt-1']), runFerry(home, ['release', 'show', 'nt-1', '--json'])]);
    shown.push(await runFerry(home, ['audit', '--action', 'notify.add', '--json']));
    for (const out of [tokened, ...shown].map((r) => r.stdout)) expect(out).not.toContain('query-token-123');
    expect(shown[0]!.stdout).toContain('http://127.0.0.1:9/hook?…');
    expect(shown[2]!.stdout).toContain(tokenedDoc.id);
    await runFerry(home, ['notify', 'remove', tokenedDoc.id]);

    // test: a signed notify.test event now, outside the event sequence
    const before = main.deliveries.length;
    const ok = (await runFerry(home, ['notify', 'test', mainHook.id, '--json'])).json<{ ok: boolean; status: number }>();
    expect(ok).toMatchObject({ ok: true, status: 200 });
    const testEvent = main.deliveries.slice(before).find((d) => d.event.type === 'notify.test');
    expect(testEvent?.signatureOk).toBe(true);
    expect(testEvent?.event.data).toMatchObject({ webhook: mainHook.id });

    // a webhook nobody answers: test fails with a stable code; a given --secret is not echoed
    const dead = new WebhookReceiver();
    await dead.start();
    await dead.stop(); // a port that refuses connections
    const added = await runFerry(home, ['notify', 'add', dead.url, '--events', 'rollout.completed', '--secret', 'a-secret-of-my-own-choosing']);
    expect(added.stdout).not.toContain('a-secret-of-my-own-choosing');
    const deadId = /webhook (wh-[0-9a-f]+)/.exec(added.stdout)![1]!;
    const failed = await runFerry(home, ['notify', 'test', deadId], { allowFail: true });
    expect(failed.code).toBe(1);
    expect(failed.stderr.trim()).toMatch(/^FERRY_DELIVERY_FAILED: webhook wh-[0-9a-f]+ did not accept the test event: ECONNREFUSED/);
    expect(failed.stderr.trim().split('\n')).toHaveLength(1);

    // a receiver answering 500: the same failure
    const broken = new WebhookReceiver();
    broken.failNext = 1_000;
    await broken.start();
    let brokenId = '';
    try {
      brokenId = (await addWebhook(home, broken, 'rollout.completed')).id;
      const refused = await runFerry(home, ['notify', 'test', brokenId], { allowFail: true });
      expect(refused.code).toBe(1);
      expect(refused.stderr.trim()).toMatch(/^FERRY_DELIVERY_FAILED: webhook wh-[0-9a-f]+ did not accept the test event: HTTP 500 — /);
      expect(broken.deliveries.map((d) => d.status)).toEqual([500]);
    } finally {
      await broken.stop();
    }
    // the audit log says which tests failed (not "ok" because the server answered)
    const tests = (await runFerry(home, ['audit', '--action', 'notify.test', '--json'])).json<{ target: string; result: string; error: string | null }[]>();
    const resultOf = (id: string) => tests.filter((t) => t.target === id).map((t) => [t.result, t.error]);
    expect(resultOf(mainHook.id)).toEqual([['ok', null]]);
    expect(resultOf(deadId)).toEqual([['error', expect.stringMatching(/^FERRY_DELIVERY_FAILED: .*ECONNREFUSED/)]]);
    expect(resultOf(brokenId)).toEqual([['error', expect.stringMatching(/^FERRY_DELIVERY_FAILED: .*HTTP 500/)]]);
    await runFerry(home, ['notify', 'remove', brokenId]);

    await runFerry(home, ['notify', 'remove', deadId]);
    expect((await listWebhooks(home)).map((h) => h.id)).not.toContain(deadId);
    const again = await runFerry(home, ['notify', 'remove', deadId], { allowFail: true });
    expect(again.code).toBe(3);
    expect(again.stderr).toMatch(/^FERRY_NOT_FOUND: no webhook wh-/);
  });

  it('refuses bad webhooks with one line and a stable code, and stores nothing', async () => {
    const before = (await listWebhooks(home)).length;
    const cases: [string[], number, RegExp][] = [
      [['ftp://example.com/hook', '--events', 'rollout.completed'], 2, /^FERRY_INVALID_INPUT: webhook URLs must be http or https, not ftp/],
      [['not a url', '--events', 'rollout.completed'], 2, /^FERRY_INVALID_INPUT: "not a url" is not a URL/],
      [['http://127.0.0.1:9/x', '--events', 'rollout.finished'], 2, /^FERRY_INVALID_INPUT: "rollout.finished" matches no Ferry event type/],
      [['http://127.0.0.1:9/x', '--events', 'rollout.completed', '--release', 'no-such-release'], 3, /^FERRY_NOT_FOUND: release no-such-release does not exist/],
      [['http://127.0.0.1:9/x', '--events', 'rollout.completed', '--secret', 'short'], 2, /^FERRY_INVALID_INPUT: a webhook secret has at least 16 characters/],
      // a password in the URL would be shown to every viewer: refused, and not echoed
      [['https://user:hunter2-pass@hooks.example.com/x', '--events', 'rollout.completed'], 2, /^FERRY_INVALID_INPUT: webhook URLs must not carry a user name or password \(user:pass@host\) — .*--secret/],
      [['https://only-user@hooks.example.com/x', '--events', 'rollout.completed'], 2, /^FERRY_INVALID_INPUT: webhook URLs must not carry a user name or password/],
    ];
    const results = await Promise.all(cases.map(([args]) => runFerry(home, ['notify', 'add', ...args], { allowFail: true })));
    results.forEach((r, i) => {
      expect(r.code, r.stderr).toBe(cases[i]![1]);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr.trim()).toMatch(cases[i]![2]);
      expect(r.stderr).not.toContain('hunter2');
    });
    expect((await listWebhooks(home)).length).toBe(before);
    // nor is it kept in the audit log (which viewers read): the refused adds' URLs lose their user info
    const audit = (await runFerry(home, ['audit', '--action', 'notify.add', '--json'])).stdout;
    expect(audit).toContain('hooks.example.com/x');
    expect(audit).not.toContain('hunter2');
    expect(audit).not.toContain('only-user');
  });

  it('agents can neither read nor publish events, nor make consumers on the event stream', async () => {
    const impostor = await connectAsAgent(server.url, agents[0]!.agent);
    try {
      for (const subject of ['ferry.events.>', 'ferry.events.rollout.completed']) {
        const { violation } = await expectDenied(impostor, 'subscription', subject, () => impostor.nc.subscribe(subject));
        expect(violation).toMatch(/Permissions Violation for Subscription/);
      }
      for (const subject of ['ferry.events.rollout.completed', `$JS.API.CONSUMER.CREATE.${EVENTS_STREAM}`, `$JS.API.CONSUMER.DURABLE.CREATE.${EVENTS_STREAM}.spy`, `$JS.API.STREAM.INFO.${EVENTS_STREAM}`]) {
        const { violation } = await expectDenied(impostor, 'publish', subject, () => impostor.nc.publish(subject, new TextEncoder().encode('{}')));
        expect(violation).toMatch(/Permissions Violation for Publish/);
      }
    } finally {
      await impostor.close();
    }
  });
});
