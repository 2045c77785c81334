// `ferry-agent install-service` / `uninstall-service` with a temporary unit directory (systemctl is
// never asked about a directory systemd does not read, so the real /etc/systemd is not touched).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, cleanupFleet, runAgentCli, tempDir } from '../helpers/fleet.js';

afterAll(cleanupFleet);

describe('ferry-agent install-service', () => {
  const stateDir = tempDir('ferry-svc-state-');
  const unitDir = join(tempDir('ferry-svc-units-'), 'system');
  const unitFile = join(unitDir, 'ferry-agent.service');

  it('writes the unit for this agent, idempotently, and says systemctl was not run', async () => {
    const first = (await runAgentCli(stateDir, ['install-service', '--unit-dir', unitDir, '--json'])).json();
    expect(first).toMatchObject({ unitFile, file: 'written', joined: false, stateDir, installRoot: join(stateDir, 'apps') });
    expect(first.systemctl).toEqual({ ran: [], skipped: `${unitDir} is not a directory systemd loads units from` });
    const unit = readFileSync(unitFile, 'utf8');
    expect(unit).toContain(`ExecStart=${process.execPath} ${join(REPO_ROOT, 'bin', 'ferry-agent.js')} supervise --state-dir ${stateDir}\n`);
    expect(unit).toContain(`ReadWritePaths=${stateDir} ${join(stateDir, 'apps')}\n`);
    expect(unit).toContain(`ConditionPathExists=${stateDir}/identity.json\n`);
    expect(unit).toContain(`ConditionPathExists=!${stateDir}/decommissioned.json\n`); // never restarted once decommissioned
    expect(unit).toMatch(/^RestartPreventExitStatus=5$/m);
    expect(unit).toMatch(/^Restart=on-failure$/m);
    expect(unit).toMatch(/^WantedBy=multi-user\.target$/m);

    const again = await runAgentCli(stateDir, ['install-service', '--unit-dir', unitDir]);
    expect(again.stdout).toContain(`Unit unchanged ${unitFile}`);
    expect(again.stdout).toContain('systemctl not run:');
  });

  it('takes --command and the config file, and updates a changed unit', async () => {
    const conf = join(stateDir, 'agent.json');
    writeFileSync(conf, JSON.stringify({ installRoot: '/srv/apps' }));
    const r = (await runAgentCli(stateDir, ['install-service', '--unit-dir', unitDir, '--command', '/opt/ferry-agent/bin/ferry-agent', '--config', conf, '--json'])).json();
    expect(r.file).toBe('updated');
    const unit = readFileSync(unitFile, 'utf8');
    expect(unit).toContain(`ExecStart=/opt/ferry-agent/bin/ferry-agent supervise --state-dir ${stateDir}\n`);
    expect(unit).toContain(`Environment=FERRY_CONFIG=${conf}\n`);
    expect(unit).toContain(`ReadWritePaths=${stateDir} /srv/apps\n`);
  });

  it('uninstall-service removes the unit and keeps the agent state', async () => {
    writeFileSync(join(stateDir, 'keep-me'), 'x');
    const r = (await runAgentCli(stateDir, ['uninstall-service', '--unit-dir', unitDir, '--json'])).json();
    expect(r).toMatchObject({ unitFile, file: 'removed' });
    expect(existsSync(unitFile)).toBe(false);
    expect(existsSync(join(stateDir, 'keep-me'))).toBe(true);
    const again = await runAgentCli(stateDir, ['uninstall-service', '--unit-dir', unitDir]);
    expect(again.stdout).toContain(`No unit at ${unitFile}; nothing to remove`);
  });

  it('a unit directory that cannot be written is one FERRY_INSTALL_FAILED line, nothing left behind', async () => {
    const blocker = join(tempDir('ferry-svc-bad-'), 'a-file');
    writeFileSync(blocker, '');
    const r = await runAgentCli(stateDir, ['install-service', '--unit-dir', join(blocker, 'system')], { allowFail: true });
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim()).toMatch(/^FERRY_INSTALL_FAILED: cannot write \S+\/a-file\/system\/ferry-agent\.service \(ENOTDIR\)$/);
  });
});
