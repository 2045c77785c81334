// `npm run package` output (built once, into a temporary directory, from the compiled dist/):
// the agent bundle, both .deb files and the agent's .ferry package. Then, as root with dpkg and
// only when no Ferry agent is installed on this machine, the agent .deb is installed for real,
// checked, removed (state kept) and purged (state gone). The service is never started.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPackageManifest } from '../../shared/package/mod.js';
import { REPO_ROOT, cleanupFleet, tempDir } from '../helpers/fleet.js';

const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const debArch = process.arch === 'x64' ? 'amd64' : process.arch;
let out: string;

function sh(cmd: string, args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

const hasDpkgDeb = sh('sh', ['-c', 'command -v dpkg-deb']).code === 0;

beforeAll(() => {
  out = tempDir('ferry-package-');
  execFileSync(process.execPath, [join(REPO_ROOT, 'dist', 'packaging', 'build.js'), '--out', out], { stdio: ['ignore', 'pipe', 'inherit'] });
}, 120_000);

afterAll(cleanupFleet);

describe.skipIf(!hasDpkgDeb)('npm run package', () => {
  it('writes the agent bundle, both .deb files and the agent as a Ferry package', () => {
    for (const f of [`ferry-agent-${version}-linux-${process.arch}.tar.gz`, `ferry-agent_${version}_${debArch}.deb`, `ferry-server_${version}_${debArch}.deb`, `ferry-agent-${version}.ferry`]) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    expect(existsSync(join(out, '.work')), 'scratch directory left behind').toBe(false);
  });

  it('the bundle runs from anywhere with production dependencies only', () => {
    const dir = tempDir('ferry-bundle-');
    execFileSync('tar', ['-xzf', join(out, `ferry-agent-${version}-linux-${process.arch}.tar.gz`), '-C', dir]);
    const root = join(dir, `ferry-agent-${version}`);
    expect(existsSync(join(root, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node'))).toBe(true);
    expect(existsSync(join(root, 'node_modules', 'vitest')), 'dev dependency bundled').toBe(false);
    expect(existsSync(join(root, 'node_modules', 'typescript')), 'dev dependency bundled').toBe(false);
    expect(existsSync(join(root, 'dist', 'server')), 'server code in the agent bundle').toBe(false);
    const r = sh(join(root, 'bin', 'ferry-agent'), ['status', '--state-dir', join(dir, 'state')]);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/^FERRY_NOT_JOINED: /);
  });

  it('the agent .deb has its unit, conffile, command and maintainer scripts', () => {
    const deb = join(out, `ferry-agent_${version}_${debArch}.deb`);
    const info = execFileSync('dpkg-deb', ['--info', deb], { encoding: 'utf8' });
    expect(info).toMatch(/Package: ferry-agent\n/);
    expect(info).toMatch(new RegExp(`Version: ${version.replaceAll('.', '\\.')}\\n`));
    expect(info).toMatch(new RegExp(`Architecture: ${debArch}\\n`));
    expect(info).toMatch(/Depends: nodejs \(>= 20\)/);
    expect(execFileSync('dpkg-deb', ['--field', deb, 'Package'], { encoding: 'utf8' }).trim()).toBe('ferry-agent');
    const contents = execFileSync('dpkg-deb', ['--contents', deb], { encoding: 'utf8' });
    expect(contents).toMatch(/ \.\/lib\/systemd\/system\/ferry-agent\.service\n/);
    expect(contents).toMatch(/ \.\/etc\/ferry\/agent\.json\n/);
    expect(contents).toMatch(/ \.\/usr\/bin\/ferry-agent -> \.\.\/lib\/ferry-agent\/bin\/ferry-agent\n/);
    expect(contents).toMatch(/root\/root .* \.\/usr\/lib\/ferry-agent\/dist\/agent\/cli\/main\.js\n/);
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
    expect(info).toMatch(/Depends: nodejs \(>= 20\), nats-server \(>= 2\.9\.10\)/);
    const contents = execFileSync('dpkg-deb', ['--contents', deb], { encoding: 'utf8' });
    expect(contents).toMatch(/ \.\/lib\/systemd\/system\/ferry-server\.service\n/);
    expect(contents).toMatch(/ \.\/etc\/ferry\/server\.json\n/);
    expect(contents).toMatch(/ \.\/usr\/bin\/ferry -> \.\.\/lib\/ferry-server\/bin\/ferry\n/);
    expect(contents).not.toMatch(/dist\/agent\//);
    const unit = execFileSync('sh', ['-c', `dpkg-deb --fsys-tarfile "$1" | tar -xOf - ./lib/systemd/system/ferry-server.service`, 'sh', deb], { encoding: 'utf8' });
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/ferry server$/m);
    expect(unit).toMatch(/^ReadWritePaths=\/var\/lib\/ferry$/m);
    expect(unit).toMatch(/^Restart=on-failure$/m);
  });

  it('the agent .ferry package is named ferry-agent and carries the bundle', async () => {
    const manifest = await readPackageManifest(join(out, `ferry-agent-${version}.ferry`));
    expect(manifest.name).toBe('ferry-agent');
    expect(manifest.version).toBe(version);
    expect(manifest.hooks?.healthcheck).toBe('hooks/healthcheck.sh');
    const paths = manifest.files.map((f) => f.path);
    expect(paths).toContain('bin/ferry-agent');
    expect(paths).toContain('node_modules/better-sqlite3/build/Release/better_sqlite3.node');
  });
});

// Installing on this machine: only as root, with dpkg and nodejs known to dpkg, and only when
// nothing of a real agent is here that the test could clobber.
const STATE = '/var/lib/ferry-agent';
const CONF = '/etc/ferry/agent.json';
function whyNotInstall(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  if (sh('sh', ['-c', 'command -v dpkg']).code !== 0) return 'no dpkg';
  if (sh('dpkg-query', ['-W', '-f=${Status}', 'nodejs']).stdout !== 'install ok installed') return 'nodejs is not a dpkg package here (the .deb depends on it)';
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

  it('installs, removes keeping state, and purges', () => {
    const deb = join(out, `ferry-agent_${version}_${debArch}.deb`);
    const inst = sh('dpkg', ['-i', deb]);
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
    const rm = sh('dpkg', ['-r', 'ferry-agent']);
    expect(rm.code, rm.stderr).toBe(0);
    expect(existsSync('/usr/bin/ferry-agent')).toBe(false);
    expect(existsSync('/usr/lib/ferry-agent')).toBe(false);
    expect(existsSync('/lib/systemd/system/ferry-agent.service')).toBe(false);
    expect(existsSync(join(STATE, 'identity.json'))).toBe(true);
    expect(existsSync(CONF)).toBe(true);
    expect(sh('dpkg-query', ['-W', '-f=${Status}', 'ferry-agent']).stdout).toBe('deinstall ok config-files');

    // purge: state and configuration gone, the software the agent installed stays
    const purge = sh('dpkg', ['-P', 'ferry-agent']);
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
