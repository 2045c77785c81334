// A site's --max-rate (issue 17, part 2), with real processes: the hub is `ferry server
// --leaf-listen`, two sites are nats-servers started with the configs of `ferry site add`, one with
// `--max-rate 5MiB/s` and one without. A 20 MiB package in the hub's DML crosses each link into the
// site's mirror: paced at the rate-limited site (the mirror's consumer has rate_limit_bps), not at
// the other. Measured from the mirror's first message to its last, by polling the site's JetStream
// every 25 ms. `ferry site set` changes the rate of the running consumer; a site cannot ask for
// another site's consumer; bad input.
// Requires the compiled dist/ (`npx tsc -p .`) and nats-server on PATH.
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectNats, type NatsConnection } from '../../shared/nats/connect.js';
import { readCredsFile } from '../../shared/nats/creds.js';
import { expectCliRefusals, type CliRefusal } from '../helpers/errors.js';
import { publishPackage } from '../helpers/faults.js';
import { cleanupFleet, runFerry, startServer, tempDir, waitFor, type ServerHandle } from '../helpers/fleet.js';
import { boundMirrorConsumers, siteConsumersAtHub, startSite, type HubConsumer, type TestSite } from '../helpers/site.js';

afterAll(cleanupFleet, 60_000);

const MiB = 1024 * 1024;
const DML = 'OBJ_ferry-dml';

/** Watches a mirror's growth: when its first message came and when it reached a sequence. */
class MirrorWatch {
  private timer?: NodeJS.Timeout;
  private from = 0;
  first?: number;
  last = 0;
  bytes = 0;
  private reached = new Map<number, number>();

  constructor(private readonly jsm: JetStreamManager) {}

  /** Start timing anew from the mirror's current last sequence (or `from`: a mirror made again). */
  start(from = this.last): void {
    this.from = from;
    this.last = from;
    this.reached.clear();
    this.first = undefined;
    this.timer ??= setInterval(() => void this.poll(), 25);
  }

  private polling = false;

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const info = await this.jsm.streams.info(DML).catch(() => undefined);
      if (!info) return;
      const now = Date.now();
      this.last = info.state.last_seq;
      this.bytes = info.state.bytes;
      if (this.first === undefined && this.last > this.from) this.first = now;
      if (!this.reached.has(this.last)) this.reached.set(this.last, now);
    } finally {
      this.polling = false;
    }
  }

  /** ms from the first message after start() to the first poll that saw `seq`. */
  async until(seq: number, timeoutMs: number): Promise<number> {
    await waitFor(() => this.last >= seq, timeoutMs, { intervalMs: 25, message: () => `the mirror did not reach ${seq} (at ${this.last})` });
    const at = [...this.reached].find(([s]) => s >= seq)![1];
    return at - this.first!;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

describe('sites: --max-rate paces what crosses the link', () => {
  let home: string;
  let server: ServerHandle;
  let slow: TestSite;
  let fast: TestSite;
  const conns: NatsConnection[] = [];
  const watches: Record<string, MirrorWatch> = {};
  let hub: JetStreamManager;
  let hubNc: NatsConnection;
  let admin: ReturnType<typeof readCredsFile>;

  /** A connection to the site (as its operator would have), and a watch of its mirror started at once. */
  const watchSite = (name: string) => async (site: TestSite) => {
    // The site's nats-server is starting: connect once it listens.
    let nc: NatsConnection | undefined;
    await waitFor(async () => (nc = await connectNats({ url: site.url, creds: admin, name: `test at ${name}`, attempts: 1 }).catch(() => undefined)) !== undefined, 20_000, { intervalMs: 50, message: `site ${name} does not listen` });
    conns.push(nc!);
    watches[name] = new MirrorWatch(await jetstreamManager(nc!));
    watches[name].start();
  };

  beforeAll(async () => {
    home = tempDir('ferry-home-');
    await runFerry(home, ['init']);
    server = await startServer(home, { args: ['--leaf-listen', '127.0.0.1:0'], env: { FERRY_SITE_CHECK_MS: '60000', FERRY_LOG_LEVEL: 'info' } });
    admin = readCredsFile(join(home, 'keys', 'admin.creds'));
    const nc = await connectNats({ url: server.url, creds: admin, name: 'test at the hub' });
    conns.push(nc);
    hubNc = nc;
    hub = await jetstreamManager(nc);
    // The package is in the hub's DML before the sites exist: each mirror's fill is the link alone.
    await publishPackage(home, { name: 'big', version: '1.0.0', files: { 'data/blob.bin': randomBytes(20 * MiB) } });
  }, 180_000);

  afterAll(async () => {
    for (const w of Object.values(watches)) w.stop();
    for (const c of conns) await c.close().catch(() => undefined);
    await server?.stop();
    await slow?.stop();
    await fast?.stop();
  }, 120_000);

  afterEach((ctx) => {
    if (ctx.task.result?.state !== 'fail' || !server) return;
    process.stderr.write(['--- ferry server (tail) ---', server.logs().slice(-6000), '--- slow site (tail) ---', slow?.logs().slice(-3000) ?? '', ''].join('\n'));
  });

  /** A consumer at the hub, by name, as nats-server has it. */
  const consumerInfo = async (name: string) => (await hubNc.request(`$JS.API.CONSUMER.INFO.${DML}.${name}`, '', { timeout: 5000 })).json<HubConsumer & { error?: { err_code?: number } }>();
  /** The hub's consumer that a site's mirror receives from, as nats-server has it. */
  const mirrorConsumer = async (site: string) => {
    const live = await boundMirrorConsumers(hubNc, () => server.logs(), site);
    expect(live.map((c) => c.name), `the live mirror consumers of ${site}`).toHaveLength(1);
    return live[0]!;
  };

  it('a 20 MiB package: the 5MiB/s site\'s mirror fills in about 4 s; the site without a rate is not paced', async () => {
    const hubLast = (await hub.streams.info(DML)).state.last_seq;
    const hubBytes = (await hub.streams.info(DML)).state.bytes;
    expect(hubBytes).toBeGreaterThan(20 * MiB);
    slow = await startSite(home, 'slow', { args: ['--max-rate', '5MiB/s'], started: watchSite('slow') });
    fast = await startSite(home, 'fast', { started: watchSite('fast') });
    const fastMs = await watches.fast!.until(hubLast, 60_000);
    const slowMs = await watches.slow!.until(hubLast, 120_000);
    // nats-server's rate limiter lets one message's worth (its burst, ~1 MiB) through at once.
    const expectedMs = ((hubBytes - MiB) / (5 * MiB)) * 1000;
    process.stdout.write(`site-rate: DML ${hubBytes} B; mirror fill at 5MiB/s ${slowMs} ms (expected ${Math.round(expectedMs)} ms); without a rate ${fastMs} ms\n`);
    // Pacing is a floor: a busy machine only makes it slower, so only the floor is asserted (the
    // figures of a quiet machine are printed above and in docs/performance.md).
    expect(slowMs).toBeGreaterThanOrEqual(0.8 * expectedMs);
    // The site without a rate is not paced: its mirror consumer has no rate limit at all.
    expect((await mirrorConsumer('fast')).config.rate_limit_bps ?? 0).toBe(0);
    expect((await mirrorConsumer('slow')).config.rate_limit_bps).toBe(5 * MiB * 8);
    const list = (await runFerry(home, ['site', 'list', '--json'])).json<{ name: string; maxRateBps: number | null }[]>();
    expect(list.map((s) => [s.name, s.maxRateBps])).toEqual([['fast', null], ['slow', 5 * MiB]]);
    expect((await runFerry(home, ['site', 'list'])).stdout).toMatch(/^slow\s+yes\s.*5MiB\/s\s*$/m);
  }, 240_000);

  it('site set: the running mirror consumer gets the new rate in place; a remade mirror fills at it (10MiB/s); none removes it', async () => {
    const consumer = () => mirrorConsumer('slow');
    const made = await consumer();
    expect(made.config.rate_limit_bps).toBe(5 * MiB * 8);
    const r = await runFerry(home, ['site', 'set', 'slow', '--max-rate', '10MiB/s', '--json']);
    expect(r.json()).toEqual({ name: 'slow', maxRateBps: 10 * MiB, previousMaxRateBps: 5 * MiB, consumer: 'updated' });
    // The same consumer (nats-server 2.9 updates rate_limit_bps in place), with the new rate.
    expect(await consumer()).toMatchObject({ name: made.name, config: { rate_limit_bps: 10 * MiB * 8 } });
    const again = await runFerry(home, ['site', 'set', 'slow', '--max-rate', '10MiB/s']);
    expect(again.stdout).toContain('Site slow: 10MiB/s (was 10MiB/s)');

    // A mirror made again (deleted at the site: the server remakes it) takes the whole DML at the new rate.
    const hubState = (await hub.streams.info(DML)).state;
    const atSlow = conns.find((c) => c.info?.server_name === 'ferry-site-slow')!;
    await (await jetstreamManager(atSlow)).streams.delete(DML);
    watches.slow!.start(0);
    await runFerry(home, ['site', 'list', '--json']); // the server checks its sites (and remakes the mirror) now
    const ms = await watches.slow!.until(hubState.last_seq, 120_000);
    const expectedMs = ((hubState.bytes - MiB) / (10 * MiB)) * 1000;
    process.stdout.write(`site-rate: after site set 10MiB/s, a remade mirror took ${hubState.bytes} B in ${ms} ms (expected ${Math.round(expectedMs)} ms; at the old 5MiB/s ${Math.round(expectedMs * 2)} ms)\n`);
    expect(ms).toBeGreaterThanOrEqual(0.8 * expectedMs); // a floor again
    expect((await consumer()).config.rate_limit_bps).toBe(10 * MiB * 8);

    const none = (await runFerry(home, ['site', 'set', 'slow', '--max-rate', 'none', '--json'])).json<{ maxRateBps: number | null; consumer: string }>();
    expect(none).toMatchObject({ maxRateBps: null, consumer: 'updated' });
    expect((await consumer()).config.rate_limit_bps ?? 0).toBe(0);
  }, 180_000);

  it('a site\'s link asks for more consumers than its mirror\'s (as a hostile site would): site set still gives the live mirror\'s consumer the new rate, and every other still there', async () => {
    const live = await mirrorConsumer('slow');
    expect(live.config.rate_limit_bps ?? 0).toBe(0);
    const atSlow = conns.find((c) => c.info?.server_name === 'ferry-site-slow')!;
    // Consumers that deliver nothing (they start past the DML's end): one the site keeps receiving
    // from (its subscription crosses the link), two it does not (JetStream drops them within seconds).
    const past = (await hub.streams.info(DML)).state.last_seq + 1;
    const kept = atSlow.subscribe('$JS.M.extra0');
    await atSlow.flush();
    const extras: string[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const body = { stream_name: DML, config: { deliver_subject: `$JS.M.extra${i}`, deliver_policy: 'by_start_sequence', opt_start_seq: past } };
        const made = (await atSlow.request('ferry.mirror.slow.CONSUMER.CREATE.OBJ_ferry-dml', JSON.stringify(body), { timeout: 10_000, noMux: true, reply: `$JSC.R.extra${i}` })).json<{ name?: string; error?: unknown }>();
        expect(made.error).toBeUndefined();
        extras.push(made.name!);
      }
      await waitFor(async () => (await consumerInfo(extras[0]!)).push_bound === true, 20_000, { intervalMs: 100, message: 'the consumer the site receives from is not bound' });
      const r = await runFerry(home, ['site', 'set', 'slow', '--max-rate', '3MiB/s', '--json']);
      expect(r.json()).toEqual({ name: 'slow', maxRateBps: 3 * MiB, previousMaxRateBps: null, consumer: 'updated' });
      // The mirror's own consumer, made before the others, has the new rate; so has the other one still received from.
      expect(await consumerInfo(live.name)).toMatchObject({ name: live.name, push_bound: true, config: { rate_limit_bps: 3 * MiB * 8 } });
      expect(await consumerInfo(extras[0]!)).toMatchObject({ config: { rate_limit_bps: 3 * MiB * 8 } });
      const bound = (await siteConsumersAtHub(hubNc, server.logs(), 'slow')).filter((c) => c.push_bound);
      expect(bound.map((c) => [c.name, c.config.rate_limit_bps]).sort()).toEqual([live.name, extras[0]!].sort().map((name) => [name, 3 * MiB * 8]));
    } finally {
      kept.unsubscribe();
      await runFerry(home, ['site', 'set', 'slow', '--max-rate', 'none']);
    }
  }, 120_000);

  it('a site cannot ask for another site\'s mirror consumer, nor on the shared prefix of older sites', async () => {
    const atFast = conns.find((c) => c.info?.server_name === 'ferry-site-fast')!;
    expect(atFast).toBeDefined();
    const ask = (subject: string, deliver = '$JS.M.hostile1') =>
      atFast.request(subject, JSON.stringify({ stream_name: DML, config: { deliver_subject: deliver, deliver_policy: 'all' } }), { timeout: 3000, noMux: true, reply: '$JSC.R.hostile' + Math.random().toString(36).slice(2) });
    // Its own prefix is answered (here refused by the server's check: the path is open).
    const own = await ask('ferry.mirror.fast.CONSUMER.CREATE.OBJ_ferry-dml', '$JS.API.STREAM.PURGE.FERRY_REPORTS');
    expect(own.json<{ error?: { description: string } }>().error?.description).toMatch(/^ferry: a mirror delivers to/);
    // Another site's prefix (which would get that site's rate, or none) and the shared one: the
    // link user may not publish them, so nothing answers.
    await expect(ask('ferry.mirror.slow.CONSUMER.CREATE.OBJ_ferry-dml')).rejects.toThrow(/timeout|no responders|503/i);
    await expect(ask('ferry.mirror.CONSUMER.CREATE.OBJ_ferry-dml')).rejects.toThrow(/timeout|no responders|503/i);
  }, 120_000);

  it('bad input: one line, a stable code, nothing written', async () => {
    const out = tempDir('ferry-site-bad-');
    const cases: CliRefusal[] = [
      [['site', 'add', 'lyon', '--out', out, '--max-rate', 'fast'], 2, /^FERRY_INVALID_INPUT: --max-rate "fast" is not a rate — hint: /],
      [['site', 'add', 'lyon', '--out', out, '--max-rate', '10'], 2, /^FERRY_INVALID_INPUT: --max-rate 10 is below 1KiB\/s/],
      [['site', 'set', 'slow', '--max-rate', '5 parsecs'], 2, /^FERRY_INVALID_INPUT: --max-rate "5 parsecs" is not a rate — hint: /],
      [['site', 'set', 'nowhere', '--max-rate', '1MiB/s'], 3, /^FERRY_NOT_FOUND: no site nowhere — hint: /],
    ];
    await expectCliRefusals((args) => runFerry(home, args, { allowFail: true }), cases);
    expect(readdirSync(out)).toEqual([]);
    const sites = (await runFerry(home, ['site', 'list', '--json'])).json<{ name: string; maxRateBps: number | null }[]>();
    expect(sites.map((s) => s.name)).toEqual(['fast', 'slow']);
    expect(sites.find((s) => s.name === 'slow')!.maxRateBps).toBeNull();
    // Audited, as every administrative verb.
    const audit = (await runFerry(home, ['audit', '--action', 'site.set', '--json'])).json<{ action: string; target: string | null }[]>();
    expect(audit.filter((e) => e.action === 'site.set' && e.target === 'slow').length).toBeGreaterThanOrEqual(3);
  }, 120_000);
});
