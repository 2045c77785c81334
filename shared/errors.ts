// Ferry's error vocabulary: one class with a stable code and a hint for the operator.
// Codes are part of the public interface (scripts match on them); exit codes are mapped
// once, at the CLI edge.

export type FerryErrorCode =
  | 'FERRY_USAGE'
  | 'FERRY_CONFIG_INVALID'
  | 'FERRY_INVALID_INPUT'
  | 'FERRY_INVALID_MESSAGE'
  | 'FERRY_NOT_FOUND'
  /** a name (e.g. a hostname) matches several things: the message lists them, give an id */
  | 'FERRY_AMBIGUOUS'
  | 'FERRY_CONFLICT'
  | 'FERRY_ALREADY_EXISTS'
  | 'FERRY_NOT_INITIALIZED'
  | 'FERRY_SERVER_UNREACHABLE'
  | 'FERRY_TIMEOUT'
  | 'FERRY_NATS_MISSING'
  | 'FERRY_NATS_FAILED'
  | 'FERRY_SIGNATURE_INVALID'
  | 'FERRY_UNTRUSTED_KEY'
  | 'FERRY_TRUST_EXPIRED'
  | 'FERRY_DIGEST_MISMATCH'
  | 'FERRY_PACKAGE_INVALID'
  | 'FERRY_ARCHIVE_UNSAFE'
  | 'FERRY_BUNDLE_INVALID'
  | 'FERRY_TOKEN_INVALID'
  | 'FERRY_CREDS_INVALID'
  | 'FERRY_FORBIDDEN'
  /** `ferry audit verify`: a record of the audit log was changed, inserted or deleted */
  | 'FERRY_AUDIT_TAMPERED'
  | 'FERRY_COMMAND_REJECTED'
  | 'FERRY_HOOK_FAILED'
  | 'FERRY_INSTALL_FAILED'
  | 'FERRY_NOT_JOINED'
  | 'FERRY_ROLLOUT_FAILED'
  | 'FERRY_POLICY_DENIED'
  | 'FERRY_NO_TARGETS'
  | 'FERRY_NATS_STORE_LOCKED'
  | 'FERRY_NATS_PORT_TAKEN'
  /** another ferry server holds the lease of this (external) NATS */
  | 'FERRY_SERVER_ACTIVE'
  | 'FERRY_DELIVERY_FAILED'
  /** a kept package version's files differ from its manifest and it could not be fetched again */
  | 'FERRY_KEPT_VERSION_MODIFIED'
  /** another ferry-agent process holds the state directory's lock (a daemon starting, a local rollback) */
  | 'FERRY_AGENT_BUSY'
  /** the agent daemon runs but does not answer on its local socket */
  | 'FERRY_AGENT_UNREACHABLE'
  | 'FERRY_INTERNAL';

export class FerryError extends Error {
  override name = 'FerryError';
  readonly code: FerryErrorCode;
  readonly hint: string | undefined;
  /** a document that explains the failure (e.g. the final status of a rollout), for --json */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: FerryErrorCode, message: string, options: { hint?: string; cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
    this.details = options.details;
  }

  /** One line for a terminal: `FERRY_X: message — hint: …`. */
  toLine(): string {
    return `${this.code}: ${this.message}${this.hint ? ` — hint: ${this.hint}` : ''}`;
  }

  toJSON(): { code: FerryErrorCode; message: string; hint?: string } {
    return { code: this.code, message: this.message, ...(this.hint ? { hint: this.hint } : {}) };
  }
}

export function isFerryError(err: unknown): err is FerryError {
  return err instanceof FerryError;
}

/** Rebuild a FerryError that crossed the wire as `{code, message, hint}`. */
export function errorFromWire(wire: { code: string; message: string; hint?: string | undefined }): FerryError {
  return new FerryError(wire.code as FerryErrorCode, wire.message, wire.hint ? { hint: wire.hint } : {});
}

/** Wrap anything thrown into a FerryError, keeping FerryErrors as they are. */
export function toFerryError(err: unknown, code: FerryErrorCode = 'FERRY_INTERNAL'): FerryError {
  if (err instanceof FerryError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new FerryError(code, message, { cause: err });
}

const EXIT_CODES: Partial<Record<FerryErrorCode, number>> = {
  FERRY_USAGE: 2,
  FERRY_CONFIG_INVALID: 2,
  FERRY_INVALID_INPUT: 2,
  FERRY_CREDS_INVALID: 2,
  FERRY_AMBIGUOUS: 2,
  FERRY_NOT_FOUND: 3,
  FERRY_NO_TARGETS: 3,
  FERRY_CONFLICT: 4,
  FERRY_NATS_STORE_LOCKED: 4,
  FERRY_NATS_PORT_TAKEN: 4,
  FERRY_SERVER_ACTIVE: 4,
  FERRY_ALREADY_EXISTS: 4,
  FERRY_AGENT_BUSY: 4,
  FERRY_AGENT_UNREACHABLE: 5,
  FERRY_SERVER_UNREACHABLE: 5,
  FERRY_TIMEOUT: 5,
  FERRY_NOT_INITIALIZED: 5,
  FERRY_NOT_JOINED: 5,
  FERRY_ROLLOUT_FAILED: 6,
  FERRY_POLICY_DENIED: 7,
  FERRY_FORBIDDEN: 8,
};

/** The process exit code for an error, the same for both CLIs (documented in the README). */
export function exitCodeFor(code: FerryErrorCode): number {
  return EXIT_CODES[code] ?? 1;
}
