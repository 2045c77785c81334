// A read whose reply is lost is asked again; an administrative request never is. nats-server drops
// the replies of requests in flight through an account while it applies an update to it (an
// operator added, revoked or renewed), and the CLI used to wait its whole 60 s for them. Real
// nats-server and the real CLI; the "server" is a responder in this test that loses the first
// request of each verb, as such an update does.
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminClient } from '../../server/cli/client.js';
import { generateSigningKeyPair } from '../../shared/crypto/sign.js';
import { createNativeUser } from '../../shared/nats/nkey-auth.js';
import { formatOperatorCreds } from '../../shared/operators/credentials.js';
import { AUTH_HEADER } from '../../shared/operators/request-signature.js';
import { encodeMessage } from '../../shared/protocol/codec.js';
import { subjects } from '../../shared/protocol/subjects.js';
import { runFerry, tempDir } from '../helpers/fleet.js';
import { startTestNats, type TestNats } from '../helpers/nats.js';

describe('the CLI asks a read again when its reply is lost, and never an administrative request', () => {
  let nats: TestNats;
  let responder: NatsConnection;
  let home: string;
  let creds: string;
  /** every request the "server" received, per verb: its signature header */
  const received = new Map<string, string[]>();

  beforeAll(async () => {
    nats = await startTestNats();
    home = tempDir('ferry-cli-resend-');
    creds = join(home, 'alice.creds');
    // The nats-server here has no auth: it takes any credentials; the file only has to be whole.
    writeFileSync(creds, formatOperatorCreds({ jwt: 'eyJhbGciOiJlZDI1NTE5In0.e30.c2ln', seed: createNativeUser().seed }, { operator: 'alice', secretKey: generateSigningKeyPair().secretKey }), { mode: 0o600 });
    responder = await connect({ servers: nats.url });
    responder.subscribe(subjects.api('>'), {
      callback: (_err, msg: Msg) => {
        const verb = msg.subject.slice(subjects.api('').length);
        const seen = received.get(verb) ?? [];
        seen.push(msg.headers?.get(AUTH_HEADER) ?? '');
        received.set(verb, seen);
        if (seen.length === 1) return; // the first reply of each verb is lost
        msg.respond(encodeMessage({ ok: true, result: [] }));
      },
    });
    await responder.flush();
  });

  afterAll(async () => {
    await responder?.close();
    await nats?.stop();
  });

  it('ferry agents list: answered by the second ask, long before the 60 s timeout, each ask signed anew', async () => {
    const r = await runFerry(home, ['agents', 'list', '--json', '--nats', nats.url, '--creds', creds], { env: { FERRY_CLI_RESEND_MS: '500' } });
    expect(r.json<unknown[]>()).toEqual([]);
    const asks = received.get('agents.list')!;
    expect(asks.length).toBeGreaterThanOrEqual(2);
    expect(new Set(asks).size).toBe(asks.length); // a fresh nonce each: the server refuses a signature seen before
    for (const a of asks) expect(a).toMatch(/^v1 alice \d+ \S+ \S+$/);
  }, 60_000);

  it('an administrative request (rollout pause: rollout.action) is sent once: its lost reply is a timeout, not a second pause', async () => {
    process.env.FERRY_CLI_RESEND_MS = '200';
    const client = await AdminClient.connect({ nats: nats.url, creds });
    try {
      await expect(client.request('rollout.action', { id: 'r-1', action: 'pause' }, 2000)).rejects.toMatchObject({ code: 'FERRY_TIMEOUT' });
      expect(received.get('rollout.action')).toHaveLength(1);
      // The same client's read is asked again and answered.
      await expect(client.request('rollout.list', {}, 30_000)).resolves.toEqual([]);
      expect(received.get('rollout.list')!.length).toBeGreaterThanOrEqual(2);
    } finally {
      delete process.env.FERRY_CLI_RESEND_MS;
      await client.close();
    }
  }, 60_000);
});
