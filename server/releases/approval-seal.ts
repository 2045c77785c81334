// Approvals made in the web console. Its operators are signed in (`ferry ui login`, itself a
// signed request) rather than signing each action, so no signature of theirs covers the approval.
// The server seals the approval record it writes for them instead — release, approver, comment,
// time, "via console session" — with a key of its own (keys/approvals.json, made at the first
// start that needs it, never sent anywhere). Four eyes counts an approval only when a signature
// verifies: the approver's own (CLI) or this seal (console). A row written into the database
// carries neither and does not count.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { generateSigningKeyPair, keyFingerprint, signBytes, verifySignature, type SigningKeyPair } from '../../shared/crypto/sign.js';
import type { Db } from '../db/open.js';

/** How a sealed approval's `auth` column starts (a signed request's starts with `v1 `). */
export const SEAL_AUTH_PREFIX = 'console-seal-v1';
/** What a console approval says it was made through. */
export const CONSOLE_VIA = 'console session';

export interface ConsoleApproval {
  release: string;
  approver: string;
  comment: string | null;
  /** the stored approval time (ms) */
  at: number;
}

/** The exact bytes sealed; a domain prefix keeps the seal from meaning anything else. */
const sealedText = (body: string) => Buffer.from(`ferry-console-approval-v1\n${body}`, 'utf8');

export class ApprovalSeal {
  private readonly fingerprint: string;

  constructor(private readonly key: SigningKeyPair) {
    this.fingerprint = keyFingerprint(key.publicKey);
  }

  /** The server's sealing key from FILE, made (mode 0600) when there is none yet. */
  static open(file: string): ApprovalSeal {
    if (!existsSync(file)) {
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(generateSigningKeyPair(), null, 2), { mode: 0o600 });
      renameSync(tmp, file);
    }
    return new ApprovalSeal(JSON.parse(readFileSync(file, 'utf8')) as SigningKeyPair);
  }

  /** The `auth` and `body` stored with a console approval. */
  seal(a: ConsoleApproval): { auth: string; body: string } {
    const body = JSON.stringify({ type: 'ferry-console-approval', release: a.release, approver: a.approver, comment: a.comment, at: a.at, via: CONSOLE_VIA });
    return { auth: `${SEAL_AUTH_PREFIX} ${this.fingerprint} ${signBytes(this.key.secretKey, sealedText(body))}`, body };
  }

  /** True only for this server's seal over exactly this approval. */
  verify(auth: string, body: string, expected: ConsoleApproval): boolean {
    const parts = auth.split(' ');
    if (parts.length !== 3 || parts[0] !== SEAL_AUTH_PREFIX || parts[1] !== this.fingerprint) return false;
    if (!verifySignature(this.key.publicKey, sealedText(body), parts[2]!)) return false;
    try {
      const doc = JSON.parse(body) as Record<string, unknown>;
      return doc.type === 'ferry-console-approval' && doc.release === expected.release && doc.approver === expected.approver && (doc.comment ?? null) === expected.comment && doc.at === expected.at && doc.via === CONSOLE_VIA;
    } catch {
      return false;
    }
  }
}

export const isSealAuth = (auth: string): boolean => auth.startsWith(`${SEAL_AUTH_PREFIX} `);

/**
 * The seal of the server that owns this database. Kept beside the database handle, not in it:
 * a key read from the database would be the intruder's to replace. Set once at server start;
 * without one (a tool that opens the database alone) no console approval verifies.
 */
const seals = new WeakMap<Db, ApprovalSeal>();

export function useApprovalSeal(db: Db, seal: ApprovalSeal): void {
  seals.set(db, seal);
}

export function approvalSealOf(db: Db): ApprovalSeal | undefined {
  return seals.get(db);
}
