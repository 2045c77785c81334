// `ferry backup` is audited with its outcome, written after the backup ran: a backup that was
// written is recorded ok with its file, size and the SHA-256 of its manifest; one that failed is
// recorded as an error, never as ok. Requires the compiled dist/ (`npm run build`) and
// nats-server on PATH.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupFleet, initServer, runFerry, tempDir, type ServerHandle } from '../helpers/fleet.js';

afterAll(cleanupFleet, 60_000);

interface AuditEntry {
  id: number;
  actor: string;
  action: string;
  args: Record<string, unknown>;
  result: string;
  error: string | null;
}

let server: ServerHandle;
const backupRecords = async () => (await runFerry(server.home, ['audit', '--action', 'backup.record', '--json'])).json<AuditEntry[]>();

/** The bytes of manifest.json in a backup archive. */
function manifestOf(file: string): Buffer {
  let manifest: Buffer | undefined;
  const parser = new Parser({ strict: true });
  parser.on('entry', (e: ReadEntry) => {
    const chunks: Buffer[] = [];
    e.on('data', (c: Buffer) => chunks.push(c));
    e.on('end', () => {
      if (e.path === 'manifest.json') manifest = Buffer.concat(chunks);
    });
  });
  parser.end(gunzipSync(readFileSync(file)));
  if (!manifest) throw new Error(`no manifest.json in ${file}`);
  return manifest;
}

beforeAll(async () => {
  server = await initServer();
}, 120_000);

describe('ferry backup: the audit record says how it ended', () => {
  it('a written backup is recorded once, ok, with its file and manifest hash', async () => {
    const out = join(tempDir('ferry-backup-audit-'), 'b.tgz');
    await runFerry(server.home, ['backup', out]);
    const records = await backupRecords();
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ actor: 'admin', result: 'ok', error: null, args: { out, result: 'ok', file: out } });
    expect(records[0]!.args.manifestSha256).toBe(createHash('sha256').update(manifestOf(out)).digest('hex'));
    expect(records[0]!.args.bytes).toBe(readFileSync(out).length);
  }, 120_000);

  it('a failed backup is recorded as failed, not ok', async () => {
    const blocker = join(tempDir('ferry-backup-audit-'), 'a-file');
    writeFileSync(blocker, 'not a directory\n');
    const out = join(blocker, 'b.tgz'); // its folder cannot be made: the backup fails
    const r = await runFerry(server.home, ['backup', out], { allowFail: true });
    expect(r.code).not.toBe(0);
    const records = (await backupRecords()).filter((e) => e.args.out === out);
    expect(records.map((e) => [e.result, e.args.result])).toEqual([['error', 'failed']]);
    expect(records[0]!.error).toMatch(/^FERRY_[A-Z_]+: the backup to .*b\.tgz failed: /);
  }, 120_000);
});
