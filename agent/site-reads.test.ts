// Where an agent at a site reads package bytes, over a real nats-server: the site's mirror first
// and the hub as fallback; at a site with a --max-rate (`siteMirrorOnly` in the desired state) the
// mirror alone, waiting for it to hold the package — never a request to the hub's JetStream.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Objm, type ObjectStore } from '@nats-io/obj';
import type { Logger } from 'pino';
import { startTestNats, type TestNats } from '../test/helpers/nats.js';
import { enableDirectGet, objectStreamName } from '../shared/nats/object-read.js';
import { BUCKETS } from '../shared/protocol/subjects.js';
import { dmlApis, readDmlObject } from './site-reads.js';

const paris = { site: { name: 'paris', url: 'nats://127.0.0.1:1' } };

function recordingLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const write = (obj: unknown, msg?: string) => void lines.push(`${msg ?? ''} ${JSON.stringify(obj)}`);
  return { log: { info: write, warn: write, debug: () => undefined } as unknown as Logger, lines };
}

describe('site reads', () => {
  let server: TestNats;
  let nc: NatsConnection;
  let os: ObjectStore;
  let dir: string;
  let hubRequests = 0;

  beforeAll(async () => {
    server = await startTestNats();
    nc = await connect({ servers: server.url });
    os = await new Objm(nc).create(BUCKETS.dml);
    await enableDirectGet(await jetstreamManager(nc), objectStreamName(BUCKETS.dml));
    // Anything sent to the hub's JetStream domain is counted here (no hub answers on this server).
    nc.subscribe('$JS.hub.API.>', { callback: () => void hubRequests++ });
    dir = mkdtempSync(join(tmpdir(), 'ferry-site-reads-'));
  });

  afterAll(async () => {
    await nc?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the mirror alone for a rate-limited site: dmlApis names only the local domain', () => {
    expect(dmlApis(paris)).toEqual(['$JS.API', '$JS.hub.API']);
    expect(dmlApis(paris, true)).toEqual(['$JS.API']);
    expect(dmlApis({}, true)).toEqual(['$JS.API']);
  });

  it('siteMirrorOnly: waits for the mirror to hold the package, then reads it there; never asks the hub', async () => {
    const bytes = randomBytes(300_000);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const dest = join(dir, 'late.ferry');
    const { log, lines } = recordingLog();
    hubRequests = 0;
    const reading = readDmlObject(nc, paris, { bucket: BUCKETS.dml, name: 'late@1.0.0', dest, expectedSha256: sha256, expectedSize: bytes.length }, log, true);
    // The object arrives only once the agent has said it waits.
    const waited = Date.now();
    while (!lines.some((l) => l.includes('waiting for the site mirror'))) {
      if (Date.now() - waited > 30_000) throw new Error('the agent never said it waits for the mirror');
      await new Promise((r) => setTimeout(r, 50));
    }
    await os.put({ name: 'late@1.0.0' }, Readable.toWeb(Readable.from([bytes])) as ReadableStream<Uint8Array>);
    await reading;
    expect(readFileSync(dest).equals(bytes)).toBe(true);
    expect(lines.some((l) => l.includes('package downloaded') && l.includes('"source":"site paris"'))).toBe(true);
    expect(hubRequests).toBe(0);
  }, 120_000);

  it('without it, a package the mirror lacks is asked of the hub (the fallback the flag turns off)', async () => {
    const { log } = recordingLog();
    hubRequests = 0;
    const missing = readDmlObject(nc, paris, { bucket: BUCKETS.dml, name: 'absent@1.0.0', dest: join(dir, 'absent.ferry'), expectedSha256: '0'.repeat(64), expectedSize: 1, timeoutMs: 1000 }, log);
    await expect(missing).rejects.toThrow();
    expect(hubRequests).toBeGreaterThan(0);
  }, 120_000);
});
