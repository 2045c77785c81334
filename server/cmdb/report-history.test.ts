// How a status report becomes history lines (report-history.ts), for reports of this agent version
// and of agents from before it: each report parsed by the wire schema first, as ingest does.
import { describe, expect, it } from 'vitest';
import { statusReportSchema, type StatusReport } from '../../shared/protocol/messages.js';
import { historyLines } from './report-history.js';

const AGENT = 'a-0123456789abcdef';
const wire = (r: Omit<StatusReport, 'agent' | 'ts' | 'installed'>): StatusReport => statusReportSchema.parse({ agent: AGENT, ts: 1, installed: {}, ...r });

describe('historyLines', () => {
  it('an install names the version it replaced; a first install none', () => {
    expect(historyLines(wire({ operation: 'r-1', state: 'succeeded', package: 'web', version: '1.2.0', previousVersion: '1.0.0', step: 'done' }))).toEqual([
      { kind: 'install', package: 'web', version: '1.2.0', fromVersion: '1.0.0', operation: 'r-1', result: 'succeeded' },
    ]);
    expect(historyLines(wire({ operation: 'r-1', state: 'succeeded', package: 'web', version: '1.0.0', step: 'done' }))).toEqual([
      { kind: 'install', package: 'web', version: '1.0.0', operation: 'r-1', result: 'succeeded' },
    ]);
  });

  it('a state that changed several packages: one line each, in order, its own package last with the output', () => {
    const r = wire({
      operation: 'r-2',
      state: 'succeeded',
      package: 'web',
      version: '2.0.0',
      previousVersion: '1.0.0',
      step: 'done',
      output: '# db@2.0.0\n[postinstall] exit 0\n',
      changed: [
        { package: 'db', version: '2.0.0', previousVersion: '1.0.0', step: 'done' },
        { package: 'cache', version: '1.0.0', step: 'done' },
        { package: 'old', version: '3.0.0', previousVersion: '3.0.0', step: 'remove' },
      ],
    });
    expect(historyLines(r).map((l) => [l.kind, l.package, l.version, l.fromVersion ?? null, l.result, l.output ?? null])).toEqual([
      ['install', 'db', '2.0.0', '1.0.0', 'succeeded', null],
      ['install', 'cache', '1.0.0', null, 'succeeded', null],
      ['remove', 'old', '3.0.0', '3.0.0', 'succeeded', null],
      ['install', 'web', '2.0.0', '1.0.0', 'succeeded', '# db@2.0.0\n[postinstall] exit 0\n'],
    ]);
  });

  it('a fleet rollback of several packages: every line a rollback', () => {
    const r = wire({ operation: 'r-2:rollback', state: 'succeeded', package: 'web', version: '1.0.0', previousVersion: '2.0.0', step: 'done', changed: [{ package: 'db', version: '1.0.0', previousVersion: '2.0.0', step: 'rollback' }] });
    expect(historyLines(r).map((l) => [l.kind, l.package, l.version, l.fromVersion, l.result])).toEqual([
      ['rollback', 'db', '1.0.0', '2.0.0', 'succeeded'],
      ['rollback', 'web', '1.0.0', '2.0.0', 'succeeded'],
    ]);
  });

  it("an operator's local rollback is a rollback that succeeded; one that failed, failed", () => {
    // The report every agent version sends for `ferry-agent rollback web` (the revert's final report).
    const done = wire({ operation: 'local-rollback-1767225600000', state: 'rolled-back', package: 'web', version: '1.0.0', previousVersion: '1.2.0', step: 'rollback' });
    expect(historyLines(done)).toEqual([{ kind: 'rollback', package: 'web', version: '1.0.0', fromVersion: '1.2.0', operation: 'local-rollback-1767225600000', result: 'succeeded' }]);
    const failed = wire({ operation: 'local-rollback-1767225600000', state: 'failed', package: 'web', version: '1.0.0', previousVersion: '1.2.0', step: 'rollback', error: 'FERRY_KEPT_VERSION_MODIFIED: …' });
    expect(historyLines(failed)[0]).toMatchObject({ kind: 'rollback', result: 'failed', detail: 'FERRY_KEPT_VERSION_MODIFIED: …' });
  });

  it('an install the agent switched back itself (hook or health check failed) stays an install, rolled-back', () => {
    const soak = wire({ operation: 'r-3', state: 'rolled-back', package: 'web', version: '1.0.0', previousVersion: '2.0.0', step: 'rollback', error: 'health check failed during soak: down' });
    expect(historyLines(soak)).toEqual([{ kind: 'install', package: 'web', version: '1.0.0', fromVersion: '2.0.0', operation: 'r-3', result: 'rolled-back', detail: 'health check failed during soak: down' }]);
  });

  it("an older agent's reports (no previousVersion on success, no `changed`) are read as before", () => {
    // An older agent's success report: no previousVersion, no changed (its last package only).
    expect(historyLines(wire({ operation: 'r-4', state: 'succeeded', package: 'web', version: '2.0.0', step: 'done' }))).toEqual([
      { kind: 'install', package: 'web', version: '2.0.0', operation: 'r-4', result: 'succeeded' },
    ]);
    expect(historyLines(wire({ operation: 'r-4', state: 'succeeded', package: 'web', version: '2.0.0', previousVersion: '2.0.0', step: 'remove' }))[0]).toMatchObject({ kind: 'remove' });
  });

  it('no lines for progress, a realigning :revert, or a report about the agent itself', () => {
    expect(historyLines(wire({ operation: 'r-5', state: 'installing', package: 'web', version: '2.0.0', step: 'postinstall' }))).toEqual([]);
    expect(historyLines(wire({ operation: 'r-5:revert', state: 'succeeded', package: 'web', version: '1.0.0', step: 'done' }))).toEqual([]);
    expect(historyLines(wire({ operation: 'decommission', state: 'succeeded', step: 'decommission' }))).toEqual([]);
  });

  it('the wire schema refuses a malformed change list', () => {
    const base = { agent: AGENT, ts: 1, installed: {}, operation: 'r-6', state: 'succeeded', package: 'web', version: '2.0.0', step: 'done' };
    expect(statusReportSchema.safeParse({ ...base, changed: [{ package: 'db', version: 'not-semver', step: 'done' }] }).success).toBe(false);
    expect(statusReportSchema.safeParse({ ...base, changed: [{ package: 'db', version: '1.0.0', step: 'done', extra: 1 }] }).success).toBe(false);
  });
});
