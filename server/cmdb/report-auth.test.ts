// The checks of an agent's signed reports, pure (no NATS, no SQLite): real keys, real signatures.
import { headers, type MsgHdrs } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { createNativeUser, nativeKeyPair } from '../../shared/nats/nkey-auth.js';
import { REPORT_COUNTER_HEADER, REPORT_SIG_HEADER, nextReportCounter, parseReportCounter, reportTranscript, type ReportKind } from '../../shared/protocol/report-signature.js';
import { malleate } from '../../test/helpers/hostile.js';
import { RECENT_COUNTERS, ReportVerifier, admitCounter } from './report-auth.js';

const agent = createNativeUser();
const other = createNativeUser();
const payload = new TextEncoder().encode('{"agent":"a-1","ts":1}');

function signed(counter: number, o: { seed?: string; agentId?: string; kind?: ReportKind; body?: Uint8Array; sig?: (s: string) => string; counterText?: string } = {}): MsgHdrs {
  const sig = Buffer.from(nativeKeyPair(o.seed ?? agent.seed).sign(reportTranscript(o.agentId ?? 'a-1', o.kind ?? 'status', counter, o.body ?? payload))).toString('base64');
  const h = headers();
  h.set(REPORT_COUNTER_HEADER, o.counterText ?? String(counter));
  h.set(REPORT_SIG_HEADER, (o.sig ?? ((s) => s))(sig));
  return h;
}

describe('report signatures (server/cmdb/report-auth.ts)', () => {
  const verifier = new ReportVerifier();
  const legacy = { nkey: agent.publicKey, recent: null };
  const signing = { nkey: agent.publicKey, recent: [100, 200] };

  it("an agent that never signed: its unsigned report counts as before; its first signed one switches it to signed", () => {
    expect(verifier.check('a-1', 'status', payload, undefined, legacy)).toEqual({ ok: true, signed: false });
    expect(verifier.check('a-1', 'status', payload, headers(), legacy)).toEqual({ ok: true, signed: false });
    expect(verifier.check('a-1', 'status', payload, signed(5), legacy)).toEqual({ ok: true, signed: true, newest: true, recent: [5] });
  });

  it('an agent that signs: an unsigned report is refused', () => {
    expect(verifier.check('a-1', 'status', payload, undefined, signing)).toEqual({ ok: false, reason: 'unsigned' });
  });

  it.each<[string, () => MsgHdrs]>([
    ["another agent's key", () => signed(300, { seed: other.seed })],
    ['signed for another agent id', () => signed(300, { agentId: 'a-2' })],
    ['signed for the other kind of report', () => signed(300, { kind: 'inventory' })],
    ['signed over other bytes', () => signed(300, { body: new TextEncoder().encode('{"agent":"a-1","ts":2}') })],
    ['a counter changed after signing', () => signed(300, { counterText: '301' })],
    ['a counter with a leading zero', () => signed(300, { counterText: '0300' })],
    ['a counter beyond a safe integer', () => signed(300, { counterText: '9007199254740993' })],
    ['a malleated signature (S + L)', () => signed(300, { sig: malleate })],
    ['a truncated signature', () => signed(300, { sig: (s) => s.slice(0, 40) })],
    ['a signature that is not base64', () => signed(300, { sig: (s) => `!${s.slice(1)}` })],
    ['a signature without its counter', () => {
      const h = signed(300);
      h.delete(REPORT_COUNTER_HEADER);
      return h;
    }],
    ['a counter without a signature', () => {
      const h = signed(300);
      h.delete(REPORT_SIG_HEADER);
      return h;
    }],
  ])('%s → refused (bad-signature), also for an agent that never signed', (_label, make) => {
    expect(verifier.check('a-1', 'status', payload, make(), signing)).toEqual({ ok: false, reason: 'bad-signature' });
    expect(verifier.check('a-1', 'status', payload, make(), legacy)).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('a key in the CMDB that is not a user nkey verifies nothing', () => {
    expect(verifier.check('a-1', 'status', payload, signed(300), { nkey: 'UNKEY', recent: null })).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('a replay: the same counter again is a duplicate; a newer one is newest; a late one within the kept counters is applied once, not as newest', () => {
    expect(verifier.check('a-1', 'status', payload, signed(200), signing)).toEqual({ ok: false, reason: 'duplicate' });
    expect(verifier.check('a-1', 'status', payload, signed(300), signing)).toEqual({ ok: true, signed: true, newest: true, recent: [100, 200, 300] });
    expect(verifier.check('a-1', 'status', payload, signed(150), signing)).toEqual({ ok: true, signed: true, newest: false, recent: [100, 150, 200] });
  });

  it(`only the last ${RECENT_COUNTERS} counters are kept: below them, a report is refused as stale`, () => {
    let recent: number[] = [];
    for (let c = 1; c <= RECENT_COUNTERS + 10; c++) {
      const v = admitCounter(recent, c * 10);
      if (!v.ok || !v.signed) throw new Error('refused');
      recent = v.recent;
    }
    expect(recent).toHaveLength(RECENT_COUNTERS);
    expect(recent[0]).toBe(110);
    expect(admitCounter(recent, 105)).toEqual({ ok: false, reason: 'stale' });
    expect(admitCounter(recent, 50)).toEqual({ ok: false, reason: 'stale' });
    expect(admitCounter(recent, 110)).toEqual({ ok: false, reason: 'duplicate' });
    // between two kept ones, never applied: applied once; the lowest kept one then drops out
    const late = admitCounter(recent, 115);
    expect(late).toMatchObject({ ok: true, newest: false });
    if (late.ok && late.signed) {
      expect(late.recent).toHaveLength(RECENT_COUNTERS);
      expect(late.recent[0]).toBe(115);
      expect(admitCounter(late.recent, 110)).toEqual({ ok: false, reason: 'stale' });
    }
  });

  it("the agent's counters only go up: past the last one even when the clock goes back", () => {
    expect(nextReportCounter(0, 1_700_000_000_000)).toBe(1_700_000_000_000_000);
    expect(nextReportCounter(1_700_000_000_000_000, 1_600_000_000_000)).toBe(1_700_000_000_000_001);
    expect(parseReportCounter(String(nextReportCounter(0)))).toBeGreaterThan(0);
    expect([undefined, '', '0', '-1', '1.5', '1e3', ' 1'].map(parseReportCounter)).toEqual(Array(7).fill(undefined));
  });
});
