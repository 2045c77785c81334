// `ferry-agent --version`, `run` and `supervise` are parsed without yargs (so the daemon never
// loads it): they must still check their options as strictly, and everything else (and --help)
// still goes through yargs. Runs the compiled CLI from the checkout.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FAST_ENV, REPO_ROOT, tempDir } from '../helpers/fleet.js';

const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const agent = (args: string[]) => spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'ferry-agent.js'), ...args], { encoding: 'utf8', env: { ...process.env, ...FAST_ENV } });

describe('ferry-agent without yargs', () => {
  it('--version prints the version, --json with the runtime', () => {
    const plain = agent(['--version']);
    expect(plain.status).toBe(0);
    expect(plain.stdout).toBe(`${version}\n`);
    const json = agent(['--version', '--json']);
    expect(JSON.parse(json.stdout)).toEqual({ version, node: process.version, platform: `${process.platform}-${process.arch}` });
  });

  it('run and supervise refuse unknown options as usage errors and need a joined host', () => {
    for (const cmd of ['run', 'supervise']) {
      const bad = agent([cmd, '--no-such-flag']);
      expect(bad.status, cmd).toBe(2);
      expect(bad.stderr).toMatch(/^FERRY_USAGE: Unknown option '--no-such-flag' — hint: see ferry-agent \w+ --help\n$/);
      const state = tempDir('ferry-fast-');
      const unjoined = agent([cmd, '--state-dir', state]);
      expect(unjoined.status, cmd).toBe(5);
      expect(unjoined.stderr).toContain(`FERRY_NOT_JOINED: this host has not joined a Ferry server (no ${state}/identity.json)`);
    }
    expect(agent(['run', '--keep-versions', 'many']).stderr).toMatch(/^FERRY_USAGE: --keep-versions "many" is not a number/);
  });

  it('--help and the other commands still go through yargs', () => {
    const help = agent(['run', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--keep-versions/);
    expect(help.stdout).toMatch(/--window/);
    expect(agent(['--help']).stdout).toMatch(/ferry-agent inventory/);
    const status = agent(['status', '--state-dir', tempDir('ferry-fast-')]);
    expect(status.status).toBe(5);
  });
});
