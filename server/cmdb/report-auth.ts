// Whether a report is the agent's own (shared/protocol/report-signature.ts): signed by the nkey the
// agent joined with, with a counter the server has not applied before. An agent that never signed
// (a version from before signatures) is taken at its word, as before; from its first signed report
// on, every report for it must be signed, fresh and valid.
import type { KeyObject } from 'node:crypto';
import type { MsgHdrs } from '@nats-io/transport-node';
import { Prefix } from '@nats-io/nkeys';
import { Codec } from '@nats-io/nkeys/lib/codec.js';
import { ed25519PublicKey, verifyWithKey } from '../../shared/crypto/sign.js';
import type { SignatureJob } from './verify-pool.js';
import { REPORT_COUNTER_HEADER, REPORT_SIG_HEADER, parseReportCounter, reportTranscript, type ReportKind } from '../../shared/protocol/report-signature.js';

/**
 * How many applied counters are kept per agent. A report redelivered late (a batch that failed to
 * commit is delivered again after the ones behind it) is still applied once if fewer than this
 * many of the agent's later reports came first; beyond that it is refused as stale.
 */
export const RECENT_COUNTERS = 32;

export type RefusalReason = 'unsigned' | 'bad-signature' | 'stale' | 'duplicate';

export type ReportVerdict =
  /** an agent that never signed: apply as before (stream order decides what is newest) */
  | { ok: true; signed: false }
  /** signed and new: `recent` is the agent's counters to store; `newest`: above every one applied */
  | { ok: true; signed: true; newest: boolean; recent: number[] }
  | { ok: false; reason: RefusalReason };

type AdmittedSigned = Extract<ReportVerdict, { signed: true }>;

/** A signature's result computed ahead of check(), for the key `nkey`. */
export interface PreVerified {
  nkey: string;
  ok: boolean;
}

/** What the CMDB holds about an agent's signed reports: its nkey and its last applied counters (null: it never signed). */
export interface ReportIdentity {
  nkey: string;
  recent: number[] | null;
}

const encoder = new TextEncoder();

export class ReportVerifier {
  // Made once per agent key: importing a key costs more than the verification itself.
  private readonly keys = new Map<string, KeyObject | null>();
  private readonly rawKeys = new Map<string, Uint8Array | null>();

  constructor(private readonly maxKeys = 100_000) {}

  /**
   * `verified`: the signature's result computed ahead (on a worker thread, VerifyPool) for this
   * same report and key; without it, or for another key, the signature is verified here.
   */
  check(agentId: string, kind: ReportKind, payload: Uint8Array, headers: MsgHdrs | undefined, identity: ReportIdentity, verified?: PreVerified): ReportVerdict {
    const signed = this.signed(headers, identity);
    if ('ok' in signed) return signed;
    const ok = verified && verified.nkey === identity.nkey ? verified.ok : this.verifyHere(identity.nkey, reportTranscript(agentId, kind, signed.counter, payload), fromB64(signed.sig));
    return ok ? signed.verdict : { ok: false, reason: 'bad-signature' };
  }

  /**
   * The signature check a report needs once it passed everything cheaper (headers, counter), to be
   * verified ahead of check(); undefined when check() decides without a verification. `recent`:
   * the agent's counters were the report admitted (so one batch's later reports are judged after it).
   */
  signatureJob(agentId: string, kind: ReportKind, payload: Uint8Array, headers: MsgHdrs | undefined, identity: ReportIdentity): (SignatureJob & { recent: number[] }) | undefined {
    const signed = this.signed(headers, identity);
    if ('ok' in signed) return undefined;
    const key = this.rawKeyOf(identity.nkey);
    return key ? { nkey: identity.nkey, key, message: reportTranscript(agentId, kind, signed.counter, payload), sig: fromB64(signed.sig), recent: signed.verdict.recent } : undefined;
  }

  /** A verdict without a verification, or what is left to verify and the verdict if it does. */
  private signed(headers: MsgHdrs | undefined, identity: ReportIdentity): ReportVerdict | { counter: number; sig: string; verdict: AdmittedSigned } {
    const sig = headers?.get(REPORT_SIG_HEADER) || undefined;
    const counterText = headers?.get(REPORT_COUNTER_HEADER) || undefined;
    if (sig === undefined && counterText === undefined) return identity.recent === null ? { ok: true, signed: false } : { ok: false, reason: 'unsigned' };
    const counter = parseReportCounter(counterText);
    if (counter === undefined || sig === undefined) return { ok: false, reason: 'bad-signature' };
    // The counter first: a report applied before, or older than those kept, is refused without the
    // cost of a verification (~0.1 ms, most of a signed report's cost), so replays flood cheaply.
    const verdict = admitCounter(identity.recent ?? [], counter);
    if (!verdict.ok || !verdict.signed) return verdict;
    return { counter, sig, verdict };
  }

  private verifyHere(nkey: string, message: Uint8Array, sig: Uint8Array): boolean {
    const key = this.keyOf(nkey);
    return key !== null && verifyWithKey(key, message, sig);
  }

  private rawKeyOf(nkey: string): Uint8Array | null {
    let raw = this.rawKeys.get(nkey);
    if (raw === undefined) {
      try {
        raw = Codec.decode(Prefix.User, encoder.encode(nkey));
      } catch {
        raw = null; // not a user nkey: nothing verifies against it
      }
      if (this.rawKeys.size >= this.maxKeys) this.rawKeys.clear();
      this.rawKeys.set(nkey, raw);
    }
    return raw;
  }

  private keyOf(nkey: string): KeyObject | null {
    let key = this.keys.get(nkey);
    if (key === undefined) {
      const raw = this.rawKeyOf(nkey);
      try {
        key = raw && ed25519PublicKey(raw);
      } catch {
        key = null; // not a point on the curve
      }
      if (this.keys.size >= this.maxKeys) this.keys.clear();
      this.keys.set(nkey, key);
    }
    return key;
  }
}

/**
 * `recent`: the agent's applied counters, ascending, at most RECENT_COUNTERS. Every applied
 * counter above the lowest kept one is kept, so a counter above it and not in the list was never
 * applied; one at or below it may have been, and is refused.
 */
export function admitCounter(recent: readonly number[], counter: number): ReportVerdict {
  if (recent.includes(counter)) return { ok: false, reason: 'duplicate' };
  if (recent.length >= RECENT_COUNTERS && counter < recent[0]!) return { ok: false, reason: 'stale' };
  const newest = recent.length === 0 || counter > recent[recent.length - 1]!;
  const next = [...recent, counter].sort((a, b) => a - b);
  return { ok: true, signed: true, newest, recent: next.length > RECENT_COUNTERS ? next.slice(next.length - RECENT_COUNTERS) : next };
}

function fromB64(text: string): Uint8Array {
  return /^[A-Za-z0-9+/]{86}==$/.test(text) ? new Uint8Array(Buffer.from(text, 'base64')) : new Uint8Array();
}
