// The daemon's inventory comes from a child process running the real CLI (`ferry-agent inventory
// --json`, from the compiled dist/); when that child cannot run, from this process instead.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { REPO_ROOT, tempDir, waitFor } from '../../test/helpers/fleet.js';
import { isAlive } from '../control/lock.js';
import { collectInventoryInChild } from './child.js';

function recordingLogger(): { log: ReturnType<typeof pino>; lines: () => string[] } {
  const lines: string[] = [];
  const log = pino({ level: 'warn' }, { write: (s: string) => lines.push(s) });
  return { log, lines: () => lines };
}

describe('collectInventoryInChild', () => {
  it('returns what `ferry-agent inventory --json` reports, with the environment passed on', async () => {
    const { log, lines } = recordingLogger();
    const before = process.env.FERRY_HOSTNAME;
    process.env.FERRY_HOSTNAME = 'inventory-child-host';
    try {
      const inv = await collectInventoryInChild({ script: join(REPO_ROOT, 'bin', 'ferry-agent.js'), log });
      expect(inv.hostname).toBe('inventory-child-host'); // the child was given this process's environment
      expect(inv.os).toBe(process.platform);
      expect(inv.arch).toBe(process.arch);
      expect(inv.cpu.cores).toBeGreaterThan(0);
      expect(lines()).toEqual([]); // no fallback
    } finally {
      if (before === undefined) delete process.env.FERRY_HOSTNAME;
      else process.env.FERRY_HOSTNAME = before;
    }
  }, 120_000);

  it('falls back to collecting in this process when the child prints nonsense, and says so', async () => {
    const { log, lines } = recordingLogger();
    const script = join(tempDir('ferry-inv-child-'), 'bogus.js');
    writeFileSync(script, "process.stdout.write('{\"hostname\": 42}\\n');\n");
    const inv = await collectInventoryInChild({ script, log });
    expect(inv.os).toBe(process.platform);
    expect(inv.cpu.cores).toBeGreaterThan(0);
    expect(lines().join('')).toMatch(/inventory child failed; collecting in the agent process/);
    expect(lines().join('')).toMatch(/printed no valid inventory/);
  }, 120_000);

  it('stops with the agent: the child is killed and nothing is collected in its place', async () => {
    const { log, lines } = recordingLogger();
    const dir = tempDir('ferry-inv-child-');
    const script = join(dir, 'hangs.js');
    writeFileSync(script, `require('fs').writeFileSync(${JSON.stringify(join(dir, 'pid'))}, String(process.pid)); setInterval(() => {}, 1000);\n`);
    const stop = new AbortController();
    const collecting = collectInventoryInChild({ script, log, signal: stop.signal });
    // The file exists before its content is written: wait for a whole pid (an empty read gave
    // pid 0, and "process 0" — this process group — is always alive).
    const pidText = () => (existsSync(join(dir, 'pid')) ? readFileSync(join(dir, 'pid'), 'utf8') : '');
    await waitFor(() => /^[1-9][0-9]*$/.test(pidText()), 30_000);
    const pid = Number(pidText());
    stop.abort();
    await expect(collecting).rejects.toMatchObject({ name: 'AbortError' });
    await waitFor(() => !isAlive(pid), 30_000, { message: `inventory child ${pid} still runs` });
    expect(lines()).toEqual([]); // no fallback
  }, 120_000);
});
