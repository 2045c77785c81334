// The shape every benchmark module returns. A module exports
// `async function run(opts: { quick: boolean }): Promise<BenchResult[]>`.

export interface BenchResult {
  /** What was measured, e.g. "Fetch and verify a 100 MiB package". */
  name: string;
  /** e.g. "throughput", "wall time", "peak RSS". */
  metric: string;
  value: number;
  unit: string;
  /** The reference the value is compared with (same unit). */
  baseline?: { name: string; value: number };
  /** value / baseline.value */
  ratio?: number;
  /** Human-readable goal, e.g. "≥ 0.7× raw". */
  goal?: string;
  met?: boolean;
  note?: string;
  /** the load average while it was measured (set by main.ts for every figure) */
  load?: { max: number; cores: number; busy: boolean };
}

export interface BenchOptions {
  quick: boolean;
}
