// `ferry-agent` prints text it did not write: a server's error (an impostor's, at join), a failing
// hook's last output line kept in the journal (status, history), a path from a package's
// manifest (verify). None of it may reach the terminal as control bytes. Real agent processes,
// a real (bare) nats-server playing the impostor, a real journal.
import { connect } from '@nats-io/transport-node';
import { encodeUser } from '@nats-io/jwt';
import { createAccount, createUser } from '@nats-io/nkeys';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Journal } from '../../agent/install/journal.js';
import type { Manifest } from '../../shared/package/mod.js';
import { subjects } from '../../shared/protocol/subjects.js';
import { encodeToken } from '../../shared/protocol/token.js';
import { cleanupFleet, runAgentCli, tempDir } from '../helpers/fleet.js';
import { startTestNats } from '../helpers/nats.js';

/** Sets the terminal's title, clears the screen, moves the cursor; CSI as a C1 byte; a bidi override. */
const HOSTILE = '\u001b]0;pwned\u0007\u001b[2J\u001b[1A\u009b31m\u202e';
const SHOWN = '\\x1b]0;pwned\\x07\\x1b[2J\\x1b[1A\\x9b31m\\u202e';
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await cleanupFleet();
}, 60_000);

describe('ferry-agent shows untrusted text escaped', () => {
  it("an impostor server's hostile join error: one escaped line on stderr; --json keeps it as JSON", async () => {
    const impostor = await startTestNats();
    cleanups.push(() => impostor.stop());
    const nc = await connect({ servers: impostor.url });
    cleanups.push(() => nc.close());
    nc.subscribe(subjects.enrollChallenge, {
      callback: (_e, m) => {
        m.respond(JSON.stringify({ ok: false, error: { code: 'FERRY_X', message: HOSTILE, hint: `rerun\r\n${HOSTILE}` } }));
      },
    });
    await nc.flush();
    // A well-formed token for the impostor: a bare nats-server takes any credential.
    const user = createUser();
    const token = encodeToken({ i: '0123456789ab', s: 'a'.repeat(32), f: 'f'.repeat(64), j: await encodeUser('enroll-0123456789ab', user, createAccount(), {}), k: new TextDecoder().decode(user.getSeed()), u: impostor.url });

    const stateDir = tempDir('ferry-agent-hostile-join-');
    const r = await runAgentCli(stateDir, ['join', '--token', token], { allowFail: true, env: { FERRY_HOSTNAME: 'victim' } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).not.toMatch(RAW_CONTROL);
    expect(r.stderr).toBe(`FERRY_X: ${SHOWN} — hint: rerun ${SHOWN}\n`);
    expect(readdirSync(stateDir)).toEqual([]);

    const j = await runAgentCli(stateDir, ['join', '--token', token, '--json'], { allowFail: true, env: { FERRY_HOSTNAME: 'victim' } });
    expect(j.code).not.toBe(0);
    expect(j.stdout).not.toMatch(RAW_CONTROL); // JSON escapes ESC, the printer C1 and bidi (\u009b, \u202e)…
    expect(j.json<{ error: { code: string; message: string } }>().error).toMatchObject({ code: 'FERRY_X', message: HOSTILE }); // …and the document keeps it exact
    expect(j.stderr).toBe(`FERRY_X: ${SHOWN} — hint: rerun ${SHOWN}\n`);
  }, 60_000);

  it("a failing hook's output in the journal, and a drifted path from a manifest, are escaped by status, history and verify", async () => {
    const stateDir = tempDir('ferry-agent-hostile-journal-');
    const installRoot = join(stateDir, 'apps');
    mkdirSync(installRoot, { recursive: true });
    writeFileSync(join(stateDir, 'identity.json'), JSON.stringify({ agentId: 'victim-1', serverUrl: 'nats://127.0.0.1:1', rootFingerprint: 'f'.repeat(64), installRoot, tags: {}, joinedAt: new Date().toISOString() }));
    // What an agent from before this check kept: a manifest path with ESC in it, installed; an
    // operation that failed with the last line a hook printed.
    const manifest = { formatVersion: 1, name: 'app', version: '1.0.0', hookTimeoutSeconds: 60, files: [{ path: `bin/${HOSTILE}`, size: 1, mode: 0o644, sha256: '0'.repeat(64) }], createdAt: new Date().toISOString() } as Manifest;
    const journal = new Journal(join(stateDir, 'journal.db'));
    try {
      journal.setInstalled('app', '1.0.0', null, manifest);
      const op = journal.beginOperation({ operation: 'r-1', package: 'app', version: '1.0.0', fromVersion: null, kind: 'install', step: 'postinstall' });
      journal.saveStep(op, 'failed', `postinstall hook failed (exit 1): ${HOSTILE}\nforged line`);
    } finally {
      journal.close();
    }

    const status = await runAgentCli(stateDir, ['status']);
    expect(status.stdout).not.toMatch(RAW_CONTROL);
    expect(status.stdout).toContain(`(postinstall hook failed (exit 1): ${SHOWN}\\x0aforged line)`);

    const history = await runAgentCli(stateDir, ['history']);
    expect(history.stdout).not.toMatch(RAW_CONTROL);
    expect(history.stdout.split('\n')[1]).toBe(`    postinstall hook failed (exit 1): ${SHOWN}\\x0aforged line`);

    const verify = await runAgentCli(stateDir, ['verify'], { allowFail: true });
    expect(verify.code).toBe(1); // drift
    expect(verify.stdout).not.toMatch(RAW_CONTROL);
    expect(verify.stdout).toBe(`app@1.0.0: modified none; missing bin/${SHOWN}\n`);
    // --json: the document, with the path exact (written \u001b, \u009b, \u202e: nothing raw)
    const verifyJson = await runAgentCli(stateDir, ['verify', '--json'], { allowFail: true });
    expect(verifyJson.stdout).not.toMatch(RAW_CONTROL);
    expect(verifyJson.json<{ drift: { missing: string[] }[] }>().drift[0]!.missing).toEqual([`bin/${HOSTILE}`]);
  }, 60_000);
});
