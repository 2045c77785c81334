// Ed25519 verification of report signatures on worker threads. Why: a verification costs ~0.12 ms
// of CPU, five times the rest of a report's ingest, and the ingest runs on the one thread that also
// writes SQLite; spread over cores it stops bounding the reports per second (docs/performance.md,
// "Signed reports"). Verification is pure, so a batch's signatures are checked in parallel and the
// results come back in order; what to do with them (counters, the CMDB) stays on the main thread.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** One signature to check: `key` is the agent's raw 32-byte Ed25519 public key, `nkey` names it (the workers' key cache). */
export interface SignatureJob {
  nkey: string;
  key: Uint8Array;
  message: Uint8Array;
  sig: Uint8Array;
}

/** Worker threads for a server: one a core the process may use, at least one. */
export function defaultVerifyThreads(): number {
  return Math.max(1, availableParallelism());
}

// The worker as source text (eval), not a file: the server also runs from the CLI bundle and from
// TypeScript under vitest, where a worker file's path is not what import.meta.url would say. It
// checks what shared/crypto/sign.ts verifyWithKey checks (64 bytes, canonical S, then native
// Ed25519) and keeps one key object per agent: importing a key costs more than a verification.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createPublicKey, verify } = require('node:crypto');
const L = (1n << 252n) + 27742317777372353535851937790883648493n;
const MAX_KEYS = 100000;
const keys = new Map();
function keyOf(nkey, raw) {
  let key = keys.get(nkey);
  if (key === undefined) {
    try {
      key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
    } catch {
      key = null;
    }
    if (keys.size >= MAX_KEYS) keys.clear();
    keys.set(nkey, key);
  }
  return key;
}
function canonicalS(sig) {
  let s = 0n;
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i]);
  return s < L;
}
parentPort.on('message', ({ id, jobs }) => {
  const ok = new Uint8Array(jobs.length);
  for (let i = 0; i < jobs.length; i++) {
    const { nkey, key, message, sig } = jobs[i];
    if (sig.length !== 64 || !canonicalS(sig)) continue;
    const k = keyOf(nkey, key);
    if (!k) continue;
    try {
      ok[i] = verify(null, message, k, sig) ? 1 : 0;
    } catch {}
  }
  parentPort.postMessage({ id, ok });
});
`;

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve: (ok: Uint8Array) => void; reject: (err: Error) => void }>;
}

export class VerifyPool {
  private slots: Slot[] = [];
  private nextId = 0;
  private closed = false;

  constructor(readonly size = defaultVerifyThreads()) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`verify threads must be a positive integer, got ${size}`);
  }

  /** Whether each signature verifies, in the order given. Rejects when the pool is closed or a worker failed. */
  async verify(jobs: readonly SignatureJob[]): Promise<boolean[]> {
    if (this.closed) throw new Error('the verify pool is closed');
    if (jobs.length === 0) return [];
    this.start();
    const per = Math.ceil(jobs.length / this.slots.length);
    const parts = await Promise.all(this.slots.map((slot, i) => (i * per < jobs.length ? this.send(slot, jobs.slice(i * per, (i + 1) * per)) : Promise.resolve(new Uint8Array()))));
    const out: boolean[] = [];
    for (const part of parts) for (const ok of part) out.push(ok === 1);
    return out;
  }

  /** Ends the threads (after this, verify() rejects). Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    const slots = this.slots;
    this.slots = [];
    // Referenced while they end: terminate()'s promise alone does not keep the process alive, and
    // an awaited close() of idle (unreferenced) threads could be cut short (exit 13, unsettled await).
    await Promise.all(
      slots.map((s) => {
        s.worker.ref();
        return s.worker.terminate();
      }),
    );
  }

  /** Threads running now (for tests: none after close). */
  get threads(): number {
    return this.slots.length;
  }

  // Threads start on first use: a server whose agents never sign runs none.
  private start(): void {
    while (this.slots.length < this.size) {
      // No inherited node flags: e.g. --input-type=module would make the source an ES module, without require.
      const worker = new Worker(WORKER_SOURCE, { eval: true, name: 'ferry-report-verify', execArgv: [] });
      const slot: Slot = { worker, pending: new Map() };
      // Idle threads never keep the process alive (the server exits even if close() was missed);
      // a thread is referenced only while it has work, so an await on it is not cut short.
      worker.unref();
      // Again once it runs: an unref() before then does not hold (Node 20), and a thread that was
      // given no work yet would keep the process alive.
      // Not once close() is ending it: a thread that comes up only then (a busy machine) would be
      // unreferenced again while close() waits for it.
      worker.on('online', () => {
        if (slot.pending.size === 0 && !this.closed) worker.unref();
      });
      worker.on('message', ({ id, ok }: { id: number; ok: Uint8Array }) => {
        const p = slot.pending.get(id);
        if (!p) return;
        slot.pending.delete(id);
        if (slot.pending.size === 0 && !this.closed) worker.unref();
        p.resolve(ok);
      });
      const fail = (err: Error) => {
        this.slots = this.slots.filter((s) => s !== slot);
        for (const p of slot.pending.values()) p.reject(err);
        slot.pending.clear();
      };
      worker.on('error', fail);
      worker.on('exit', (code) => fail(new Error(`verify thread exited (code ${code})`)));
      this.slots.push(slot);
    }
  }

  private send(slot: Slot, jobs: SignatureJob[]): Promise<Uint8Array> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (slot.pending.size === 0) slot.worker.ref();
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ id, jobs });
    });
  }
}
