// Who sent an admin request, proven: the signature header is checked against the operator
// registry, then the clock window and the nonce store refuse stale and replayed requests, then
// the role table decides whether this operator may call this verb.
import { FerryError } from '../../shared/errors.js';
import { parseRequestAuth, verifyRequestSignature } from '../../shared/operators/request-signature.js';
import { mayCall, VERB_ROLES, type Role } from '../../shared/operators/roles.js';
import type { ApiVerb } from '../../shared/protocol/api.js';
import type { Db } from '../db/open.js';
import type { OperatorRegistry } from './registry.js';

/** How far a request's time may be from the server's: clocks drift, replays must not last. */
export const CLOCK_WINDOW_MS = 60_000;

export interface Caller {
  name: string;
  role: Role;
  /** the signed request this caller was identified by (none for the web console's signed-in operator) */
  signed?: { auth: string; body: Uint8Array };
  /** queue a task for once the reply has been sent (server/api/router.ts gives every handler one) */
  afterReply?: (task: () => Promise<void>) => void;
}

export class RequestAuthenticator {
  private lastPrune = 0;

  constructor(
    private readonly db: Db,
    private readonly registry: OperatorRegistry,
    private readonly now: () => number = Date.now,
  ) {}

  /** The verified caller, allowed to call `verb`; throws FERRY_SIGNATURE_INVALID (who?) or FERRY_FORBIDDEN (not allowed). */
  authenticate(verb: string, body: Uint8Array, header: string | undefined): Caller {
    const caller = this.identify(verb, body, header);
    authorize(caller, verb);
    return caller;
  }

  /** The verified caller, whatever they may do (the router audits a refusal under this name). */
  identify(verb: string, body: Uint8Array, header: string | undefined): Caller {
    const auth = parseRequestAuth(header);
    if (!auth) throw new FerryError('FERRY_SIGNATURE_INVALID', `${verb}: the request is not signed by an operator`, { hint: 'use a ferry CLI of this version with --creds FILE from `ferry operator add`' });
    const op = this.registry.get(auth.operator);
    if (!op || !verifyRequestSignature(op.signingKey, verb, body, auth)) {
      throw new FerryError('FERRY_SIGNATURE_INVALID', `${verb}: the request's signature does not match operator ${auth.operator}`);
    }
    if (op.revokedAt) throw new FerryError('FERRY_FORBIDDEN', `operator ${op.name} was revoked at ${op.revokedAt}`);
    const now = this.now();
    if (Math.abs(now - auth.at) > CLOCK_WINDOW_MS) {
      throw new FerryError('FERRY_SIGNATURE_INVALID', `${verb}: the request was signed ${Math.round((now - auth.at) / 1000)}s from the server's time (window ±${CLOCK_WINDOW_MS / 1000}s)`, {
        hint: "check this machine's clock",
      });
    }
    this.rememberNonce(auth.nonce, now);
    return { name: op.name, role: op.role };
  }

  /** A nonce is accepted once; nonces older than the clock window cannot come back (stale). */
  private rememberNonce(nonce: string, now: number): void {
    if (now - this.lastPrune > CLOCK_WINDOW_MS) {
      this.db.prepare('DELETE FROM api_nonces WHERE at < ?').run(now - 2 * CLOCK_WINDOW_MS);
      this.lastPrune = now;
    }
    const inserted = this.db.prepare('INSERT INTO api_nonces (nonce, at) VALUES (?, ?) ON CONFLICT DO NOTHING').run(nonce, now).changes;
    if (inserted === 0) throw new FerryError('FERRY_SIGNATURE_INVALID', 'the request was replayed (its nonce was seen before)');
  }
}

/** FERRY_FORBIDDEN with the roles that may call the verb. */
export function authorize(caller: Caller, verb: string): void {
  if (!Object.hasOwn(VERB_ROLES, verb)) return; // unknown verbs fail later as FERRY_USAGE
  const roles = VERB_ROLES[verb as ApiVerb];
  if (!mayCall(caller.role, verb as ApiVerb)) {
    throw new FerryError('FERRY_FORBIDDEN', `${verb} needs the role ${roles.join(' or ')}; operator ${caller.name} is ${caller.role}`, { hint: 'ask an admin: ferry operator add NAME --role ROLE' });
  }
}
