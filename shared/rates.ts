// Transfer rates as people write them (`--max-rate 5MiB/s`): bytes per second.
import { FerryError } from './errors.js';

const UNITS: Record<string, number> = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** "5MiB/s", "500KiB/s", "10MB/s", "2M" (binary) → bytes per second; at least 1 KiB/s. */
export function parseRate(text: string, flag = '--max-rate'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*(?:\/s)?\s*$/i.exec(text);
  const unit = m ? UNITS[(m[2] || 'b').toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new FerryError('FERRY_INVALID_INPUT', `${flag} "${text}" is not a rate`, { hint: `e.g. ${flag} 5MiB/s (units B, KB, KiB, MB, MiB, GB, GiB per second)` });
  }
  const bytes = Math.floor(Number(m[1]) * unit);
  if (bytes < 1024) throw new FerryError('FERRY_INVALID_INPUT', `${flag} ${text} is below 1KiB/s`);
  return bytes;
}

export function formatRate(bytesPerSecond: number): string {
  if (bytesPerSecond >= 1024 ** 2) return `${+(bytesPerSecond / 1024 ** 2).toFixed(2)}MiB/s`;
  return `${+(bytesPerSecond / 1024).toFixed(2)}KiB/s`;
}
