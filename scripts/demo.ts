// `npm run demo`: a whole Ferry session on this machine, with real parts. It starts a server
// (with its embedded nats-server) and five agents in a temporary directory, builds a sample
// package, rolls it out in phased waves, then rolls out a broken version whose health check
// fails and shows every agent back on the good one. It leaves nothing running.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const work = mkdtempSync(join(tmpdir(), 'ferry-demo-'));
const home = join(work, 'server');
const children: ChildProcess[] = [];
// FERRY_CONFIG=none: the demo's five agents share this machine, so none may take its settings
// (an install root above all) from /etc/ferry/agent.json, which the agent .deb installs.
const env = { ...process.env, FERRY_HOME: home, FERRY_CONFIG: 'none', FERRY_LOG_LEVEL: 'warn', FERRY_HEARTBEAT_MS: '1000', FERRY_DESIRED_POLL_MS: '5000', FERRY_OFFLINE_AFTER_MS: '5000' };
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

function say(text: string): void {
  process.stdout.write(`\n${bold('▶ ' + text)}\n`);
}

function ferry(args: string[], opts: { quiet?: boolean; allowFail?: boolean; extraEnv?: Record<string, string> } = {}): string {
  const bin = args[0] === 'agent' ? 'bin/ferry-agent.js' : 'bin/ferry.js';
  const argv = args[0] === 'agent' ? args.slice(1) : args;
  if (!opts.quiet) process.stdout.write(`$ ${args[0] === 'agent' ? 'ferry-agent' : 'ferry'} ${argv.join(' ')}\n`);
  const r = spawnSync(process.execPath, [join(root, bin), ...argv], { env: { ...env, ...opts.extraEnv }, encoding: 'utf8' });
  if (!opts.quiet) process.stdout.write(r.stdout);
  if (r.status !== 0 && !opts.allowFail) throw new Error(`command failed (${r.status}): ${r.stderr.trim()}`);
  if (r.status !== 0 && !opts.quiet) process.stdout.write(r.stderr);
  return r.stdout;
}

function background(args: string[], extraEnv: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, args, { env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return child;
}

function writePackage(dir: string, version: string, healthy: boolean): void {
  mkdirSync(join(dir, 'hooks'), { recursive: true });
  writeFileSync(
    join(dir, 'ferry.json'),
    JSON.stringify({
      name: 'hello-web',
      version,
      description: healthy ? 'A tiny web page' : 'A tiny web page (with a bug: it never becomes healthy)',
      hooks: { postinstall: 'hooks/postinstall.sh', healthcheck: 'hooks/healthcheck.sh', rollback: 'hooks/rollback.sh' },
      healthcheck: { retries: 2, intervalSeconds: 1 },
    }),
  );
  writeFileSync(join(dir, 'index.html'), `<h1>hello-web ${version}</h1>\n`);
  const hooks: Record<string, string> = {
    'postinstall.sh': 'echo "installed $FERRY_PACKAGE $FERRY_VERSION (was ${FERRY_PREVIOUS_VERSION:-nothing})"\n',
    'healthcheck.sh': healthy ? 'test -s index.html && echo healthy\n' : 'echo "GET / returned 500" >&2; exit 1\n',
    'rollback.sh': 'echo "rolled back from $FERRY_VERSION to $FERRY_PREVIOUS_VERSION" >> "$FERRY_ROOT/rollbacks.log"\n',
  };
  for (const [name, body] of Object.entries(hooks)) {
    writeFileSync(join(dir, 'hooks', name), `#!/bin/sh\n${body}`);
    chmodSync(join(dir, 'hooks', name), 0o755);
  }
}

async function waitUntil(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

function showFleet(hosts: string[]): void {
  for (const h of hosts) {
    const apps = join(work, h, 'apps', 'hello-web');
    let current = 'nothing';
    try {
      current = readlinkSync(join(apps, 'current'));
    } catch {
      /* not installed */
    }
    process.stdout.write(`  ${h.padEnd(8)} hello-web current -> ${current}\n`);
  }
}

async function main(): Promise<void> {
  say(`Working in ${work}`);
  ferry(['init']);
  const server = background([join(root, 'bin/ferry.js'), 'server', '--listen', '127.0.0.1:0']);
  await new Promise<void>((ok, fail) => {
    let out = '';
    server.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) ok();
    });
    server.on('exit', (code) => fail(new Error(`ferry server exited with ${code}`)));
  });
  process.stdout.write('ferry server is running (embedded NATS with JetStream)\n');

  say('Joining five agents (each with its own NATS identity and state directory)');
  const token = (JSON.parse(ferry(['token', 'create', '--uses', '5', '--tag', 'env=demo', '--json'], { quiet: true })) as { token: string }).token;
  const hosts = ['web-1', 'web-2', 'web-3', 'db-1', 'db-2'];
  for (const h of hosts) {
    ferry(['agent', 'join', '--token', token, '--state-dir', join(work, h), '--tag', `role=${h.split('-')[0]}`], { quiet: true, extraEnv: { FERRY_HOSTNAME: h } });
    background([join(root, 'bin/ferry-agent.js'), 'run', '--state-dir', join(work, h)], { FERRY_HOSTNAME: h });
  }
  await waitUntil('five agents online', () => (JSON.parse(ferry(['agents', 'list', '--json'], { quiet: true })) as { online: boolean }[]).filter((a) => a.online).length === 5);
  ferry(['agents', 'list']);

  say('Building hello-web 1.0.0 and adding it to the DML (verified, then signed by the server)');
  writePackage(join(work, 'src-1.0.0'), '1.0.0', true);
  ferry(['package', 'build', join(work, 'src-1.0.0'), '--out', join(work, 'hello-web-1.0.0.ferry')]);
  ferry(['dml', 'add', join(work, 'hello-web-1.0.0.ferry')]);
  ferry(['release', 'create', 'hello-1', '--package', 'hello-web@1.0.0', '--rfc', 'CHG-1001']);

  say('Phased rollout: one canary host, then half the fleet, then everyone');
  ferry(['rollout', 'start', 'hello-1', '--strategy', 'phased', '--waves', '1,50%,100%', '--wait']);
  showFleet(hosts);

  say('hello-web 1.1.0 has a bug: its health check fails. Rolling it out big-bang…');
  writePackage(join(work, 'src-1.1.0'), '1.1.0', false);
  ferry(['package', 'build', join(work, 'src-1.1.0'), '--out', join(work, 'hello-web-1.1.0.ferry')], { quiet: true });
  ferry(['dml', 'add', join(work, 'hello-web-1.1.0.ferry')], { quiet: true });
  ferry(['release', 'create', 'hello-2', '--package', 'hello-web@1.1.0', '--rfc', 'CHG-1002'], { quiet: true });
  ferry(['rollout', 'start', 'hello-2', '--wait'], { allowFail: true });

  say('Every agent switched back to 1.0.0 on its own and ran the rollback hook:');
  showFleet(hosts);
  process.stdout.write(`  web-1 rollback hook: ${readFileSync(join(work, 'web-1', 'apps', 'rollbacks.log'), 'utf8').trim()}\n`);
  ferry(['agents', 'list']);

  say('What happened, in plain words');
  process.stdout.write(
    [
      '  1. Five agents joined with a join token (pinning the server\'s root key) and reported their inventory.',
      '  2. hello-web 1.0.0 went out in three waves (canary, 50%, 100%); every host verified the',
      '     server signature and every file hash before installing, then passed its health check.',
      '  3. hello-web 1.1.0 failed its health check on every host; each agent switched `current`',
      '     back to 1.0.0, ran the rollback hook, and reported `rolled-back`; the rollout halted.',
      `  See the history of one host with: ferry cmdb show web-1 (data was in ${work}, now removed).`,
      '',
    ].join('\n'),
  );
}

async function cleanup(): Promise<void> {
  for (const c of children.reverse()) {
    if (c.exitCode === null && c.signalCode === null) {
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
  }
  rmSync(work, { recursive: true, force: true });
}

main()
  .then(cleanup, async (err: Error) => {
    process.stderr.write(`\ndemo failed: ${err.message}\n`);
    await cleanup();
    process.exit(1);
  })
  .then(() => process.stdout.write('Demo finished; nothing is left running.\n'));
