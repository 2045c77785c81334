// Secrets in free text (hook output a host reports), hidden the way the logs hide secret
// fields (shared/log.ts SECRET_FIELDS): `password=…`, `token: …`, `--secret …` keep their
// name and lose their value, and NATS nkey seeds and Bearer credentials are hidden wherever
// they appear.
import { REDACTED, SECRET_FIELDS } from './log.js';

const names = [...new Set(SECRET_FIELDS.map((f) => f.toLowerCase()))].sort((a, b) => b.length - a.length).join('|');
/** NAME=value, NAME: value, "NAME": "value" (NAME may end a longer word, e.g. DB_PASSWORD; "passed: 3" is left alone) */
const ASSIGNMENT = new RegExp(`(\\b[A-Za-z0-9_-]*(?:${names})"?\\s*[=:]\\s*"?)([^\\s"',;]+)`, 'gi');
/** --NAME value (a command line echoed by a hook); "the password is wrong" is left alone */
const FLAG = new RegExp(`(--?[A-Za-z0-9_-]*(?:${names})\\s+)([^\\s-][^\\s"',;]*)`, 'gi');
/** nkey seeds: S + a type letter + base32 */
const NKEY_SEED = /\bS[ACNOPUX][A-Z2-7]{50,}\b/g;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/g;

export function redactText(text: string): string {
  return text
    .replace(NKEY_SEED, REDACTED)
    .replace(BEARER, `$1 ${REDACTED}`)
    .replace(ASSIGNMENT, (_m, name: string) => `${name}${REDACTED}`)
    .replace(FLAG, (_m, name: string) => `${name}${REDACTED}`);
}
