// The story of one operation's hooks: each hook's stdout/stderr under a `[hook] exit N` line,
// one after the other, secrets redacted (shared/redact.ts), capped so that it fits a status
// report (messages.ts allows 16 KiB): past the cap the oldest output gives way, since the
// failing hook is usually the last one.
import { redactText } from '../../shared/redact.js';
import type { HookResult } from './hooks.js';

export const OPERATION_OUTPUT_CAP = 15 * 1024;
const CUT = '[… earlier output cut]\n';

function outcome(r: HookResult): string {
  return r.timedOut ? 'timed out' : r.code === null ? 'did not run' : `exit ${r.code}`;
}

/** At most OPERATION_OUTPUT_CAP characters: the newest output, marked when older output was cut. */
function cap(all: string): string {
  return all.length <= OPERATION_OUTPUT_CAP ? all : CUT + all.slice(all.length - (OPERATION_OUTPUT_CAP - CUT.length));
}

/** `previous` with this hook's section added (redacted, capped). */
export function appendHookOutput(previous: string | undefined, name: string, r: HookResult): string {
  const body = r.output.endsWith('\n') || r.output === '' ? r.output : r.output + '\n';
  return cap(`${previous ?? ''}[${name}] ${outcome(r)}\n${redactText(body)}`);
}

/** Several packages' outputs as one (each under `# NAME@VERSION` when there are several), capped. */
export function joinOutputs(outputs: { label: string; output: string }[]): string | undefined {
  if (outputs.length === 0) return undefined;
  if (outputs.length === 1) return outputs[0]!.output;
  return cap(outputs.map((o) => `# ${o.label}\n${o.output}`).join(''));
}
