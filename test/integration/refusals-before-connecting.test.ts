// Commands refused before they reach any NATS, through the real `ferry` (no server runs):
// an --out that cannot be made (a parent is a regular file: ENOTDIR, which holds even as root)
// for `ferry nats config` and `ferry site add`, and `ferry server --nats` with a flag of the
// embedded nats-server on the command line, and flag values refused before a request is made (an
// empty --waves, a bad duration naming its flag, a zero --interval, a bad --tag key). Each is one
// line with a stable code, nothing written.
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

describe('ferry server --nats: a flag of the embedded nats-server given on the command line is refused', () => {
  let home: string;

  beforeAll(() => {
    home = tempDir('ferry-home-'); // never initialized: a flag that passes gets FERRY_NOT_INITIALIZED
  });

  it('--listen and --tls-cert/--tls-key (without --ui-listen): FERRY_USAGE, before anything is read', async () => {
    const nats = ['server', '--nats', 'nats://127.0.0.1:1'];
    const cases: CliRefusal[] = [
      [[...nats, '--listen', '0.0.0.0:4222'], 2, /^FERRY_USAGE: --listen is for the embedded NATS; with --nats the cluster's nodes listen where their configs say — hint: /],
      [[...nats, '--tls-cert', '/etc/ferry/tls.crt', '--tls-key', '/etc/ferry/tls.key'], 2, /^FERRY_USAGE: --tls-cert is for the embedded NATS \(and the console with --ui-listen\); with --nats the cluster serves its own TLS — hint: to trust the cluster's certificate, give --tls-ca FILE/],
      [[...nats, '--tls-key', '/etc/ferry/tls.key'], 2, /^FERRY_USAGE: --tls-key is for the embedded NATS/],
      [[...nats, '--leaf-listen', '0.0.0.0:7422'], 2, /^FERRY_USAGE: --leaf-listen is for the embedded NATS/],
    ];
    await expectCliRefusals((args) => runFerry(home, args, { allowFail: true, env: { FERRY_LOG_LEVEL: 'silent' } }), cases);
    expect(readdirSync(home)).toEqual([]);
  });

  it('the same values from the config file, and --tls-cert/--tls-key for the console (--ui-listen), are not refused', async () => {
    const config = join(tempDir('ferry-config-'), 'server.json');
    writeFileSync(config, JSON.stringify({ listen: '0.0.0.0:4222', tlsCert: '/etc/ferry/tls.crt', tlsKey: '/etc/ferry/tls.key' }));
    const notInitialized = /^FERRY_NOT_INITIALIZED: /;
    const cases: CliRefusal[] = [
      [['server', '--config', config, '--nats', 'nats://127.0.0.1:1'], 5, notInitialized],
      [['server', '--nats', 'nats://127.0.0.1:1', '--ui-listen', '127.0.0.1:0', '--tls-cert', '/etc/ferry/tls.crt', '--tls-key', '/etc/ferry/tls.key'], 5, notInitialized],
    ];
    await expectCliRefusals((args) => runFerry(home, args, { allowFail: true, env: { FERRY_LOG_LEVEL: 'silent' } }), cases);
  });
});

describe('flag values refused before anything is asked: FERRY_INVALID_INPUT (exit 2) naming the flag', () => {
  let home: string;

  beforeAll(() => {
    home = tempDir('ferry-home-'); // never initialized: a command that gets past its checks is FERRY_SERVER_UNREACHABLE
  });

  it('empty values, durations, intervals and tag keys', async () => {
    const start = ['rollout', 'start', 'web-1'];
    const long = 'a'.repeat(5000);
    const cases: CliRefusal[] = [
      // '' is not "not given": an empty --waves is not the default waves, --start-at '' is not "now", --nats '' is not the local server
      [[...start, '--strategy', 'phased', '--waves', ''], 2, /^FERRY_INVALID_INPUT: --waves must not be empty — hint: /],
      [[...start, '--start-at', ''], 2, /^FERRY_INVALID_INPUT: --start-at must not be empty — hint: /],
      [[...start, '--nats', ''], 2, /^FERRY_INVALID_INPUT: --nats must not be empty — hint: /],
      [['audit', '--since', ''], 2, /^FERRY_INVALID_INPUT: --since must not be empty — hint: /],
      // two output formats at once: refused, not one of them picked without a word
      [['agents', 'list', '--json', '-o', 'yaml'], 2, /^FERRY_USAGE: --json and -o yaml ask for two formats — hint: /],
      [['agents', 'list', '-o', 'wide', '--json'], 2, /^FERRY_USAGE: --json and -o wide ask for two formats — hint: /],
      // commands that do not connect: an empty --data-dir is not the current directory
      [['init', '--data-dir', ''], 2, /^FERRY_INVALID_INPUT: --data-dir must not be empty — hint: /],
      [['nats', 'config', '--out', join(home, 'nats-conf'), '--data-dir', ' '], 2, /^FERRY_INVALID_INPUT: --data-dir must not be empty — /],
      // a duration's error names its flag; too large says the maximum; a negative one is read as the flag's value
      [[...start, '--soak', '10x'], 2, /^FERRY_INVALID_INPUT: --soak: invalid duration "10x" — hint: use e\.g\. 30s, 10m, 2h$/],
      [[...start, '--host-timeout', '10x'], 2, /^FERRY_INVALID_INPUT: --host-timeout: invalid duration "10x" — /],
      [['token', 'create', '--ttl', '10x'], 2, /^FERRY_INVALID_INPUT: --ttl: invalid duration "10x" — /],
      [['audit', '--since', '10x'], 2, /^FERRY_INVALID_INPUT: --since: invalid duration "10x" — /],
      [[...start, '--soak', '99999999h'], 2, /^FERRY_INVALID_INPUT: --soak: "99999999h" is too large \(at most 365d\) — /],
      [['token', 'create', '--ttl', '1000d'], 2, /^FERRY_INVALID_INPUT: --ttl: "1000d" is too large \(at most 365d\) — /],
      [[...start, '--soak', '-5m'], 2, /^FERRY_INVALID_INPUT: --soak: a duration cannot be negative — /],
      [[...start, '--soak'], 2, /^FERRY_USAGE: Not enough arguments following: soak — hint: /],
      // a polling interval of 0 would ask the server without pause
      [['logs', 'web-1', '--follow', '--interval', '0'], 2, /^FERRY_INVALID_INPUT: --interval "0s": must be more than 0s — /],
      [['rollout', 'status', '--watch', '--interval', '0'], 2, /^FERRY_INVALID_INPUT: --interval "0s": must be more than 0s — /],
      // the key is what is wrong: named, with what a key may hold; a long value is cut
      [['token', 'create', '--tag', 'ключ=☃'], 2, /^FERRY_INVALID_INPUT: --tag key "ключ" is not valid: a key is 1-64 of A-Z a-z 0-9 _ \. - — hint: /],
      [['token', 'create', '--tag', long], 2, /^FERRY_INVALID_INPUT: --tag "a{60}…" \(5000 characters\) is not key=value — /],
      // valid values pass these checks (and only then is the missing server found)
      [[...start, '--strategy', 'phased', '--waves', '1,100%', '--soak', '10m', '--host-timeout', '20m', '--start-at', '+1h'], 5, /^FERRY_SERVER_UNREACHABLE: /],
      [['logs', 'web-1', '--follow', '--interval', '200ms'], 5, /^FERRY_SERVER_UNREACHABLE: /],
    ];
    await expectCliRefusals((args) => runFerry(home, args, { allowFail: true }), cases);
    expect(readdirSync(home)).toEqual([]);
  });
});
