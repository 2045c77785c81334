// Colour only for a person at a terminal: never into a pipe or file, and NO_COLOR (any
// non-empty value, no-color.org) always wins.

export function colorEnabled(isTTY: boolean | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return isTTY === true;
}

const BAD = new Set(['failed', 'halted', 'aborted', 'rolled-back', 'offline', 'revoked', 'timed-out', 'error', 'no']);
const GOOD = new Set(['completed', 'succeeded', 'online', 'active', 'yes', 'ok', 'installed']);
const BUSY = new Set(['running', 'waiting', 'paused', 'pending', 'sent', 'scheduled', 'rolling-back']);

/** A state word in red, green or yellow (or as it is, when colour is off or the word is unknown). */
export function paintState(word: string, on: boolean): string {
  if (!on) return word;
  const code = BAD.has(word) ? 31 : GOOD.has(word) ? 32 : BUSY.has(word) ? 33 : 0;
  return code ? `\x1b[${code}m${word}\x1b[39m` : word;
}

export function bold(text: string, on: boolean): string {
  return on ? `\x1b[1m${text}\x1b[22m` : text;
}
