// Commands refused before they reach any NATS, through the real `ferry` (no server runs):
// an --out that cannot be made (a parent is a regular file: ENOTDIR, which holds even as root)
// for `ferry nats config` and `ferry site add`. Each is one line with a stable code, nothing written.
// Requires the compiled dist/ (`npx tsc -p .`).
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectCliRefusals, type CliRefusal } from '../helpers/errors.js';
import { cleanupFleet, runFerry, tempDir } from '../helpers/fleet.js';

afterAll(cleanupFleet, 60_000);

const HUB = 'nats-leaf://127.0.0.1:7422';

describe('--out that cannot be made: FERRY_INVALID_INPUT naming it and why; no file, no directory, no site', () => {
  let home: string;
  let dir: string;
  let file: string;

  beforeAll(async () => {
    home = tempDir('ferry-home-');
    await runFerry(home, ['init']);
    dir = tempDir('ferry-out-');
    file = join(dir, 'file');
    writeFileSync(file, 'not a directory');
  }, 60_000);

  it('ferry nats config and ferry site add under a regular file', async () => {
    const under = (name: string) => join(file, name).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const fileRe = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const cases: CliRefusal[] = [
      [['nats', 'config', '--out', join(file, 'conf')], 2, new RegExp(`^FERRY_INVALID_INPUT: cannot create the --out directory ${under('conf')}: ${fileRe} is not a directory — hint: choose an --out`)],
      [['nats', 'config', '--out', join(file, 'conf', 'deeper')], 2, new RegExp(`^FERRY_INVALID_INPUT: cannot create the --out directory ${under('conf')}/deeper: ${fileRe} is not a directory`)],
      [['site', 'add', 'lyon', '--out', join(file, 'sites'), '--hub-url', HUB], 2, new RegExp(`^FERRY_INVALID_INPUT: cannot create the --out directory ${under('sites')}: ${fileRe} is not a directory — hint: choose an --out`)],
    ];
    await expectCliRefusals((args) => runFerry(home, args, { allowFail: true }), cases);
    expect(readdirSync(dir)).toEqual(['file']);
    // No row of the refused site: the same name is free, and its files are written.
    const good = join(dir, 'good');
    const added = (await runFerry(home, ['site', 'add', 'lyon', '--out', good, '--hub-url', HUB, '--json'])).json<{ name: string; config: string }>();
    expect(added.name).toBe('lyon');
    expect(readdirSync(good).sort()).toEqual(['lyon.conf', 'lyon.creds', 'lyon.system.creds']);
  });

  it('ferry nats config whose second file cannot be written: the first is removed too (no set mixing two route passwords)', async () => {
    const out = join(dir, 'existing');
    mkdirSync(join(out, 'node-2.conf'), { recursive: true }); // a directory where node-2.conf goes
    const r = await runFerry(home, ['nats', 'config', '--out', out], { allowFail: true });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^FERRY_INVALID_INPUT: cannot write the configs to /)]);
    expect(readdirSync(out)).toEqual(['node-2.conf']); // the directory was there: kept, with what was in it
    expect(existsSync(join(out, 'node-1.conf'))).toBe(false);
  });
});
