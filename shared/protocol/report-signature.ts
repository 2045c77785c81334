// An agent's signature over its own reports (status, inventory), carried in two NATS headers so
// the report bytes stay what servers from before signatures parse (their schemas are strict).
// Why: a site's leafnode link may publish reports in any agent's name (agent ids carry no site),
// so only a signature by the agent's own nkey tells its reports from a site's forgeries. The
// counter is the agent's, strictly increasing: the server keeps the last ones it applied, so a
// report replayed later (exact duplicate or older) never overrides a newer one.

export const REPORT_COUNTER_HEADER = 'Ferry-Report-Counter';
export const REPORT_SIG_HEADER = 'Ferry-Report-Sig';

/** The report subjects that are signed; heartbeats are not (see SECURITY.md). */
export type ReportKind = 'status' | 'inventory';

const COUNTER_RE = /^[1-9][0-9]{0,15}$/;
const encoder = new TextEncoder();

/** The kind of a report subject `ferry.agent.<id>.<kind>`, or undefined when it is not a signed kind. */
export function reportKind(subject: string): ReportKind | undefined {
  const kind = subject.slice(subject.lastIndexOf('.') + 1);
  return kind === 'status' || kind === 'inventory' ? kind : undefined;
}

/**
 * What is signed: a fixed domain string (no other Ferry signature can be taken for a report),
 * the agent id and kind (a report cannot be moved to another agent or subject), the counter, then
 * the exact payload bytes.
 */
export function reportTranscript(agentId: string, kind: ReportKind, counter: number, payload: Uint8Array): Uint8Array {
  const head = encoder.encode(`ferry-report-v1\n${agentId}\n${kind}\n${counter}\n`);
  const out = new Uint8Array(head.length + payload.length);
  out.set(head);
  out.set(payload, head.length);
  return out;
}

/**
 * The next counter: above the last one, and at least the wall clock in microseconds — so a
 * journal that was lost (the host reinstalled with its identity kept) still counts on from above
 * what the server saw, unless the clock is behind too. Stays a safe integer until the year 2255.
 */
export function nextReportCounter(last: number, nowMs = Date.now()): number {
  return Math.max(last + 1, nowMs * 1000);
}

/** A header's counter as a number, or undefined when it is not a positive safe integer in plain decimal. */
export function parseReportCounter(text: string | undefined): number | undefined {
  if (text === undefined || !COUNTER_RE.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}
