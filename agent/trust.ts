// What this agent trusts: the signed trust document, first accepted at join against the root
// fingerprint in the join token, afterwards replaced only by newer documents signed by the root
// it trusts (a root rotation is signed by the old and the new root). Kept in the state directory,
// which only the agent can write; on load it is checked against its own root's signature.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyFingerprint } from '../shared/crypto/sign.js';
import { signedTrustSchema, verifyInitialTrust, verifyTrustUpdate, type SignedTrust, type TrustDoc } from '../shared/crypto/trust.js';

export class AgentTrust {
  private constructor(
    private readonly file: string,
    private current: TrustDoc,
  ) {}

  /** At join: verify against the pinned root fingerprint from the token, and save. */
  static create(stateDir: string, signed: SignedTrust, pinnedRootFingerprint: string): AgentTrust {
    const trust = new AgentTrust(join(stateDir, 'trust.json'), verifyInitialTrust(signed, pinnedRootFingerprint));
    trust.save(signed);
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
