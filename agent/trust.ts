// What this agent trusts: the signed trust document, first accepted at join against the root
// fingerprint in the join token, afterwards replaced only by newer documents signed by the root
// it trusts (a root rotation is signed by the old and the new root). Kept in the state directory,
// which only the agent can write; on load it is checked against its own root's signature.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyFingerprint } from '../shared/crypto/sign.js';
import { signedTrustSchema, verifyInitialTrust, verifyTrustUpdate, type SignedTrust, type TrustDoc } from '../shared/crypto/trust.js';

/** A trust document checked against the root pinned by a join token; saved once the join succeeded. */
export class PinnedTrust {
  private constructor(
    readonly signed: SignedTrust,
    readonly doc: TrustDoc,
  ) {}

  static verify(signed: SignedTrust, pinnedRootFingerprint: string): PinnedTrust {
    return new PinnedTrust(signed, verifyInitialTrust(signed, pinnedRootFingerprint));
  }
}

export class AgentTrust {
  private constructor(
    private readonly file: string,
    private current: TrustDoc,
  ) {}

  /** At join: save the document verified against the root fingerprint of the token. */
  static create(stateDir: string, pinned: PinnedTrust): AgentTrust {
    const trust = new AgentTrust(join(stateDir, 'trust.json'), pinned.doc);
    trust.save(pinned.signed);
    return trust;
  }

  static load(stateDir: string): AgentTrust {
    const file = join(stateDir, 'trust.json');
    const signed = signedTrustSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
    const doc = JSON.parse(signed.payload) as TrustDoc;
    return new AgentTrust(file, verifyInitialTrust(signed, keyFingerprint(doc.root.publicKey)));
  }

  get doc(): TrustDoc {
    return this.current;
  }

  /** Accept a newer document signed by the trusted root; true if it changed. */
  update(signed: SignedTrust): boolean {
    const next = verifyTrustUpdate(this.current, signed);
    if (next === this.current) return false;
    this.current = next;
    this.save(signed);
    return true;
  }

  private save(signed: SignedTrust): void {
    writeFileSync(`${this.file}.tmp`, JSON.stringify(signed, null, 2), { mode: 0o600 });
    renameSync(`${this.file}.tmp`, this.file);
  }
}
