// An API reply larger than NATS's max_payload (1 MiB here) reaches the CLI whole, in parts
// (shared/protocol/reply-parts.ts). Found measuring 10,000 simulated agents: `agents.list` of that
// fleet (~1.9 MB) made the server throw on its reply and exit. Here releases with long notes make
// `release list` ~1.4 MB, over the real embedded nats-server.
// Requires the compiled dist/ (`npx tsc -p .`) and nats-server on PATH.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishPackage } from '../helpers/faults.js';
import { apiRequest, cleanupFleet, initServer, runFerry, type ServerHandle } from '../helpers/fleet.js';

afterAll(cleanupFleet, 60_000);

const RELEASES = 90;
const note = (i: number) => `release ${i}: ${'n'.repeat(8000)}`;
const plan = (i: number) => `plan ${i}: ${'p'.repeat(8000)}`;

describe('replies larger than max_payload', () => {
  let server: ServerHandle;

  beforeAll(async () => {
    server = await initServer();
    await publishPackage(server.home, { name: 'big-reply', version: '1.0.0', files: { VERSION: '1\n' } });
    for (let i = 0; i < RELEASES; i++) {
      await apiRequest(server.home, 'release.create', { name: `rel-${i}`, packages: ['big-reply@1.0.0'], notes: note(i), rollbackPlan: plan(i) });
    }
  }, 180_000);

  it('release list --json returns every release whole, and the server keeps answering', async () => {
    const r = await runFerry(server.home, ['release', 'list', '--json']);
    expect(r.stdout.length).toBeGreaterThan(1024 * 1024);
    const list = r.json<{ name: string; notes: string; rollbackPlan: string }[]>();
    expect(list).toHaveLength(RELEASES);
    const byName = new Map(list.map((x) => [x.name, x]));
    for (let i = 0; i < RELEASES; i++) {
      expect(byName.get(`rel-${i}`)?.notes).toBe(note(i));
      expect(byName.get(`rel-${i}`)?.rollbackPlan).toBe(plan(i));
    }
    // The server is still up and answers a small request as one message.
    const status = await runFerry(server.home, ['release', 'show', 'rel-0', '--json']);
    expect(status.json<{ name: string }>().name).toBe('rel-0');
  }, 120_000);
});
