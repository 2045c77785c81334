// `-o yaml`: the same document `--json` prints, as YAML. JSON values only (what the API
// returns), so a small emitter is enough: strings that could read as anything else are quoted
// JSON-style, which YAML accepts as a double-quoted scalar.

const PLAIN = /^[A-Za-z_./][A-Za-z0-9_./@+-]*( [A-Za-z0-9_./@+()-]+)*$/;
const RESERVED = /^(true|false|yes|no|on|off|null|~|y|n)$/i;

function scalar(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  const s = String(v);
  return PLAIN.test(s) && !RESERVED.test(s) ? s : JSON.stringify(s);
}

function key(k: string): string {
  return PLAIN.test(k) && !RESERVED.test(k) ? k : JSON.stringify(k);
}

function isNode(v: unknown): v is object {
  return typeof v === 'object' && v !== null && (Array.isArray(v) ? v.length > 0 : Object.keys(v).length > 0);
}

function emptyNode(v: unknown): string | undefined {
  if (Array.isArray(v) && v.length === 0) return '[]';
  if (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0) return '{}';
  return undefined;
}

function lines(v: unknown, indent: string): string[] {
  if (Array.isArray(v)) {
    return v.flatMap((item) => {
      if (!isNode(item)) return [`${indent}- ${emptyNode(item) ?? scalar(item)}`];
      const inner = lines(item, indent + '  ');
      return [`${indent}- ${inner[0]!.slice(indent.length + 2)}`, ...inner.slice(1)];
    });
  }
  return Object.entries(v as Record<string, unknown>)
    .filter(([, x]) => x !== undefined)
    .flatMap(([k, x]) => (isNode(x) ? [`${indent}${key(k)}:`, ...lines(x, Array.isArray(x) ? indent : indent + '  ')] : [`${indent}${key(k)}: ${emptyNode(x) ?? scalar(x)}`]));
}

/** One YAML document (ending in a newline) for a JSON value. */
export function toYaml(value: unknown): string {
  const doc = JSON.parse(JSON.stringify(value ?? null)) as unknown;
  return (isNode(doc) ? lines(doc, '') : [emptyNode(doc) ?? scalar(doc)]).join('\n') + '\n';
}
