// Hook output in the agent's own log: a failing rollback hook (or a soak health check) that prints
// a secret must not put it in the log lines, just as it is redacted in the journal and the report
// (shared/redact.ts). Real journal, real .ferry packages and hooks, a recording pino logger.
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildPackage } from '../../shared/package/mod.js';
import type { DmlRecord } from '../../shared/protocol/messages.js';
import { Journal } from './journal.js';
import { readCurrent } from './layout.js';
import { InstallMachine, type ProgressReport } from './machine.js';
import { watchSoak } from './release-undo.js';

const SECRET = 'hunter2';
/** Prints a secret the way a careless script does, then fails. */
const LEAKY = `#!/bin/sh\necho "connecting with DB_PASSWORD=${SECRET}"\necho "mysql --password ${SECRET} failed" >&2\nexit 1\n`;

let dir: string;
let journal: Journal;
let lines: string[];
let reports: ProgressReport[];
const built = new Map<string, string>();
const records = new Map<string, DmlRecord>();
const root = () => join(dir, 'apps');
const log = () => pino({ level: 'debug' }, { write: (s: string) => lines.push(s) });

function machine(): InstallMachine {
  return new InstallMachine({
    journal,
    installRoot: root(),
    downloadDir: join(dir, 'staging'),
    fetch: async (record, dest) => copyFileSync(built.get(record.version)!, dest),
    report: (r) => reports.push(r),
    log: log(),
    keepVersions: 3,
    host: { os: process.platform, arch: process.arch },
  });
}

/** web@version; `hooks` maps a hook name to its script. */
async function buildWeb(version: string, hooks: Record<string, string>, extra: Record<string, unknown> = {}): Promise<DmlRecord> {
  const src = join(dir, `src-${version}`);
  mkdirSync(join(src, 'hooks'), { recursive: true });
  writeFileSync(join(src, 'ferry.json'), JSON.stringify({ name: 'web', version, hooks: Object.fromEntries(Object.keys(hooks).map((h) => [h, `hooks/${h}`])), hookTimeoutSeconds: 10, ...extra }));
  writeFileSync(join(src, 'index.html'), `web ${version}\n`);
  for (const [name, script] of Object.entries(hooks)) {
    writeFileSync(join(src, 'hooks', name), script);
    chmodSync(join(src, 'hooks', name), 0o755);
  }
  const r = await buildPackage(src, join(dir, `web-${version}.ferry`));
  built.set(version, r.file);
  const record = { name: 'web', version, sha256: r.sha256, size: r.size, object: `web@${version}`, signedAt: new Date().toISOString() };
  records.set(version, record);
  return record;
}

/** Something was logged, and no line of it holds the secret. */
function expectNoSecret(): void {
  expect(lines.length).toBeGreaterThan(0);
  for (const l of lines) expect(l).not.toContain(SECRET);
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-hooklog-'));
  journal = new Journal(join(dir, 'journal.db'));
  lines = [];
  reports = [];
  await buildWeb('1.0.0', {});
  expect(await machine().install({ operation: 'r-1', record: records.get('1.0.0')!, allowDowngrade: false })).toBe('done');
});

afterEach(() => {
  journal.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('hook output in the agent log is redacted', () => {
  it('a failing rollback hook of a version being left (revert)', async () => {
    await buildWeb('2.0.0', { rollback: LEAKY });
    expect(await machine().install({ operation: 'r-2', record: records.get('2.0.0')!, allowDowngrade: false })).toBe('done');
    lines = [];
    const r = await machine().revertPackage('local-1', 'web');
    expect(r.outcome).toBe('rolled-back');
    expect(readCurrent(root(), 'web')).toBe('1.0.0');
    const failed = lines.filter((l) => l.includes('rollback hook failed'));
    expect(failed).toHaveLength(1);
    expect(failed[0]).toContain('DB_PASSWORD=[redacted]'); // the output is still there, less the secret
    expectNoSecret();
    expect(JSON.stringify(reports)).not.toContain(SECRET);
  });

  it('a failing rollback hook after a failed install', async () => {
    await buildWeb('2.0.0', { postinstall: LEAKY, rollback: LEAKY });
    expect(await machine().install({ operation: 'r-2', record: records.get('2.0.0')!, allowDowngrade: false })).toBe('rolled-back');
    expect(readCurrent(root(), 'web')).toBe('1.0.0');
    expect(lines.filter((l) => l.includes('rollback hook failed'))).toHaveLength(1);
    expectNoSecret();
    expect(JSON.stringify(reports)).not.toContain(SECRET);
  });

  it('a health check that fails during the soak (the reason logged and reported)', async () => {
    // Healthy at install; sick once the marker file exists.
    const check = `#!/bin/sh\nif [ -f "$FERRY_ROOT/sick" ]; then echo "DB_PASSWORD=${SECRET}"; exit 1; fi\nexit 0\n`;
    await buildWeb('2.0.0', { healthcheck: check }, { healthcheck: { retries: 1, intervalSeconds: 1 } });
    const m = machine();
    expect(await m.install({ operation: 'r-2', record: records.get('2.0.0')!, allowDowngrade: false, watchMs: 600_000 })).toBe('done');
    writeFileSync(join(root(), 'sick'), '');
    lines = [];
    const results = await watchSoak(journal, m, root(), log());
    expect(results.map((r) => r.outcome)).toEqual(['rolled-back']);
    expect(readCurrent(root(), 'web')).toBe('1.0.0');
    expect(lines.some((l) => l.includes('rolling back an unhealthy package'))).toBe(true);
    expectNoSecret();
    expect(results[0]!.report.error).toContain('DB_PASSWORD=[redacted]');
  });
});
