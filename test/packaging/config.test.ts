// Config files for both CLIs (real child processes): flags > FERRY_* environment > config file >
// defaults, and a bad value stops the process with one FERRY_CONFIG_INVALID line.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupFleet, runAgentCli, runFerry, tempDir } from '../helpers/fleet.js';
import { REPO_ROOT } from '../helpers/fleet.js';
import { spawnSync } from 'node:child_process';

afterAll(cleanupFleet);

/** `ferry-agent ARGS` without the helpers' --state-dir, so the config file decides. */
function agent(args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'ferry-agent.js'), ...args], { encoding: 'utf8', env: { ...process.env, FERRY_CONFIG: 'none', FERRY_AGENT_STATE: '', ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function writeJson(dir: string, name: string, doc: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, typeof doc === 'string' ? doc : JSON.stringify(doc));
  return file;
}

describe('agent config file', () => {
  const dir = tempDir('ferry-config-');
  const conf = writeJson(dir, 'agent.json', { stateDir: join(dir, 'from-file'), heartbeatMs: 1000 });

  it('stateDir comes from the file, FERRY_AGENT_STATE beats the file, --state-dir beats both', () => {
    expect(agent(['status', '--config', conf]).stderr).toContain(`no ${join(dir, 'from-file')}/identity.json`);
    expect(agent(['status'], { FERRY_CONFIG: conf }).stderr).toContain(`no ${join(dir, 'from-file')}/identity.json`);
    expect(agent(['status', '--config', conf], { FERRY_AGENT_STATE: join(dir, 'from-env') }).stderr).toContain(`no ${join(dir, 'from-env')}/identity.json`);
    expect(agent(['status', '--config', conf, '--state-dir', join(dir, 'from-flag')], { FERRY_AGENT_STATE: join(dir, 'from-env') }).stderr).toContain(`no ${join(dir, 'from-flag')}/identity.json`);
  });

  it('a bad value in the file is one FERRY_CONFIG_INVALID line naming the file and the key', () => {
    const bad = writeJson(dir, 'bad.json', { heartbeatMs: -5 });
    const r = agent(['status', '--config', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`FERRY_CONFIG_INVALID: ${bad}: heartbeatMs must be a positive integer — hint: see docs/configuration.md\n`);
  });

  it('unknown keys, broken JSON and a missing named file are refused', () => {
    expect(agent(['status', '--config', writeJson(dir, 'typo.json', { hearbeatMs: 5 })]).stderr).toMatch(/^FERRY_CONFIG_INVALID: \S+typo\.json: unknown key hearbeatMs/);
    expect(agent(['status', '--config', writeJson(dir, 'broken.json', '{"stateDir": ')]).stderr).toMatch(/^FERRY_CONFIG_INVALID: \S+broken\.json: not valid JSON/);
    const missing = agent(['status'], { FERRY_CONFIG: join(dir, 'nope.json') });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^FERRY_CONFIG_INVALID: \S+nope\.json: cannot read the config file \(ENOENT\)/);
  });

  it('a bad FERRY_* variable is refused even with a good file (the environment wins)', () => {
    const r = agent(['status', '--config', conf], { FERRY_HEARTBEAT_MS: '10s' });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('FERRY_CONFIG_INVALID: FERRY_HEARTBEAT_MS: must be a positive integer (got "10s") — hint: see docs/configuration.md\n');
  });

  it('the maintenance window and deadline come from the file too; a flag beats it', () => {
    const badDeadline = agent(['join', '--token', 'x', '--config', writeJson(dir, 'deadline.json', { window: 'Mon-Fri 12:00-13:00', deadline: 'soon' }), '--state-dir', join(dir, 'j1')]);
    expect(badDeadline.code).toBe(2);
    expect(badDeadline.stderr).toMatch(/^FERRY_CONFIG_INVALID: \S+deadline\.json: deadline must be a duration such as 8h/);
    const windowFile = writeJson(dir, 'window.json', { window: 'Mon 25:00-26:00' });
    const badWindow = agent(['join', '--token', 'x', '--config', windowFile, '--state-dir', join(dir, 'j2')]);
    expect(badWindow.code).toBe(2);
    expect(badWindow.stderr).toMatch(/^FERRY_INVALID_INPUT: invalid window "Mon 25:00-26:00"/);
    // --window none on the command line wins: the join gets as far as the (bogus) token.
    const flagWins = agent(['join', '--token', 'x', '--config', windowFile, '--window', 'none', '--state-dir', join(dir, 'j3')]);
    expect(flagWins.stderr).not.toMatch(/window/);
    expect(flagWins.stderr).toMatch(/^FERRY_TOKEN_INVALID/);
  });

  it('the deb default config is valid', () => {
    const r = agent(['status', '--config', join(REPO_ROOT, 'packaging', 'agent', 'agent.json'), '--state-dir', join(dir, 'x')]);
    expect(r.stderr).toMatch(/^FERRY_NOT_JOINED/);
  });

  it('join validates installRoot from the file', async () => {
    const r = await runAgentCli(join(dir, 'joined'), ['join', '--token', 'not-a-token', '--config', writeJson(dir, 'root.json', { installRoot: 'relative/apps' })], { allowFail: true, env: { FERRY_CONFIG: '' } });
    expect(r.stderr).toMatch(/^FERRY_CONFIG_INVALID: \S+root\.json: installRoot must be an absolute path/);
  });
});

describe('server config file', () => {
  const dir = tempDir('ferry-config-');

  it('dataDir comes from the file; FERRY_HOME and --data-dir win over it', async () => {
    const conf = writeJson(dir, 'server.json', { dataDir: join(dir, 'from-file') });
    const fromFile = (await runFerry('', ['init', '--json'], { env: { FERRY_CONFIG: conf, FERRY_HOME: '' } })).json<{ dataDir: string }>();
    expect(fromFile.dataDir).toBe(join(dir, 'from-file'));
    const fromEnv = (await runFerry(join(dir, 'from-env'), ['init', '--json', '--config', conf])).json<{ dataDir: string }>();
    expect(fromEnv.dataDir).toBe(join(dir, 'from-env'));
    const fromFlag = (await runFerry(join(dir, 'from-env'), ['init', '--json', '--config', conf, '--data-dir', join(dir, 'from-flag')])).json<{ dataDir: string }>();
    expect(fromFlag.dataDir).toBe(join(dir, 'from-flag'));
  });

  it('a bad listen address stops `ferry server` before it starts anything', async () => {
    const conf = writeJson(dir, 'bad.json', { dataDir: join(dir, 'bad'), listen: 'localhost' });
    const r = await runFerry('', ['server', '--config', conf], { allowFail: true, env: { FERRY_HOME: '' } });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`FERRY_CONFIG_INVALID: ${conf}: listen must be HOST:PORT, e.g. 0.0.0.0:4222 — hint: see docs/configuration.md`);
  });

  it('the deb default config is valid', async () => {
    const r = await runFerry(join(dir, 'deb'), ['init', '--json', '--config', join(REPO_ROOT, 'packaging', 'server', 'server.json')]);
    expect(r.json<{ dataDir: string }>().dataDir).toBe(join(dir, 'deb')); // FERRY_HOME beats the file's /var/lib/ferry
  });
});
