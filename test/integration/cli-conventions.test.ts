// The operator's CLI conventions, driven through the real `ferry` against a real server and
// agents: --version, completion, -o json|yaml|wide, --no-headers, plain tables that fit COLUMNS
// when stdout is not a terminal, colour only on a terminal (NO_COLOR wins), the nearest
// subcommand for a typo, Examples in --help, plural aliases, `ferry status`, `ferry agent show`
// (a hostname two agents share is refused with their ids), and `rollout status --watch`.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetStatusReplySchema } from '../../shared/protocol/replies.js';
import { cleanupFleet, initServer, joinAgent, REPO_ROOT, runAgentCli, runFerry, startAgent, tempDir, waitFor, type JoinedAgent, type ServerHandle } from '../helpers/fleet.js';
import { expectCliRefusals, type CliRefusal } from '../helpers/errors.js';
import { createRelease, mapLimit, publishPackage } from '../helpers/faults.js';

const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** `ferry ARGS` under a pseudo-terminal (util-linux `script`), for what only a TTY gets. */
function underTty(home: string, args: string[], env: Record<string, string> = {}): string {
  const cmd = [process.execPath, join(REPO_ROOT, 'bin', 'ferry.js'), ...args].map((x) => `'${x}'`).join(' ');
  const r = spawnSync('script', ['-qec', `stty cols 100; ${cmd}`, '/dev/null'], { env: { ...process.env, FERRY_HOME: home, ...env }, encoding: 'utf8', timeout: 60_000 });
  return r.stdout;
}

/**
 * `ferry ARGS` under a pseudo-terminal, followed until its output satisfies `done` (then stopped):
 * for commands that never end by themselves, such as `--watch`. However slow the machine is to
 * start node and connect, the test waits for the frames, not for a fixed time.
 */
async function followUnderTty(home: string, args: string[], done: (out: string) => boolean, limitMs = 90_000): Promise<string> {
  const cmd = [process.execPath, join(REPO_ROOT, 'bin', 'ferry.js'), ...args].map((x) => `'${x}'`).join(' ');
  const child = spawn('script', ['-qec', `stty cols 100; ${cmd}`, '/dev/null'], { env: { ...process.env, FERRY_HOME: home }, detached: true });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  try {
    await waitFor(() => done(out) || child.exitCode !== null, limitMs, { message: () => `output so far: ${JSON.stringify(out)}` });
  } finally {
    if (child.exitCode === null) process.kill(-child.pid!, 'SIGTERM');
    await exited;
  }
  return out;
}

describe('ferry CLI conventions', () => {
  let server: ServerHandle;
  let home: string;
  let web: JoinedAgent;
  let twins: JoinedAgent[];

  beforeAll(async () => {
    server = await initServer();
    home = server.home;
    const fleet = (async () => {
      [web, ...twins] = await Promise.all([
        joinAgent(home, 'web-1', { tags: { env: 'test', role: 'a-rather-long-role-name-that-makes-the-tags-column-wide' } }),
        // Two agents with one hostname (a re-imaged VM that joined again without decommissioning).
        joinAgent(home, 'twin'),
        joinAgent(home, 'twin'),
      ]);
      await startAgent(web);
    })();
    const release = async (name: string, spec: Parameters<typeof publishPackage>[1]) => {
      await publishPackage(home, spec);
      await createRelease(home, name, [`${spec.name}@${spec.version}`]);
    };
    const plain = (name: string) => ({ name, version: '1.0.0', files: { VERSION: '1\n' } });
    const withPostinstall = (name: string, script: string) => ({ name, version: '1.0.0', files: { 'hooks/post.sh': `#!/bin/sh\n${script}\n` }, hooks: { postinstall: 'hooks/post.sh' } });
    await Promise.all([
      fleet,
      release('ok-1', plain('okpkg')),
      release('bad-1', withPostinstall('badpkg', 'echo "failing on purpose"\nexit 3')),
      release('later-1', plain('laterpkg')),
      // Fails until the test drops a file into the install root (a fixed prerequisite).
      release('flaky-1', withPostinstall('flaky', 'if [ -f "$FERRY_ROOT/.pass" ]; then echo ok; else echo "prerequisite missing"; exit 5; fi')),
      release('soon-1', plain('soon')),
    ]);
  }, 300_000); // five packages and three agents: minutes on a machine busy with other suites

  afterAll(async () => {
    await cleanupFleet();
  });

  it('--version and completion scripts for both programs', async () => {
    // Independent calls, a few at a time.
    const [version, agentVersion, bashRun, zsh, bad, agentBashRun, helpRun, agentHelpRun] = await mapLimit(
      [
        () => runFerry(home, ['--version']),
        () => runAgentCli(web.stateDir, ['--version']),
        () => runFerry(home, ['completion', 'bash']),
        () => runFerry(home, ['completion', 'zsh']),
        () => runFerry(home, ['completion', 'fish'], { allowFail: true }),
        () => runAgentCli(web.stateDir, ['completion', 'bash']),
        () => runFerry(home, ['completion', '--help']),
        () => runAgentCli(web.stateDir, ['completion', '-h']),
      ],
      4,
      (call) => call(),
    );
    expect(version!.stdout.trim()).toBe(VERSION);
    expect(agentVersion!.stdout.trim()).toBe(VERSION);
    const bash = bashRun!.stdout;
    expect(bash).toContain('###-begin-ferry-completions-###');
    expect(bash).toContain('complete -o bashdefault -o default -F _ferry_yargs_completions ferry');
    expect(zsh!.stdout).toMatch(/^#compdef ferry/);
    expect([bad!.code, bad!.stderr.trim().split('\n').length]).toEqual([2, 1]);
    expect(bad!.stderr).toContain('FERRY_USAGE');
    const agentBash = agentBashRun!.stdout;
    expect(agentBash).toContain('###-begin-ferry-agent-completions-###');
    // --help is help (with examples), not the script (yargs would print the script).
    const help = helpRun!.stdout;
    expect(help).toMatch(/^ferry completion \[bash\|zsh\]\n/);
    expect(help).toContain('Examples:');
    expect(help).not.toContain('###-begin');
    const agentHelp = agentHelpRun!.stdout;
    expect(agentHelp).toMatch(/^ferry-agent completion \[bash\|zsh\]\n/);
    expect(agentHelp).not.toContain('###-begin');
  });

  it('a mistyped subcommand names the nearest real one, in one line, exit 2', async () => {
    const [r, top, agent, agentTop] = await Promise.all([
      runFerry(home, ['rollout', 'stat'], { allowFail: true }),
      runFerry(home, ['agnets', 'list'], { allowFail: true }),
      runAgentCli(web.stateDir, ['config', 'chek'], { allowFail: true }),
      runAgentCli(web.stateDir, ['stat'], { allowFail: true }),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('FERRY_USAGE: unknown command "rollout stat": did you mean rollout status?');
    expect([top.code, top.stderr]).toEqual([2, expect.stringContaining('did you mean agents?')]);
    expect([agent.code, agent.stderr.trim().split('\n').length]).toEqual([2, 1]);
    expect(agent.stderr).toContain('FERRY_USAGE: unknown command "config chek": did you mean config check?');
    expect(agentTop.stderr).toContain('did you mean status?');
  });

  it('a value the API refuses is FERRY_INVALID_INPUT, exit 2, naming the flag, in one line', async () => {
    const [pkg, waves, ttl, release] = await Promise.all([
      runFerry(home, ['release', 'create', 'x-1', '--package', 'okpkg'], { allowFail: true }),
      runFerry(home, ['rollout', 'start', 'ok-1', '--strategy', 'phased', '--waves', '1,lots', '--json'], { allowFail: true }),
      runFerry(home, ['token', 'create', '--ttl', '0s'], { allowFail: true }),
      runFerry(home, ['rollout', 'start', 'Not_A_Release'], { allowFail: true }),
    ]);
    expect([pkg.code, pkg.stderr.trim().split('\n').length]).toEqual([2, 1]);
    expect(pkg.stderr).toMatch(/^FERRY_INVALID_INPUT: --package "okpkg": expected NAME@VERSION/);
    expect(pkg.stderr).not.toContain('release.create request');
    expect(waves.code).toBe(2);
    expect(waves.json<{ error: { code: string; message: string } }>().error).toMatchObject({ code: 'FERRY_INVALID_INPUT', message: '--waves "lots": a wave is a host count or a percentage' });
    // the flag the user typed, with the bound in the user's unit (not --ttl-ms and milliseconds)
    expect([ttl.code, ttl.stderr.trim().split('\n').length]).toEqual([2, 1]);
    expect(ttl.stderr).toMatch(/^FERRY_INVALID_INPUT: --ttl "0s": must be more than 0s —/);
    // a positional is named as --help shows it, a release as a release
    expect(release.code).toBe(2);
    expect(release.stderr).toMatch(/^FERRY_INVALID_INPUT: RELEASE "Not_A_Release": not a valid release name — hint: a release name is /);
  });

  it('an empty value is refused naming its flag (never "everything" or the default), exit 2, nothing started; a long one is cut in the error', async () => {
    const rollouts = async () => (await runFerry(home, ['rollout', 'list', '--json'])).json<unknown[]>();
    const before = await rollouts();
    const allHosts = /^FERRY_INVALID_INPUT: --target must not be empty — hint: to select every host, say --target all$/;
    const cases: CliRefusal[] = [
      // a script's unset $SEL in --target "$SEL" must not roll out to the whole fleet
      [['rollout', 'start', 'ok-1', '--target', ''], 2, allHosts],
      [['rollout', 'start', 'ok-1', '--target', '', '--dry-run'], 2, allHosts],
      [['agents', 'list', '--target', ' '], 2, allHosts],
      [['rollout', 'start', 'ok-1', '--window', ''], 2, /^FERRY_INVALID_INPUT: --window must not be empty — /],
      [['rollout', 'start', 'ok-1', '--force', '--reason', ''], 2, /^FERRY_INVALID_INPUT: --reason must not be empty — /],
      [['rollout', 'start', ''], 2, /^FERRY_INVALID_INPUT: RELEASE must not be empty — /],
      // not the newest rollout
      [['rollout', 'status', ''], 2, /^FERRY_INVALID_INPUT: ID must not be empty — /],
      [['rollout', 'review', ''], 2, /^FERRY_INVALID_INPUT: ID must not be empty — /],
      [['agents', 'show', ''], 2, /^FERRY_INVALID_INPUT: HOST must not be empty — /],
      [['logs', 'web-1', '--rollout', ''], 2, /^FERRY_INVALID_INPUT: --rollout must not be empty — /],
      [['audit', '--actor', ''], 2, /^FERRY_INVALID_INPUT: --actor must not be empty — /],
      [['release', 'create', 'bad name', '--package', 'okpkg@1.0.0'], 2, /^FERRY_INVALID_INPUT: NAME "bad name": not a valid release name — hint: a release name is /],
      [['token', 'create', '--tag', `k=${'v'.repeat(5000)}`], 2, /^FERRY_INVALID_INPUT: --tag k "v{60}…" \(5000 characters\): must be at most 256 characters — /],
    ];
    await expectCliRefusals((args) => runFerry(home, args, { allowFail: true }), cases);
    const long = await runFerry(home, ['rollout', 'start', 'ok-1', '--target', 't'.repeat(4000), '--json'], { allowFail: true });
    const cut = `--target "${'t'.repeat(60)}…" (4000 characters): must be at most 1024 characters`;
    expect([long.code, long.json<{ error: { code: string; message: string } }>().error]).toEqual([2, expect.objectContaining({ code: 'FERRY_INVALID_INPUT', message: cut })]);
    expect(long.stderr.length).toBeLessThan(500);
    expect(await rollouts()).toEqual(before);
  });

  it('FERRY_ACTOR and $USER decide nothing: a control character or a long name in them fails no command', async () => {
    const created = await runFerry(home, ['token', 'create', '--json']);
    const { id } = created.json<{ id: string }>();
    const env = { FERRY_ACTOR: 'eve\x1b[8m', USER: 'u'.repeat(200), LOGNAME: 'l\x07' };
    const revoked = await runFerry(home, ['token', 'revoke', id, '--json'], { env });
    expect(revoked.json<{ id: string; state: string }>()).toMatchObject({ id, state: 'revoked' });
    const audit = await runFerry(home, ['audit', '--action', 'token.revoke', '--json'], { env });
    const entry = audit.json<Array<{ actor: string; target: string | null }>>().find((e) => e.target === id);
    expect(entry?.actor).toBe('admin');
  });

  it('token create shows the id that token revoke takes (as its example does); operators is operator', async () => {
    const [created, helpRun, plural, singular] = await Promise.all([
      runFerry(home, ['token', 'create']),
      runFerry(home, ['token', 'revoke', '--help']),
      runFerry(home, ['operators', 'list', '--json']),
      runFerry(home, ['operator', 'list', '--json']),
    ]);
    const id = /\(token id ([0-9a-f]{12}),/.exec(created.stdout)?.[1];
    expect(id, created.stdout).toBeDefined();
    expect((await runFerry(home, ['token', 'revoke', id!])).stdout).toBe(`token ${id} revoked\n`);
    const example = /ferry token revoke (\S+) +no more joins/.exec(helpRun.stdout)?.[1];
    expect(example).toMatch(/^[0-9a-f]{12}$/);
    expect(plural.stdout).toBe(singular.stdout);
  });

  it('--help has Examples and lists the command\'s own flags before the global ones', async () => {
    const ferryCommands = [['rollout', 'start'], ['rollout', 'status'], ['agent', 'list'], ['agent', 'show'], ['token', 'list'], ['status']];
    const agentCommands = [['join'], ['config', 'check'], ['history']];
    const helps = await mapLimit([...ferryCommands.map((a) => () => runFerry(home, [...a, '--help'])), ...agentCommands.map((a) => () => runAgentCli(web.stateDir, [...a, '--help']))], 4, (call) => call());
    for (const [i, args] of ferryCommands.entries()) {
      const help = helps[i]!.stdout;
      expect(help, args.join(' ')).toContain('Examples:');
      expect(help).toContain(`ferry ${args.join(' ')}`);
      const own = help.indexOf('\nOptions:');
      const global = help.indexOf('\nGlobal options:');
      expect(global).toBeGreaterThan(0);
      if (own >= 0) expect(own).toBeLessThan(global);
    }
    for (const [i, args] of agentCommands.entries()) {
      const help = helps[ferryCommands.length + i]!.stdout;
      expect(help, `ferry-agent ${args.join(' ')}`).toContain('Examples:');
      const own = help.indexOf('\nOptions:');
      const global = help.indexOf('\nGlobal options:');
      expect(global).toBeGreaterThan(0);
      if (args[0] !== 'config') expect(own).toBeGreaterThan(0); // config check has a positional only
      if (own >= 0) expect(own).toBeLessThan(global);
    }
  });

  it('every command of both programs has Examples in its --help (read from the man pages, which npm run cli-reference regenerates from the --help texts)', () => {
    for (const program of ['ferry', 'ferry-agent']) {
      const page = readFileSync(join(REPO_ROOT, 'packaging', 'man', `${program}.1`), 'utf8');
      const sections = page.split('\n.SS ').slice(1);
      expect(sections.length, program).toBeGreaterThan(10);
      const without = sections.filter((s) => !s.includes('\nExamples:')).map((s) => s.split('\n')[0]);
      expect(without, `${program}: commands whose --help has no Examples`).toEqual([]);
    }
  });

  it('tables: plain aligned text into a pipe, --no-headers, cut to COLUMNS, -o wide uncut', async () => {
    const [plainRun, bareRun, narrowRun, wideRun] = await Promise.all([
      runFerry(home, ['agent', 'list']),
      runFerry(home, ['agent', 'list', '--no-headers']),
      runFerry(home, ['agent', 'list'], { env: { COLUMNS: '70' } }),
      runFerry(home, ['agent', 'list', '-o', 'wide'], { env: { COLUMNS: '70' } }),
    ]);
    const plain = plainRun.stdout;
    expect(plain).not.toMatch(/[│─┌└]/);
    expect(plain).not.toContain('\x1b');
    const lines = plain.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^AGENT\s{2,}HOSTNAME\s{2,}ONLINE/);
    expect(lines).toHaveLength(4);
    // Aligned: HOSTNAME starts at the same column on every line.
    const col = lines[0]!.indexOf('HOSTNAME');
    for (const l of lines.slice(1)) expect(l.slice(col)).toMatch(/^(web-1|twin)\s/);

    const bare = bareRun.stdout.trimEnd().split('\n');
    expect(bare).toHaveLength(3);
    expect(bare.join('\n')).not.toContain('HOSTNAME');

    const narrow = narrowRun.stdout.trimEnd().split('\n');
    expect(narrow).toHaveLength(4); // never wrapped
    for (const l of narrow) expect([...l].length).toBeLessThanOrEqual(70);
    expect(narrow.join('\n')).toContain('…');

    const wide = wideRun.stdout;
    expect(wide).toContain('role=a-rather-long-role-name-that-makes-the-tags-column-wide');
    expect(wide).not.toContain('…');
  });

  it('-o json is --json, -o yaml is the same document as YAML, plural and singular nouns agree', async () => {
    // lastSeen moves with every heartbeat: compare the documents without it.
    const steady = (text: string) => text.replace(/"lastSeen": "[^"]*"/g, '"lastSeen": "…"');
    const [jsonRun, oJson, plural, yamlRun, missing, agentJsonRun, agentOJson, agentYaml, agentVersion, agentFails, badFormat] = await mapLimit(
      [
        () => runFerry(home, ['agent', 'list', '--json']),
        () => runFerry(home, ['agent', 'list', '-o', 'json']),
        () => runFerry(home, ['agents', 'list', '--json']),
        () => runFerry(home, ['agent', 'list', '-o', 'yaml']),
        () => runFerry(home, ['agent', 'show', 'nope', '-o', 'yaml'], { allowFail: true }),
        () => runAgentCli(web.stateDir, ['status', '--json']),
        () => runAgentCli(web.stateDir, ['status', '-o', 'json']),
        () => runAgentCli(web.stateDir, ['status', '-o', 'yaml']),
        () => runAgentCli(web.stateDir, ['--version', '-o', 'json']),
        () => runAgentCli(web.stateDir, ['rollback', 'nosuchpkg', '-o', 'yaml'], { allowFail: true }),
        () => runAgentCli(web.stateDir, ['run', '-o', 'xml'], { allowFail: true }),
      ],
      4,
      (call) => call(),
    );
    const json = jsonRun!.stdout;
    expect(steady(oJson!.stdout)).toBe(steady(json));
    expect(steady(plural!.stdout)).toBe(steady(json));
    const yaml = yamlRun!.stdout;
    const docs = JSON.parse(json) as { id: string; hostname: string }[];
    for (const d of docs) expect(yaml).toContain(`- id: ${d.id}\n  hostname: ${d.hostname}\n`);
    expect(yaml).toContain('  online: true');
    // A failure with -o yaml is a YAML document too, and still one line on stderr.
    expect(missing!.code).toBe(3);
    expect(missing!.stdout).toContain('error:\n  code: FERRY_NOT_FOUND');

    // ferry-agent takes -o too: the same document as --json, or as YAML; a failure likewise.
    const agentJson = agentJsonRun!.json<{ agentId: string }>();
    expect(agentJson.agentId).toBe(web.id);
    expect(agentOJson!.json<{ agentId: string }>().agentId).toBe(web.id);
    expect(agentYaml!.stdout).toContain(`agentId: ${web.id}\n`);
    expect(agentVersion!.json<{ version: string }>().version).toBe(VERSION);
    expect(agentFails!.code).not.toBe(0);
    expect(agentFails!.stdout).toMatch(/^error:\n  code: FERRY_/);
    expect([badFormat!.code, badFormat!.stderr.trim()]).toEqual([2, expect.stringMatching(/^FERRY_USAGE: -o xml: choose one of json, yaml, wide/)]);
  });

  it('ferry server --json: its ready line is one JSON document', async () => {
    const other = await initServer({ args: ['--json'] });
    try {
      const line = other.logs().split('\n').find((l) => l.startsWith('{"ready"'));
      expect(JSON.parse(line!)).toEqual({ ready: true, nats: other.url, metrics: null, console: null, sites: null });
      expect(other.logs()).not.toContain('ferry server ready —');
    } finally {
      await other.stop();
    }
  });

  it('flags that would contradict each other are refused before anything is asked: schedule --ics --json, review --json --out', async () => {
    const out = join(tempDir('ferry-review-'), 'r.md');
    const [ics, review] = await Promise.all([runFerry(home, ['schedule', '--ics', '--json'], { allowFail: true }), runFerry(home, ['rollout', 'review', 'r-none', '--json', '--out', out], { allowFail: true })]);
    expect([ics.code, ics.stderr.trim()]).toEqual([2, 'FERRY_USAGE: --ics prints an iCalendar file and --json a JSON document: choose one']);
    expect(ics.json<{ error: { code: string } }>().error.code).toBe('FERRY_USAGE');
    expect([review.code, review.stderr.trim()]).toEqual([2, 'FERRY_USAGE: --out writes the Markdown and --json prints the review as JSON: choose one']);
    expect(existsSync(out)).toBe(false);
  });

  it('colour only on a terminal, and NO_COLOR wins', () => {
    const tty = underTty(home, ['agent', 'list']);
    expect(tty).toContain('\x1b[1mAGENT');
    expect(tty).toContain('\x1b[32myes');
    const noColor = underTty(home, ['agent', 'list'], { NO_COLOR: '1' });
    expect(noColor).toContain('AGENT');
    expect(noColor).not.toContain('\x1b[');
  });

  it('agent show ID|HOSTNAME: one host with its agent id; a shared hostname is refused with the ids', async () => {
    const [byNameRun, byId, amb, cmdb, twinById] = await mapLimit(
      [
        () => runFerry(home, ['agent', 'show', 'web-1']),
        () => runFerry(home, ['agents', 'show', web.id, '--json']),
        () => runFerry(home, ['agent', 'show', 'twin'], { allowFail: true }),
        // cmdb show is the same lookup: it no longer picks one silently.
        () => runFerry(home, ['cmdb', 'show', 'twin', '--json'], { allowFail: true }),
        // either twin by its id is fine
        () => runFerry(home, ['agent', 'show', twins[1]!.id, '--json']),
      ],
      4,
      (call) => call(),
    );
    const byName = byNameRun!.stdout;
    expect(byName.split('\n')[0]).toContain(`web-1 (${web.id})`);
    expect(byId!.json<{ id: string }>().id).toBe(web.id);

    expect(amb!.code).toBe(2);
    expect(amb!.stderr.trim().split('\n')).toHaveLength(1);
    expect(amb!.stderr).toMatch(/^FERRY_AMBIGUOUS: hostname "twin" names 2 active agents: /);
    for (const t of twins) expect(amb!.stderr).toContain(t.id);
    expect([cmdb!.code, cmdb!.json<{ error: { code: string } }>().error.code]).toEqual([2, 'FERRY_AMBIGUOUS']);
    expect(twinById!.json<{ hostname: string }>().hostname).toBe('twin');
  });

  it('ferry status: hosts online/offline and the open rollouts with their next event', async () => {
    const s = fleetStatusReplySchema.parse((await runFerry(home, ['status', '--json'])).json());
    expect(s.hosts).toMatchObject({ total: 3, online: 1, offline: 2 });
    expect(s.offline.map((o) => o.hostname).sort()).toEqual(['twin', 'twin']);

    const waiting = (await runFerry(home, ['rollout', 'start', 'ok-1', '--target', 'hostname=web-1', '--start-at', '+2h', '--json'])).json<{ id: string }>().id;
    const after = fleetStatusReplySchema.parse((await runFerry(home, ['status', '--json'])).json());
    const open = after.rollouts.find((r) => r.id === waiting);
    expect(open?.state).toBe('waiting');
    expect(open?.next?.event).toBe('wave 1 starts');
    expect(Date.parse(open!.next!.at!)).toBeGreaterThan(Date.now() + 3600_000);

    const text = (await runFerry(home, ['status'], { env: { COLUMNS: '200' } })).stdout;
    expect(text).toContain('Hosts: 3 — 1 online, 2 offline, 0 failing, 0 drifted');
    expect(text).toContain('offline: twin, twin');
    expect(text).toMatch(new RegExp(`${waiting}\\s+ok-1\\s+waiting\\s+1\\s.*wave 1 starts\\s+in 1h5\\dm`));
    await runFerry(home, ['rollout', 'abort', waiting]);
  });

  it('rollout status --watch --json / --wait --json: exactly one document, the final status; exit 0 when it completed', async () => {
    const id = (await runFerry(home, ['rollout', 'start', 'ok-1', '--target', 'hostname=web-1', '--json'])).json<{ id: string }>().id;
    for (const follow of ['--watch', '--wait']) {
      const r = await runFerry(home, ['rollout', 'status', id, follow, '--json', '--interval', '200ms']);
      const doc = r.json<{ id: string; state: string; hosts: { state: string }[] }>(); // one document: JSON.parse of all of stdout
      expect([doc.id, doc.state, doc.hosts.map((h) => h.state)]).toEqual([id, 'completed', ['succeeded']]);
    }
    // --wait without an id waits for the newest; plain text prints the final status once.
    const plain = await runFerry(home, ['rollout', 'status', '--wait']);
    expect(plain.stdout).toContain(`Rollout ${id}: ok-1`);
    expect(plain.stdout.match(/COMPLETED/g)).toHaveLength(1);
  });

  it('rollout status --timeout: needs --wait or --watch; a rollout still running when it runs out is FERRY_TIMEOUT', async () => {
    const alone = await runFerry(home, ['rollout', 'status', '--timeout', '5s'], { allowFail: true });
    expect([alone.code, alone.stderr.trim()]).toEqual([2, expect.stringContaining('FERRY_USAGE: --timeout is how long --wait waits')]);
    // (a release web-1 does not have yet: one it has would be skipped, and the rollout complete at once)
    const waiting = (await runFerry(home, ['rollout', 'start', 'later-1', '--target', 'hostname=web-1', '--start-at', '+2h', '--json'])).json<{ id: string }>().id;
    try {
      for (const follow of ['--watch', '--wait']) {
        const r = await runFerry(home, ['rollout', 'status', waiting, follow, '--timeout', '1s', '--interval', '200ms', '--json'], { allowFail: true });
        expect(r.code).toBe(5);
        expect(r.json<{ error: { code: string } }>().error.code).toBe('FERRY_TIMEOUT');
        expect(r.stderr).toContain(`FERRY_TIMEOUT: rollout ${waiting} is still waiting`);
      }
    } finally {
      await runFerry(home, ['rollout', 'abort', waiting]);
    }
  });

  it('rollout status --watch exits non-zero (6) when the rollout ends other than completed', async () => {
    const id = (await runFerry(home, ['rollout', 'start', 'bad-1', '--target', 'hostname=web-1', '--json'])).json<{ id: string }>().id;
    const r = await runFerry(home, ['rollout', 'status', id, '--watch', '--interval', '200ms'], { allowFail: true });
    expect(r.code).toBe(6);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`FERRY_ROLLOUT_FAILED: rollout ${id} ended halted`);
    expect(r.stdout).toContain(`Rollout ${id}: bad-1`);
    expect(r.stdout).toContain('HALTED');

    // With --json: one document, the final status with the error in it (--watch and --wait alike).
    for (const follow of ['--watch', '--wait']) {
      const j = await runFerry(home, ['rollout', 'status', id, follow, '--json'], { allowFail: true });
      expect(j.code).toBe(6);
      const doc = j.json<{ id: string; state: string; error: { code: string } }>();
      expect([doc.id, doc.state, doc.error.code]).toEqual([id, 'halted', 'FERRY_ROLLOUT_FAILED']);
    }

    // The failing host now shows in ferry status.
    const s = fleetStatusReplySchema.parse((await runFerry(home, ['status', '--json'])).json());
    expect(s.hosts.failing, JSON.stringify((await runFerry(home, ['agent', 'show', web.id, '--json'])).json().history)).toBe(1);
    expect(s.failing[0]).toMatchObject({ id: web.id, hostname: 'web-1' });
  });

  it('rollout retry sends a halted rollout again to its failed hosts; start-now skips --start-at', async () => {
    const started = await runFerry(home, ['rollout', 'start', 'flaky-1', '--target', 'hostname=web-1', '--wait', '--json'], { allowFail: true });
    expect(started.code).toBe(6);
    const id = started.json<{ id: string; state: string }>().id;
    writeFileSync(join(web.installRoot, '.pass'), '');
    const retried = (await runFerry(home, ['rollout', 'retry', id, '--json'])).json<{ state: string }>();
    expect(retried.state).toMatch(/running|completed/);
    const watched = await runFerry(home, ['rollout', 'status', id, '--watch', '--json', '--interval', '200ms'], { timeoutMs: 30_000 });
    const last = watched.json<{ state: string; hosts: { state: string }[] }>();
    expect(last.state).toBe('completed');
    expect(last.hosts.map((h) => h.state)).toEqual(['succeeded']);
    // Nothing left to retry: a completed rollout refuses, exit 4, one line.
    const again = await runFerry(home, ['rollout', 'retry', id], { allowFail: true });
    expect([again.code, again.stderr.trim().split('\n').length]).toEqual([4, 1]);
    expect(again.stderr).toContain(`FERRY_CONFLICT: cannot retry rollout ${id}: it is completed`);

    const later = (await runFerry(home, ['rollout', 'start', 'soon-1', '--target', 'hostname=web-1', '--start-at', '+3h', '--json'])).json<{ id: string; state: string }>();
    expect(later.state).toBe('waiting');
    await runFerry(home, ['rollout', 'start-now', later.id]);
    const done = await runFerry(home, ['rollout', 'status', later.id, '--watch', '--json', '--interval', '200ms']);
    expect(done.json<{ state: string }>().state).toBe('completed');
    // Audited: who started it early.
    const audit = (await runFerry(home, ['audit', '--action', 'rollout.action', '--json'])).json<{ args: { action: string; id: string } }[]>();
    expect(audit.some((e) => e.args.action === 'start-now' && e.args.id === later.id)).toBe(true);
    const twice = await runFerry(home, ['rollout', 'start-now', later.id], { allowFail: true });
    expect(twice.code).toBe(4);
  });

  it('rollout start --wait on a terminal shows a progress bar (cli-progress), drawn in place and cleared at the end', async () => {
    const out = underTty(home, ['rollout', 'start', 'ok-1', '--target', 'hostname=web-1', '--wait', '--supersede']);
    // web-1 has ok-1 already: skipped, which is done and not a failure (none "failed").
    expect(out).toMatch(/\x1b\[1G█{24} 1\/1 hosts · completed/);
    expect(out).not.toMatch(/hosts, \d+ failed/);
    expect(out).toMatch(/\x1b\[2K[^█]*COMPLETED/); // the bar's line cleared before the result
    // Into a pipe: no progress bar at all.
    const piped = await runFerry(home, ['rollout', 'start', 'ok-1', '--target', 'hostname=web-1', '--wait', '--supersede']);
    expect(piped.stdout + piped.stderr).not.toContain('█');
    expect(piped.stdout + piped.stderr).not.toContain('\x1b[');
  });

  it('rollout status --watch on a terminal redraws in place, with countdowns', async () => {
    const id = (await runFerry(home, ['rollout', 'start', 'later-1', '--target', 'hostname=web-1', '--start-at', '+2h', '--json'])).json<{ id: string }>().id;
    // Followed until a frame has been drawn over the last (the rollout waits two hours, so the
    // watch never ends by itself).
    const out = await followUnderTty(home, ['rollout', 'status', id, '--watch', '--interval', '300ms'], (o) => /\x1b\[\d+F\x1b\[J/.test(o));
    await runFerry(home, ['rollout', 'abort', id]);
    expect(out).toContain(`Rollout ${id}: later-1`);
    expect(out).toMatch(/starts in 1h5\dm/);
    const redraws = out.match(/\x1b\[\d+F\x1b\[J/g) ?? [];
    expect(redraws.length).toBeGreaterThanOrEqual(1);
    expect(out).not.toContain('\x1b[2J'); // never a full-screen clear
  });
});
