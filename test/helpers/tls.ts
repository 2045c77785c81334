// TLS helpers for the security tests: a self-signed certificate made with openssl, and a
// `ferry server --tls-cert --tls-key` started like test/helpers/fleet.ts starts its servers (the
// compiled CLI, in its own process group, ready once it printed its "ready" line).
//
// startServer() in fleet.ts takes no extra arguments, so the server is spawned here; every
// process started here is tracked and stopped by stopTlsServers() (call it in an afterAll,
// before cleanupFleet()), and SIGKILLed by a process 'exit' handler as a last resort.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { FAST_ENV, REPO_ROOT } from './fleet.js';

const FERRY_BIN = join(REPO_ROOT, 'bin', 'ferry.js');

/** Why TLS tests cannot run here (no openssl on PATH), or undefined if they can. */
export function opensslMissing(): string | undefined {
  const r = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return `openssl is not on PATH (${r.error?.message ?? `exit ${r.status}`}): cannot make a test certificate`;
  return undefined;
}

/** A self-signed P-256 certificate for 127.0.0.1 and localhost, valid for 2 days, in dir. */
export function selfSignedCert(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'];
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return { cert, key };
}

export interface TlsServerHandle {
  home: string;
  /** as printed by the server (nats://127.0.0.1:PORT) */
  url: string;
  port: number;
  child: ChildProcess;
  logs(): string;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();

function running(c: ChildProcess): boolean {
  return c.exitCode === null && c.signalCode === null;
}

function killGroup(c: ChildProcess): void {
  if (c.pid === undefined) return;
  try {
    process.kill(-c.pid, 'SIGKILL');
  } catch {
    // the group is gone
  }
}

process.once('exit', () => {
  for (const c of live) killGroup(c);
});

async function terminate(c: ChildProcess, graceMs = 10_000): Promise<void> {
  if (running(c)) {
    const done = new Promise<void>((r) => c.once('exit', () => r()));
    try {
      c.kill('SIGTERM'); // the server stops its nats-server itself
    } catch {
      // already gone
    }
    const timer = setTimeout(() => killGroup(c), graceMs);
    await done;
    clearTimeout(timer);
  }
  killGroup(c); // whatever it left behind in its group
  live.delete(c);
}

/** `ferry server --listen 127.0.0.1:0 --tls-cert CERT --tls-key KEY [ARGS...]` with FERRY_HOME=home. */
export async function startTlsServer(home: string, tls: { cert: string; key: string }, opts: { timeoutMs?: number; args?: string[] } = {}): Promise<TlsServerHandle> {
  const child = spawn(process.execPath, [FERRY_BIN, 'server', '--listen', '127.0.0.1:0', '--tls-cert', tls.cert, '--tls-key', tls.key, ...(opts.args ?? [])], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...FAST_ENV, FERRY_HOME: home },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: killing it takes nats-server along
  });
  live.add(child);
  let output = '';
  const keep = (d: Buffer) => (output = (output + d.toString('utf8')).slice(-200_000));
  child.stderr!.on('data', keep);
  const handle = { home, child, logs: () => output, stop: () => terminate(child) };
  const timeoutMs = opts.timeoutMs ?? 60_000;
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`ferry server (TLS) not ready within ${timeoutMs} ms:\n${output}`)), timeoutMs);
      child.stdout!.on('data', (d: Buffer) => {
        keep(d);
        const m = /ferry server ready — NATS (nats:\/\/\S+)/.exec(output);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.once('exit', (code, sig) => {
        clearTimeout(timer);
        reject(new Error(`ferry server (TLS) exited (${code ?? sig}) before it was ready:\n${output}`));
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    return { ...handle, url, port: Number(new URL(url).port) };
  } catch (err) {
    await terminate(child, 0);
    throw err;
  }
}

/** Stop every server startTlsServer() started that is still running. */
export async function stopTlsServers(): Promise<void> {
  await Promise.all([...live].map((c) => terminate(c)));
}
