// `npm run package` output (built once, into a temporary directory, from the compiled dist/):
// the agent bundle, both .deb files and the agent's .ferry package. The server .deb, unpacked,
// runs the CLI and a server from its bundle. As root with chroot and
// dpkg, the agent .deb is installed into a fresh minimal Debian root that has no Node at all
// (test/packaging/minimal-root.ts), where it reports its version, joins a real server and runs.
// Then, only when no Ferry agent is installed on this machine, the agent .deb is installed here
// for real, checked, removed (state kept) and purged (state gone). The service is never started.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPackageManifest } from '../../shared/package/mod.js';
import { REPO_ROOT, cleanupFleet, createToken, initServer, listAgents, pollAgents, runFerry, startServer, tempDir, waitFor } from '../helpers/fleet.js';
import { buildMinimalRoot, inRoot, runAsync } from './minimal-root.js';

const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const debArch = process.arch === 'x64' ? 'amd64' : process.arch;
let out: string;

/** A command on this host as an administrator would run it: with the installed /etc/ferry config (not the suite's FERRY_CONFIG=none). */
function sh(cmd: string, args: string[]): { code: number | null; stdout: string; stderr: string } {
  const { FERRY_CONFIG: _none, ...env } = process.env;
  const r = spawnSync(cmd, args, { encoding: 'utf8', env });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

const hasDpkgDeb = sh('sh', ['-c', 'command -v dpkg-deb']).code === 0;

beforeAll(async () => {
  out = tempDir('ferry-package-');
  // Asynchronously: the build takes long enough under load that a blocked worker misses its RPC deadline.
  const build = await runAsync(process.execPath, [join(REPO_ROOT, 'dist', 'packaging', 'build.js'), '--out', out], 240_000);
  if (build.code !== 0) throw new Error(`npm run package failed (exit ${build.code}): ${build.stderr.slice(-2000)}`);
}, 240_000);

afterAll(cleanupFleet);

describe.skipIf(!hasDpkgDeb)('npm run package', () => {
  it('writes the agent bundle, both .deb files and the agent as a Ferry package', () => {
    for (const f of [`ferry-agent-${version}-linux-${process.arch}.tar.gz`, `ferry-agent_${version}_${debArch}.deb`, `ferry-server_${version}_${debArch}.deb`, `ferry-agent-${version}.ferry`]) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    expect(existsSync(join(out, '.work')), 'scratch directory left behind').toBe(false);
  });

  it('the bundle carries its own node, one bundled agent and only its native module beside it', async () => {
    const dir = tempDir('ferry-bundle-');
    expect((await runAsync('tar', ['-xzf', join(out, `ferry-agent-${version}-linux-${process.arch}.tar.gz`), '-C', dir])).code).toBe(0);
    const root = join(dir, `ferry-agent-${version}`);
    expect(existsSync(join(root, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node'))).toBe(true);
    // better-sqlite3 and its loader, nothing else: every other dependency is inside the bundle.
    expect(readdirSync(join(root, 'node_modules')).sort()).toEqual(['better-sqlite3', 'bindings', 'file-uri-to-path']);
    expect(existsSync(join(root, 'dist', 'server')), 'server code in the agent bundle').toBe(false);
    expect(existsSync(join(root, 'dist', 'shared')), 'unbundled modules in the agent bundle').toBe(false);
    expect(statSync(join(root, 'bin', 'node')).mode & 0o111).not.toBe(0);
    const main = readFileSync(join(root, 'dist', 'agent', 'cli', 'main.js'), 'utf8');
    expect(main).not.toMatch(/from ["'](yargs|zod|@nats-io\/[a-z-]+|pino|systeminformation|tar)["']/);
    // The launcher runs the bundled node, not whatever `node` is on PATH: a PATH with a fake
    // node that fails proves it.
    const fake = join(dir, 'fake-bin');
    mkdirSync(fake);
    writeFileSync(join(fake, 'node'), '#!/bin/sh\necho "system node used" >&2\nexit 99\n', { mode: 0o755 });
    const env = { ...process.env, PATH: `${fake}:/usr/bin:/bin` };
    const v = spawnSync(join(root, 'bin', 'ferry-agent'), ['--version', '--json'], { encoding: 'utf8', env });
    expect(v.status, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ version, node: process.version, platform: `linux-${process.arch}` });
    const r = spawnSync(join(root, 'bin', 'ferry-agent'), ['status', '--state-dir', join(dir, 'state')], { encoding: 'utf8', env });
    expect(r.status).toBe(5);
    expect(r.stderr).toMatch(/^FERRY_NOT_JOINED: /);
  });

  it('the agent .deb has its unit, conffile, command and maintainer scripts', () => {
    const deb = join(out, `ferry-agent_${version}_${debArch}.deb`);
    const info = execFileSync('dpkg-deb', ['--info', deb], { encoding: 'utf8' });
    expect(info).toMatch(/Package: ferry-agent\n/);
    expect(info).toMatch(new RegExp(`Version: ${version.replaceAll('.', '\\.')}\\n`));
    expect(info).toMatch(new RegExp(`Architecture: ${debArch}\\n`));
    // Its own node: glibc and the C++ runtime only (the versions come from the shipped binaries).
    expect(info).toMatch(/\n Depends: libc6 \(>= 2\.\d+\), libstdc\+\+6 \(>= \d+\), libgcc-s1\n/);
    expect(info).not.toMatch(/nodejs/);
    expect(execFileSync('dpkg-deb', ['--field', deb, 'Package'], { encoding: 'utf8' }).trim()).toBe('ferry-agent');
    const contents = execFileSync('dpkg-deb', ['--contents', deb], { encoding: 'utf8' });
    expect(contents).toMatch(/ \.\/lib\/systemd\/system\/ferry-agent\.service\n/);
    expect(contents).toMatch(/ \.\/etc\/ferry\/agent\.json\n/);
    expect(contents).toMatch(/ \.\/usr\/bin\/ferry-agent -> \.\.\/lib\/ferry-agent\/bin\/ferry-agent\n/);
    // Completion scripts and the man page, generated from the CLI's own definitions.
    expect(contents).toMatch(/ \.\/usr\/share\/bash-completion\/completions\/ferry-agent\n/);
    expect(contents).toMatch(/ \.\/usr\/share\/zsh\/vendor-completions\/_ferry-agent\n/);
    expect(contents).toMatch(/ \.\/usr\/share\/man\/man1\/ferry-agent\.1\.gz\n/);
    expect(contents).toMatch(/root\/root .* \.\/usr\/lib\/ferry-agent\/dist\/agent\/cli\/main\.js\n/);
    expect(contents).toMatch(/-rwxr-xr-x root\/root .* \.\/usr\/lib\/ferry-agent\/bin\/node\n/);
    const control = tempDir('ferry-deb-control-');
    execFileSync('dpkg-deb', ['--control', deb, control]);
    expect(readFileSync(join(control, 'conffiles'), 'utf8')).toBe('/etc/ferry/agent.json\n');
    for (const s of ['postinst', 'prerm', 'postrm']) expect(statSync(join(control, s)).mode & 0o777).toBe(0o755);
    // Never starts an agent that has not joined; systemctl only where systemd runs.
    const postinst = readFileSync(join(control, 'postinst'), 'utf8');
    expect(postinst).toMatch(/if \[ -e \/var\/lib\/ferry-agent\/identity\.json \]; then\s+systemctl restart/);
    expect(postinst).toMatch(/if \[ -d \/run\/systemd\/system \]/);
  });

  it('the server .deb has its unit, conffile and the ferry command', () => {
    const deb = join(out, `ferry-server_${version}_${debArch}.deb`);
    const info = execFileSync('dpkg-deb', ['--info', deb], { encoding: 'utf8' });
    expect(info).toMatch(/Package: ferry-server\n/);
    expect(info).toMatch(/Depends: nodejs \(>= 20\.19\), nats-server \(>= 2\.9\.10\)/);
    const contents = execFileSync('dpkg-deb', ['--contents', deb], { encoding: 'utf8' });
    expect(contents).toMatch(/ \.\/lib\/systemd\/system\/ferry-server\.service\n/);
    expect(contents).toMatch(/ \.\/etc\/ferry\/server\.json\n/);
    expect(contents).toMatch(/ \.\/usr\/bin\/ferry -> \.\.\/lib\/ferry-server\/bin\/ferry\n/);
    expect(contents).toMatch(/ \.\/usr\/share\/bash-completion\/completions\/ferry\n/);
    expect(contents).toMatch(/ \.\/usr\/share\/zsh\/vendor-completions\/_ferry\n/);
    expect(contents).toMatch(/ \.\/usr\/share\/man\/man1\/ferry\.1\.gz\n/);
    expect(contents).not.toMatch(/dist\/agent\//);
    const unit = execFileSync('sh', ['-c', `dpkg-deb --fsys-tarfile "$1" | tar -xOf - ./lib/systemd/system/ferry-server.service`, 'sh', deb], { encoding: 'utf8' });
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/ferry server$/m);
    expect(unit).toMatch(/^ReadWritePaths=\/var\/lib\/ferry$/m);
    expect(unit).toMatch(/^Restart=on-failure$/m);
  });

  it('the server .deb runs ferry and the server from its CLI bundle: a request, the console, a backup', async () => {
    const root = tempDir('ferry-server-deb-');
    execFileSync('dpkg-deb', ['-x', join(out, `ferry-server_${version}_${debArch}.deb`), root]);
    const lib = join(root, 'usr', 'lib', 'ferry-server');
    // The bundle and no compiled modules beside it: what runs below runs from the bundle.
    expect(readdirSync(join(lib, 'dist'))).toEqual(['bundle']);
    const entry = join(lib, 'bin', 'ferry.js');
    const home = tempDir('ferry-home-');
    expect((await runFerry(home, ['--version'], { entry })).stdout).toBe(`${version}\n`);
    await runFerry(home, ['init'], { entry });
    const server = await startServer(home, { entry, args: ['--ui-listen', '127.0.0.1:0'] });
    try {
      expect((await runFerry(home, ['agents', 'list', '--json'], { entry })).json()).toEqual([]);
      const base = /console (https?:\/\/\S+)/.exec(server.logs())![1]!;
      const css = await fetch(`${base}/assets/console.css`);
      expect(css.status).toBe(200);
      expect((await css.text()).length).toBeGreaterThan(100);
      // the backup's manifest names the version in the package.json above the bundle's chunks
      const backup = (await runFerry(home, ['backup', join(tempDir('ferry-backup-'), 'b.tar'), '--json'], { entry })).json<{ ferryVersion: string }>();
      expect(backup.ferryVersion).toBe(version);
    } finally {
      await server.stop();
    }
  });

  it('the agent .ferry package is named ferry-agent and carries the bundle', async () => {
    const manifest = await readPackageManifest(join(out, `ferry-agent-${version}.ferry`));
    expect(manifest.name).toBe('ferry-agent');
    expect(manifest.version).toBe(version);
    expect(manifest.hooks?.healthcheck).toBe('hooks/healthcheck.sh');
    const paths = manifest.files.map((f) => f.path);
    expect(paths).toContain('bin/ferry-agent');
    expect(paths).toContain('node_modules/better-sqlite3/build/Release/better_sqlite3.node');
    expect(manifest.files.find((f) => f.path === 'bin/node')?.mode).toBe(0o755);
  });
});

// A host without Node: a fresh root holding only the packages the agent .deb depends on, plus a
// shell, coreutils and dpkg to install it with (all copied from this machine's own packages).
function whyNoChroot(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  for (const c of ['chroot', 'dpkg-query', 'dpkg-deb', 'mknod']) if (sh('sh', ['-c', `command -v ${c}`]).code !== 0) return `no ${c}`;
  return undefined;
}
const skipChroot = whyNoChroot();
if (skipChroot) console.warn(`install-without-node test skipped: ${skipChroot}`);

describe.skipIf(skipChroot !== undefined)('the agent .deb on a host without Node', () => {
  it('installs with dpkg, reports its version, joins a server and runs', async () => {
    const deb = join(out, `ferry-agent_${version}_${debArch}.deb`);
    const depends = execFileSync('dpkg-deb', ['--field', deb, 'Depends'], { encoding: 'utf8' }).trim();
    const root = tempDir('ferry-nonode-root-');
    const packages = await buildMinimalRoot(root, depends.split(',').map((d) => d.trim().split(/[\s(]/)[0]!));
    expect(packages).not.toContain('nodejs');
    expect((await inRoot(root, ['sh', '-c', 'command -v node || command -v nodejs || ls /usr/bin/node* /usr/local/bin/node* 2>/dev/null'])).stdout).toBe('');

    copyFileSync(deb, join(root, 'tmp', 'ferry-agent.deb'));
    const install = await inRoot(root, ['dpkg', '-i', '/tmp/ferry-agent.deb']);
    expect(install.code, install.stderr + install.stdout).toBe(0); // dpkg checked Depends against this root's packages
    expect((await inRoot(root, ['dpkg-query', '-W', '-f=${Status}', 'ferry-agent'])).stdout).toBe('install ok installed');

    const v = await inRoot(root, ['ferry-agent', '--version']);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toBe(`${version}\n`);

    const server = await initServer();
    const token = await createToken(server.home);
    const join_ = await inRoot(root, ['ferry-agent', 'join', '--token', token, '--json'], { FERRY_HOSTNAME: 'no-node-host' });
    expect(join_.code, join_.stderr).toBe(0);
    const joined = JSON.parse(join_.stdout) as { agentId: string; stateDir: string; installRoot: string };
    expect(joined).toMatchObject({ stateDir: '/var/lib/ferry-agent', installRoot: '/opt/ferry/apps' }); // from /etc/ferry/agent.json
    expect(existsSync(join(root, 'var', 'lib', 'ferry-agent', 'identity.json'))).toBe(true);
    // status opens the SQLite journal: the native module loads in the bundled node
    const status = await inRoot(root, ['ferry-agent', 'status', '--json']);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ agentId: joined.agentId, running: false, installed: {} });

    // The daemon itself, until the server sees it online (with its inventory).
    const daemon = spawn('chroot', [root, '/usr/bin/env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'FERRY_HOSTNAME=no-node-host', '/usr/bin/ferry-agent', 'run'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let logs = '';
    daemon.stderr.on('data', (d: Buffer) => (logs = (logs + d.toString()).slice(-4000)));
    const exited = new Promise((r) => daemon.once('exit', r));
    try {
      const agent = await waitFor(async () => (await pollAgents(server.home)).find((a) => a.id === joined.agentId && a.online), 60_000, { message: () => `agent online; its log: ${logs}` });
      expect(agent.hostname).toBe('no-node-host');
      expect(JSON.parse((await inRoot(root, ['ferry-agent', 'status', '--json'])).stdout)).toMatchObject({ running: true, connected: true });
    } finally {
      daemon.kill('SIGTERM');
      await exited;
      await server.stop();
    }
  }, 180_000);
});

// Installing on this machine: only as root, with dpkg, and only when
// nothing of a real agent is here that the test could clobber.
const STATE = '/var/lib/ferry-agent';
const CONF = '/etc/ferry/agent.json';
function whyNotInstall(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  if (sh('sh', ['-c', 'command -v dpkg']).code !== 0) return 'no dpkg';
  if (sh('dpkg-query', ['-W', '-f=${Status}', 'ferry-agent']).stdout.includes('installed')) return 'a ferry-agent package is already installed';
  if (existsSync(STATE) || existsSync(CONF)) return `${STATE} or ${CONF} already exists`;
  return undefined;
}
const skipInstall = whyNotInstall();
if (skipInstall) console.warn(`dpkg install test skipped: ${skipInstall}`);

describe.skipIf(skipInstall !== undefined)('dpkg -i / -r / -P of the agent package', () => {
  const hadOptFerry = existsSync('/opt/ferry');
  let installed = false;

  afterAll(() => {
    if (installed) sh('dpkg', ['--purge', 'ferry-agent']);
    if (!hadOptFerry) rmSync('/opt/ferry', { recursive: true, force: true });
  });

  it('installs, removes keeping state, and purges', async () => {
    const deb = join(out, `ferry-agent_${version}_${debArch}.deb`);
    const inst = await runAsync('dpkg', ['-i', deb]);
    installed = true;
    expect(inst.code, inst.stderr).toBe(0);
    expect(sh('dpkg-query', ['-W', '-f=${Status} ${Version}', 'ferry-agent']).stdout).toBe(`install ok installed ${version}`);

    const unit = readFileSync('/lib/systemd/system/ferry-agent.service', 'utf8');
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/ferry-agent supervise --state-dir \/var\/lib\/ferry-agent$/m);
    expect(unit).toMatch(/^Restart=on-failure$/m);
    expect(unit).toMatch(/^ProtectSystem=strict$/m);
    expect(unit).toMatch(/^ReadWritePaths=\/var\/lib\/ferry-agent \/opt\/ferry\/apps$/m);
    expect(unit).toMatch(/^ConditionPathExists=\/var\/lib\/ferry-agent\/identity\.json$/m);
    if (sh('sh', ['-c', 'command -v systemd-analyze']).code === 0) {
      const v = sh('systemd-analyze', ['verify', '/lib/systemd/system/ferry-agent.service']);
      expect(v.code, v.stderr).toBe(0);
    }
    const conf = JSON.parse(readFileSync(CONF, 'utf8')) as Record<string, unknown>;
    expect(conf).toMatchObject({ stateDir: STATE, installRoot: '/opt/ferry/apps' });
    expect(statSync(STATE).mode & 0o777).toBe(0o700);
    expect(statSync('/opt/ferry/apps').isDirectory()).toBe(true);
    if (existsSync('/usr/bin/deb-systemd-helper')) {
      expect(readlinkSync('/etc/systemd/system/multi-user.target.wants/ferry-agent.service')).toBe('/lib/systemd/system/ferry-agent.service');
    }
    // The command works and reads /etc/ferry/agent.json; nothing was started.
    const status = sh('/usr/bin/ferry-agent', ['status']);
    expect(status.code).toBe(5);
    expect(status.stderr).toContain(`FERRY_NOT_JOINED: this host has not joined a Ferry server (no ${STATE}/identity.json)`);
    expect(existsSync(join(STATE, 'runtime.json'))).toBe(false);
    const help = sh('/usr/bin/ferry-agent', ['--help']);
    expect(help.stdout).toMatch(/ferry-agent supervise/);
    expect(help.stdout).toMatch(/ferry-agent install-service/);

    // remove: program gone, configuration and state kept
    writeFileSync(join(STATE, 'identity.json'), '{}');
    mkdirSync('/opt/ferry/apps/app', { recursive: true });
    const rm = await runAsync('dpkg', ['-r', 'ferry-agent']);
    expect(rm.code, rm.stderr).toBe(0);
    expect(existsSync('/usr/bin/ferry-agent')).toBe(false);
    expect(existsSync('/usr/lib/ferry-agent')).toBe(false);
    expect(existsSync('/lib/systemd/system/ferry-agent.service')).toBe(false);
    expect(existsSync(join(STATE, 'identity.json'))).toBe(true);
    expect(existsSync(CONF)).toBe(true);
    expect(sh('dpkg-query', ['-W', '-f=${Status}', 'ferry-agent']).stdout).toBe('deinstall ok config-files');

    // purge: state and configuration gone, the software the agent installed stays
    const purge = await runAsync('dpkg', ['-P', 'ferry-agent']);
    expect(purge.code, purge.stderr).toBe(0);
    installed = false;
    expect(existsSync(STATE)).toBe(false);
    expect(existsSync(CONF)).toBe(false);
    expect(existsSync('/opt/ferry/apps/app')).toBe(true);
    expect(lstatSync('/etc/systemd/system/multi-user.target.wants/ferry-agent.service', { throwIfNoEntry: false })).toBeUndefined();
    expect(lstatSync('/etc/systemd/system/ferry-agent.service', { throwIfNoEntry: false })).toBeUndefined();
    expect(sh('dpkg-query', ['-W', '-f=${Status}', 'ferry-agent']).code).not.toBe(0);
  });
});
