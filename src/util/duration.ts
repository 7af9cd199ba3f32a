/**
 * Go's `time.ParseDuration` format, which the Go virtual-kubelet's flags use: `1m`, `1m30s`,
 * `500ms`, `1h0m0s`, `1.5h`. A bare `0` is allowed.
 */
const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds in a Go duration string; throws an Error naming the bad value. */
export function parseDuration(text: string): number {
  const input = text.trim();
  if (input === '0') return 0;
  const pattern = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let match = pattern.exec(input); match; match = pattern.exec(input)) {
    total += Number(match[1]) * (UNITS[match[2] as string] as number);
    matched = pattern.lastIndex;
  }
  if (matched === 0 || matched !== input.length) {
    throw new Error(`invalid duration "${text}" (use Go's form: 30s, 1m, 1h30m, 500ms)`);
  }
  if (total > MAX_DURATION_MS) throw new Error(`invalid duration "${text}": longer than Go's limit of about 290 years`);
  return total;
}

/** The longest duration Go can hold (2^63 − 1 ns), in milliseconds; beyond, Go's parser fails too. */
export const MAX_DURATION_MS = 9_223_372_036_854;

/** Formats milliseconds as Go would print them, for help texts: `1m0s`, `4h0m0s`, `500ms`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = (ms % 60_000) / 1000;
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}
