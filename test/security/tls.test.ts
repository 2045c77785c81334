// NATS over TLS end to end: `ferry server --tls-cert --tls-key` with a self-signed certificate
// (made with openssl), the local CLI (which finds the CA in the data directory's server.json),
// `ferry-agent join` with and without `--tls-ca`, a real agent process and a rollout over TLS,
// and a plaintext client refused; the web console (--ui-listen) served over HTTPS with the same
// certificate, its session cookie Secure. Requires the compiled dist/, nats-server and openssl on PATH.
import { connect } from '@nats-io/transport-node';
import { readCredsFile } from '../../shared/nats/creds.js';
import { nativeAuthenticator } from '../../shared/nats/nkey-auth.js';
import { existsSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createConnection } from 'node:net';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupFleet, createToken, listAgents, runAgentCli, runFerry, startAgent, tempDir, type AgentHandle, type JoinedAgent } from '../helpers/fleet.js';
import { createRelease, publishPackage, readCurrent, startRollout, waitRolloutEnd } from '../helpers/faults.js';
import { opensslMissing, selfSignedCert, startTlsServer, stopTlsServers, type TlsServerHandle } from '../helpers/tls.js';

const skipReason = opensslMissing();
if (skipReason) console.warn(`skipping the TLS tests: ${skipReason}`);

afterAll(async () => {
  await stopTlsServers();
  await cleanupFleet();
});

/** What a plaintext client gets from the port: the INFO line and whatever follows a plaintext CONNECT. */
function plaintextProbe(port: number, seconds = 5): Promise<{ info: Record<string, unknown>; after: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(port, '127.0.0.1');
    let buf = '';
    let info: Record<string, unknown> | undefined;
    let sent = false;
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      if (!info) return reject(new Error(`no INFO from the server: ${JSON.stringify(buf)}`));
      resolve({ info, after: buf, closed });
    };
    const timer = setTimeout(() => finish(false), seconds * 1000);
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (!info) {
        const end = buf.indexOf('\r\n');
        if (end < 0) return;
        const line = buf.slice(0, end);
        buf = buf.slice(end + 2);
        if (!line.startsWith('INFO ')) return finish(false);
        info = JSON.parse(line.slice(5)) as Record<string, unknown>;
      }
      if (!sent) {
        sent = true;
        socket.write('CONNECT {"verbose":false,"pedantic":false,"protocol":1}\r\nPING\r\n');
      }
    });
    socket.on('error', () => undefined); // a reset counts as closed
    socket.on('close', () => finish(true));
  });
}

/** One HTTPS GET trusting only `ca` (undefined: the system's CAs): status, headers and body. */
function httpsGet(url: string, ca: string | undefined, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ...(ca ? { ca: readFileSync(ca) } : {}), headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A plain-HTTP GET to an HTTPS port: the status it got, or the error that ended it. */
function plainHttpStatus(url: string): Promise<string> {
  return new Promise((resolve) => {
    const req = httpRequest(url.replace(/^https:/, 'http:'), (res) => {
      res.resume();
      resolve(`status ${res.statusCode}`);
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
    req.end();
  });
}

describe.skipIf(!!skipReason)('NATS over TLS (self-signed certificate)', () => {
  let home: string;
  let server: TlsServerHandle;
  let cert: string;
  let token: string;
  let agent: JoinedAgent;
  let handle: AgentHandle | undefined;

  beforeAll(async () => {
    ({ cert } = selfSignedCert(tempDir('ferry-tls-')));
    const key = join(cert, '..', 'key.pem');
    home = tempDir('ferry-home-tls-');
    await runFerry(home, ['init']);
    server = await startTlsServer(home, { cert, key }, { args: ['--ui-listen', '127.0.0.1:0'] });
  }, 120_000);

  afterAll(async (suite) => {
    if (suite.tasks.some((t) => t.result?.state === 'fail')) console.error(`--- server output:\n${server?.logs().slice(-6000)}\n--- agent output:\n${handle?.logs().slice(-6000)}`);
  });

  it('the local CLI reaches the TLS server with the CA recorded in server.json', async () => {
    const runtime = JSON.parse(readFileSync(join(home, 'server.json'), 'utf8')) as { natsUrl: string; tlsCa?: string };
    expect(runtime.tlsCa).toBe(cert);
    expect(await listAgents(home)).toEqual([]);
    token = await createToken(home);
    expect(token).toBeTruthy();
  });

  it('ferry-agent join without --tls-ca fails with one FERRY_SERVER_UNREACHABLE line that names TLS and --tls-ca', async () => {
    const stateDir = tempDir('ferry-agent-notls-');
    const r = await runAgentCli(stateDir, ['join', '--token', token], { allowFail: true, env: { FERRY_HOSTNAME: 'no-ca-host' } });
    expect(r.code).not.toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^FERRY_SERVER_UNREACHABLE: /);
    expect(lines[0]).toMatch(/TLS/);
    expect(lines[0]).toContain('--tls-ca');
    expect(existsSync(join(stateDir, 'identity.json'))).toBe(false);
  });

  // Regression: ferry-agent used to exit 1 for every code but a few.
  it('ferry-agent join without --tls-ca exits 5 (server unreachable), as the README documents', async () => {
    const r = await runAgentCli(tempDir('ferry-agent-notls-'), ['join', '--token', token], { allowFail: true, env: { FERRY_HOSTNAME: 'no-ca-host' } });
    expect(r.stderr).toContain('FERRY_SERVER_UNREACHABLE');
    expect(r.code).toBe(5);
  });

  it('with --tls-ca it joins (the failed attempt used nothing of the one-use token), runs, shows online, and a rollout completes', async () => {
    const stateDir = tempDir('ferry-agent-tls-');
    const r = await runAgentCli(stateDir, ['join', '--token', token, '--tls-ca', cert, '--json'], { env: { FERRY_HOSTNAME: 'tls-host' } });
    const doc = r.json<{ agentId: string; installRoot: string; tags: Record<string, string> }>();
    agent = { home, hostname: 'tls-host', id: doc.agentId, stateDir, installRoot: doc.installRoot, tags: doc.tags };
    // The CA is copied into the state directory; the identity points at the copy.
    const identity = JSON.parse(readFileSync(join(stateDir, 'identity.json'), 'utf8')) as { tlsCa?: string };
    expect(identity.tlsCa).toBe(join(stateDir, 'ca.pem'));
    expect(readFileSync(join(stateDir, 'ca.pem'), 'utf8')).toBe(readFileSync(cert, 'utf8'));

    handle = await startAgent(agent); // waits until `ferry agents list` shows it online
    const listed = await listAgents(home);
    expect(listed.find((a) => a.id === agent.id)?.online).toBe(true);

    await publishPackage(home, { name: 'tls-app', version: '1.0.0', files: { 'hello.txt': 'over TLS\n' } });
    await createRelease(home, 'tls-app-1', ['tls-app@1.0.0']);
    const id = await startRollout(home, 'tls-app-1', `id=${agent.id}`);
    const end = await waitRolloutEnd(home, id, 30_000);
    expect(end.state, JSON.stringify(end)).toBe('completed');
    expect(basename(readCurrent(agent.installRoot, 'tls-app') ?? '')).toBe('1.0.0');
    expect(readFileSync(join(agent.installRoot, 'tls-app', '1.0.0', 'hello.txt'), 'utf8')).toBe('over TLS\n');
  });

  it('serves the web console over HTTPS with the same certificate: a Secure session cookie, and plain HTTP gets no page', async () => {
    const login = (await runFerry(home, ['ui', 'login', '--json'])).json<{ url: string }>();
    expect(login.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\//);
    const signedIn = await httpsGet(login.url, cert);
    expect(signedIn.status).toBe(303);
    const setCookie = String(signedIn.headers['set-cookie'] ?? '');
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).toMatch(/; Secure/);
    const origin = new URL(login.url).origin;
    const fleet = await httpsGet(`${origin}/`, cert, { cookie: setCookie.split(';')[0]! });
    expect(fleet.status).toBe(200);
    expect(fleet.body).toContain('Fleet');
    expect(await plainHttpStatus(`${origin}/`)).not.toBe('status 200');
    // a client that does not trust the certificate cannot talk to it at all
    await expect(httpsGet(`${origin}/`, undefined)).rejects.toThrow(/self.signed/i);
  });

  it('a plaintext connection to the port is refused, even with valid credentials', async () => {
    // The NATS client without TLS options: the server requires TLS, the client cannot verify the
    // self-signed certificate without the CA, and the connection fails.
    const admin = readCredsFile(join(home, 'keys', 'admin.creds'));
    const attempt = connect({ servers: server.url, authenticator: nativeAuthenticator(admin.seed, admin.jwt), timeout: 15_000, maxReconnectAttempts: 0 });
    await expect(attempt.then((nc) => nc.close())).rejects.toThrow(/certificate|tls/i);

    // A raw plaintext CONNECT + PING: the server announces tls_required and never answers PONG.
    const probe = await plaintextProbe(server.port, 20); // ends as soon as the server closes it
    expect(probe.info.tls_required).toBe(true);
    expect(probe.after).not.toContain('PONG');
    expect(probe.closed, `the server kept a plaintext connection open; it sent ${JSON.stringify(probe.after)}`).toBe(true);

    // With the CA the same credentials work (the refusal above was about TLS only).
    const nc = await connect({ servers: server.url, authenticator: nativeAuthenticator(admin.seed, admin.jwt), timeout: 15_000, tls: { caFile: cert } });
    await nc.flush();
    await nc.close();
    expect(handle?.child.exitCode).toBeNull();
  });
});
