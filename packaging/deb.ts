// Builds a Debian package around a staged bundle with dpkg-deb: the bundle under
// /usr/lib/<package>, the command on /usr/bin, the systemd unit, the default config (a conffile)
// and the maintainer scripts from packaging/<program>/.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderAgentUnit } from '../agent/service/unit.js';
import { repoRoot, type Program, type StagedBundle } from './bundle.js';

interface DebSpec {
  package: string;
  configFile: string;
  /** the Depends field; the agent's is computed from the binaries it ships (see agentDepends) */
  depends: string | ((bundle: StagedBundle) => string);
  description: string;
  unit: () => string;
}

const DEBS: Record<Program, DebSpec> = {
  agent: {
    package: 'ferry-agent',
    configFile: 'agent.json',
    depends: (bundle) => agentDepends(bundle),
    description: 'Ferry agent: installs the releases a Ferry server rolls out\n Runs on servers, workstations and VMs; verifies signed packages, installs them\n with health checks and rolls back locally when something is wrong.',
    unit: () => renderAgentUnit({ command: '/usr/bin/ferry-agent', stateDir: '/var/lib/ferry-agent', installRoot: '/opt/ferry/apps', configFile: '/etc/ferry/agent.json' }),
  },
  server: {
    package: 'ferry-server',
    configFile: 'server.json',
    depends: 'nodejs (>= 20.19), nats-server (>= 2.9.10), passwd',
    description: 'Ferry distribution server: DML, CMDB and phased rollouts over NATS\n Keeps signed release packages, publishes them to Ferry agents and runs\n big-bang or phased rollouts; includes the `ferry` administration CLI.',
    unit: () => readPackagingFile('server', 'ferry-server.service'),
  },
};

/**
 * The agent carries its own Node runtime: it needs glibc (the newest symbol version that node and
 * better_sqlite3.node use) and GCC's C++ runtime, which every Debian and Ubuntu system has
 * (apt itself needs it) — nothing else.
 */
export function agentDepends(bundle: StagedBundle): string {
  const needs = bundle.needs;
  if (!needs) throw new Error('the agent bundle does not say what it needs from the host (stageBundle sets it)');
  return [`libc6 (>= ${needs.glibc})`, ...(needs.libstdcxxGcc !== undefined ? [`libstdc++6 (>= ${needs.libstdcxxGcc})`] : []), ...(needs.libgcc ? ['libgcc-s1'] : [])].join(', ');
}

function readPackagingFile(program: Program, name: string): string {
  return readFileSync(join(repoRoot, 'packaging', program, name), 'utf8');
}

/**
 * Completion scripts (bash, zsh) printed by the command itself, and its man page, generated from
 * the same yargs definitions by scripts/cli-reference.ts (packaging/man/).
 */
function installShellAndMan(root: string, command: string): void {
  const cli = join(repoRoot, 'bin', `${command}.js`);
  const script = (shell: string) => execFileSync(process.execPath, [cli, 'completion', shell], { encoding: 'utf8', env: { ...process.env, FERRY_CONFIG: 'none' } });
  const bash = join(root, 'usr', 'share', 'bash-completion', 'completions');
  const zsh = join(root, 'usr', 'share', 'zsh', 'vendor-completions');
  const man = join(root, 'usr', 'share', 'man', 'man1');
  for (const d of [bash, zsh, man]) mkdirSync(d, { recursive: true });
  writeFileSync(join(bash, command), script('bash'));
  writeFileSync(join(zsh, `_${command}`), script('zsh'));
  // -n: no name or time in the gzip header, so the same page gives the same bytes.
  writeFileSync(join(man, `${command}.1.gz`), execFileSync('gzip', ['-9n', '-c', join(repoRoot, 'packaging', 'man', `${command}.1`)]));
}

/** Debian's name for this machine's architecture. */
export function debianArch(arch: string = process.arch): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'armhf', ia32: 'i386', ppc64: 'ppc64el', s390x: 's390x', riscv64: 'riscv64' };
  const deb = map[arch];
  if (!deb) throw new Error(`no Debian architecture for ${arch}`);
  return deb;
}

export function debFileName(program: Program, version: string, arch = debianArch()): string {
  return `${DEBS[program].package}_${version}_${arch}.deb`;
}

/** Build `<outDir>/<package>_<version>_<arch>.deb`; `work` is a scratch directory. */
export function buildDeb(program: Program, bundle: StagedBundle, outDir: string, work: string): string {
  const spec = DEBS[program];
  const root = join(work, `${spec.package}-deb`);
  rmSync(root, { recursive: true, force: true });
  const lib = join(root, 'usr', 'lib', spec.package);
  mkdirSync(join(root, 'usr', 'bin'), { recursive: true });
  cpSync(bundle.dir, lib, { recursive: true });
  symlinkSync(`../lib/${spec.package}/bin/${bundle.command}`, join(root, 'usr', 'bin', bundle.command));

  mkdirSync(join(root, 'lib', 'systemd', 'system'), { recursive: true });
  writeFileSync(join(root, 'lib', 'systemd', 'system', `${spec.package}.service`), spec.unit());
  mkdirSync(join(root, 'etc', 'ferry'), { recursive: true });
  copyFileSync(join(repoRoot, 'packaging', program, spec.configFile), join(root, 'etc', 'ferry', spec.configFile));
  const doc = join(root, 'usr', 'share', 'doc', spec.package);
  mkdirSync(doc, { recursive: true });
  copyFileSync(join(repoRoot, 'docs', 'configuration.md'), join(doc, 'configuration.md'));
  writeFileSync(join(doc, 'copyright'), 'Ferry\nLicense: Apache-2.0\n On Debian systems, see /usr/share/common-licenses/Apache-2.0.\n');

  installShellAndMan(root, bundle.command);

  const debian = join(root, 'DEBIAN');
  mkdirSync(debian);
  for (const script of ['postinst', 'prerm', 'postrm']) {
    copyFileSync(join(repoRoot, 'packaging', program, script), join(debian, script));
    chmodSync(join(debian, script), 0o755);
  }
  writeFileSync(join(debian, 'conffiles'), `/etc/ferry/${spec.configFile}\n`);
  const installedKb = Number(execFileSync('du', ['-sk', '--exclude=DEBIAN', root], { encoding: 'utf8' }).split(/\s/)[0]);
  writeFileSync(
    join(debian, 'control'),
    [
      `Package: ${spec.package}`,
      `Version: ${bundle.version}`,
      `Architecture: ${debianArch()}`,
      'Maintainer: Ferry maintainers <ferry@localhost>',
      `Installed-Size: ${installedKb}`,
      `Depends: ${typeof spec.depends === 'string' ? spec.depends : spec.depends(bundle)}`,
      'Section: admin',
      'Priority: optional',
      `Description: ${spec.description}`,
      '',
    ].join('\n'),
  );
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, debFileName(program, bundle.version));
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', root, file], { stdio: ['ignore', 'ignore', 'inherit'] });
  return file;
}
