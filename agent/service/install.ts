// `ferry-agent install-service` / `uninstall-service`: write or remove the agent's systemd unit on
// hosts where the Debian package does not fit, and tell systemd when it is running and reads that
// directory. Everything done is returned as a list of plain sentences for the CLI to print.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { FerryError } from '../../shared/errors.js';
import { AGENT_UNIT_NAME, renderAgentUnit, type AgentUnitOptions } from './unit.js';

export const DEFAULT_UNIT_DIR = '/etc/systemd/system';
/** Directories systemd loads units from; systemctl is only asked about units written there. */
const SYSTEMD_UNIT_DIRS = ['/etc/systemd/system', '/run/systemd/system', '/lib/systemd/system', '/usr/lib/systemd/system'];

export interface ServiceResult {
  unitFile: string;
  /** what changed on disk: written, updated, unchanged, removed, absent */
  file: 'written' | 'updated' | 'unchanged' | 'removed' | 'absent';
  /** the systemctl commands run, or why none was */
  systemctl: { ran: string[]; skipped?: string };
  actions: string[];
}

export interface SystemctlOptions {
  /** false: never run systemctl (--no-systemctl) */
  use: boolean;
}

/** Why systemctl cannot be used for units in unitDir, or undefined when it can. */
export function systemctlUnusable(unitDir: string, o: SystemctlOptions): string | undefined {
  if (!o.use) return '--no-systemctl';
  if (!SYSTEMD_UNIT_DIRS.includes(resolve(unitDir))) return `${unitDir} is not a directory systemd loads units from`;
  if (!existsSync('/run/systemd/system')) return 'systemd is not running on this host';
  if (spawnSync('systemctl', ['--version'], { stdio: 'ignore' }).status !== 0) return 'systemctl is not available';
  return undefined;
}

function systemctl(args: string[]): void {
  const r = spawnSync('systemctl', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new FerryError('FERRY_INSTALL_FAILED', `systemctl ${args.join(' ')} failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`);
}

function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.ferry-tmp`;
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(tmp, text, { mode: 0o644 });
    renameSync(tmp, file);
  } catch (err) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // nothing was written
    }
    const code = (err as NodeJS.ErrnoException).code;
    throw new FerryError('FERRY_INSTALL_FAILED', `cannot write ${file} (${code ?? String(err)})`, code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? { hint: 'run as root, or choose another --unit-dir' } : {});
  }
}

export function installService(unitDir: string, unit: AgentUnitOptions, o: SystemctlOptions & { joined: boolean }): ServiceResult {
  const unitFile = join(unitDir, AGENT_UNIT_NAME);
  const text = renderAgentUnit(unit);
  const before = existsSync(unitFile) ? readFileSync(unitFile, 'utf8') : undefined;
  const file = before === text ? 'unchanged' : before === undefined ? 'written' : 'updated';
  if (file !== 'unchanged') writeAtomically(unitFile, text);
  const actions = [`${file === 'unchanged' ? 'Unit unchanged' : file === 'written' ? 'Wrote' : 'Updated'} ${unitFile} (ExecStart=${unit.command} supervise)`];
  const skipped = systemctlUnusable(unitDir, o);
  const ran: string[] = [];
  if (skipped) {
    actions.push(`systemctl not run: ${skipped}`, `Next: systemctl daemon-reload && systemctl enable --now ${AGENT_UNIT_NAME}`);
  } else {
    const steps = [['daemon-reload'], ['enable', AGENT_UNIT_NAME], ...(o.joined ? [['restart', AGENT_UNIT_NAME]] : [])];
    for (const s of steps) {
      systemctl(s);
      ran.push(`systemctl ${s.join(' ')}`);
    }
    actions.push(...ran.map((r) => `Ran ${r}`));
    if (!o.joined) actions.push(`Not started: this host has not joined yet (it starts once ${unit.stateDir}/identity.json exists; run ferry-agent join, then systemctl start ${AGENT_UNIT_NAME})`);
  }
  return { unitFile, file, systemctl: { ran, ...(skipped ? { skipped } : {}) }, actions };
}

/** Stop and disable the service, remove the unit. The agent's state and installed software stay. */
export function uninstallService(unitDir: string, o: SystemctlOptions): ServiceResult {
  const unitFile = join(unitDir, AGENT_UNIT_NAME);
  const present = existsSync(unitFile);
  const skipped = systemctlUnusable(unitDir, o);
  const ran: string[] = [];
  const actions: string[] = [];
  if (!skipped && present) {
    systemctl(['disable', '--now', AGENT_UNIT_NAME]);
    ran.push(`systemctl disable --now ${AGENT_UNIT_NAME}`);
  }
  if (present) {
    try {
      rmSync(unitFile);
    } catch (err) {
      throw new FerryError('FERRY_INSTALL_FAILED', `cannot remove ${unitFile} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { hint: 'run as root' });
    }
    actions.push(`Removed ${unitFile}`);
  } else {
    actions.push(`No unit at ${unitFile}; nothing to remove`);
  }
  if (!skipped && present) {
    systemctl(['daemon-reload']);
    ran.push('systemctl daemon-reload');
  }
  actions.push(...ran.map((r) => `Ran ${r}`));
  if (skipped && present) actions.push(`systemctl not run: ${skipped}`);
  actions.push('The agent state and the installed software were kept');
  return { unitFile, file: present ? 'removed' : 'absent', systemctl: { ran, ...(skipped ? { skipped } : {}) }, actions };
}
