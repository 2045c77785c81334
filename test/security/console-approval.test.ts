// Four eyes counts only approvals whose signature verifies, against a real server: an approval
// made in the web console (a signed-in operator, no signed request) is sealed by the server and
// counts; a row written into release_approvals in the SQLite file carries no signature and does
// not count. Requires the compiled dist/ (`npm run build`) and nats-server on PATH.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataPaths } from '../../server/config.js';
import { buildPackage, cleanupFleet, initServer, runFerry, tempDir, type ServerHandle } from '../helpers/fleet.js';

afterAll(cleanupFleet, 60_000);

let server: ServerHandle;
let base: string;
let coraCreds: string;

interface ApprovalDoc {
  by: string;
  counts: boolean;
  signature: string;
  via?: string;
  reason?: string;
}

const ferry = (args: string[]) => runFerry(server.home, args);
const approvalsOf = async (release: string) => (await ferry(['release', 'show', release, '--json'])).json<{ approvals: ApprovalDoc[] }>().approvals;

beforeAll(async () => {
  server = await initServer({ args: ['--ui-listen', '127.0.0.1:0'] });
  base = /console (https?:\/\/\S+)/.exec(server.logs())![1]!;
  coraCreds = join(tempDir('ferry-console-approval-'), 'cora.creds');
  await ferry(['operator', 'add', 'cora', '--role', 'approver', '--out', coraCreds]);
  const file = await buildPackage({ name: 'sealed', version: '1.0.0', files: { 'bin/x': 'x\n' } });
  await ferry(['dml', 'add', file]);
  await ferry(['release', 'create', 'sealed-r1', '--package', 'sealed@1.0.0']);
}, 180_000);

describe('four eyes: console approvals and unsigned rows', () => {
  it('an approval made in the web console is sealed by the server and counts', async () => {
    const login = (await runFerry(server.home, ['ui', 'login', '--json', '--creds', coraCreds])).json<{ url: string }>();
    const signin = await fetch(login.url, { redirect: 'manual' });
    const cookie = signin.headers.get('set-cookie')!.split(';')[0]!;
    const page = await (await fetch(`${base}/releases/sealed-r1`, { headers: { cookie } })).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)![1]!;
    const res = await fetch(`${base}/actions/releases/sealed-r1/approve`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, origin: base, 'content-type': 'application/x-www-form-urlencoded' },
      body: `csrf=${encodeURIComponent(csrf)}`,
    });
    expect(res.status).toBe(303);
    expect(await approvalsOf('sealed-r1')).toEqual([expect.objectContaining({ by: 'cora', counts: true, signature: 'valid', via: 'console' })]);
  }, 120_000);

  it('a row written into release_approvals without a signature does not count', async () => {
    const db = new Database(dataPaths(server.home).db);
    try {
      db.prepare("INSERT INTO release_approvals (release, actor, ts, comment, auth, body) VALUES ('sealed-r1', 'mallory', ?, NULL, NULL, NULL)").run(Date.now());
      // a console seal copied onto another approver's row does not verify either
      db.prepare("INSERT INTO release_approvals (release, actor, ts, comment, auth, body) SELECT release, 'mel', ts, comment, auth, body FROM release_approvals WHERE actor = 'cora'").run();
    } finally {
      db.close();
    }
    const approvals = await approvalsOf('sealed-r1');
    expect(approvals.find((a) => a.by === 'mallory')).toMatchObject({ counts: false, signature: 'none', reason: expect.stringMatching(/no signature/) });
    expect(approvals.find((a) => a.by === 'mel')).toMatchObject({ counts: false, signature: 'invalid' });
    expect(approvals.find((a) => a.by === 'cora')).toMatchObject({ counts: true, signature: 'valid' });
  }, 120_000);
});
