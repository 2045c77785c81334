// The CLIs when something around them fails, against a real server and a joined agent, through
// real CLI processes:
// - the reader of stdout is gone (`ferry agents list | true`): both CLIs end quietly, exit 141
//   (128 + SIGPIPE, what the shell reports for git or kubectl), no stack trace; the stdout here is
//   a pipe closed before the command writes (helpers/closed-pipe.ts); `logs --follow` is in
//   host-logs.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runIntoClosedPipe } from '../helpers/closed-pipe.js';
import { mapLimit } from '../helpers/faults.js';
import { cleanupFleet, initServer, joinAgent, type JoinedAgent, type ServerHandle } from '../helpers/fleet.js';

afterAll(cleanupFleet, 60_000);

describe('the CLIs when something around them fails', () => {
  let server: ServerHandle;
  let home: string;
  let agent: JoinedAgent;

  beforeAll(async () => {
    server = await initServer();
    home = server.home;
    agent = await joinAgent(home, 'pipe-1');
  }, 120_000);

  it('ferry into a closed pipe: a local command and server commands, tables, --json and -o yaml', async () => {
    const runs = await mapLimit([['operator', 'roles'], ['agents', 'list'], ['audit', '--json'], ['status'], ['operator', 'list', '-o', 'yaml']], 3, (args) => runIntoClosedPipe('ferry', args, { FERRY_HOME: home }));
    expect(runs.map((r) => [r.code, r.stderr])).toEqual(runs.map(() => [141, '']));
  });

  it('ferry-agent into a closed pipe: status, history --json and --version', async () => {
    const runs = await mapLimit([['status', '--state-dir', agent.stateDir], ['history', '--json', '--state-dir', agent.stateDir], ['--version']], 3, (args) => runIntoClosedPipe('ferry-agent', args));
    expect(runs.map((r) => [r.code, r.stderr])).toEqual(runs.map(() => [141, '']));
  });
});
