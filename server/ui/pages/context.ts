// What every page and action of the console gets: the signed-in operator, their session's CSRF
// token, and the admin API called as that operator (role-checked and audited like the CLI).
import type { Caller } from '../../operators/authenticate.js';
import type { ApiRequest, ApiVerb } from '../../../shared/protocol/api.js';
import { mayCall } from '../../../shared/operators/roles.js';
import type { Html } from './html.js';

export interface PageContext {
  caller: Caller;
  csrf: string;
  url: URL;
  /** the live-update generation this page is rendered at (see LiveEvents) */
  liveSince?: string;
  call<V extends ApiVerb>(verb: V, body: ApiRequest<V>): Promise<unknown>;
}

export interface Page {
  title: string;
  /** the navigation entry to mark as current */
  section: 'fleet' | 'rollouts' | 'releases' | 'schedule' | 'audit' | 'none';
  body: Html;
  /** the review is printable: no navigation, no live updates */
  printable?: boolean;
}

/** Whether the signed-in operator's role may call this verb (buttons they may not use are not shown). */
export function may(ctx: PageContext, verb: ApiVerb): boolean {
  return mayCall(ctx.caller.role, verb);
}
