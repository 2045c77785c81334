// "Did you mean": the nearest real subcommand to a mistyped one. A word that starts a command
// name wins (`rollout stat` → status, not start), then the smallest edit distance.

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const here = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = here;
    }
  }
  return row[b.length]!;
}

export function nearestCommand(word: string, commands: string[]): string | undefined {
  const w = word.toLowerCase();
  const prefixed = commands.filter((c) => c.startsWith(w)).sort((a, b) => a.length - b.length);
  if (w.length >= 2 && prefixed.length) return prefixed[0];
  const scored = commands.map((c) => ({ c, d: distance(w, c) })).sort((a, b) => a.d - b.d);
  const best = scored[0];
  return best && best.d <= Math.max(2, Math.floor(w.length / 3)) ? best.c : undefined;
}
