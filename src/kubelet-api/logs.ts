/**
 * Container logs: the query the API server sends (`PodLogOptions`), validated as the kubelet
 * validates it, and helpers for providers that keep log lines themselves.
 */
import { InvalidInputError } from '../errors.ts';
import type { ContainerLogOptions } from '../provider.ts';

function flag(params: URLSearchParams, name: string): boolean {
  const value = params.get(name);
  if (value === null || value === '') return false;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new InvalidInputError(`${name}: invalid boolean "${value}"`);
}

function integer(params: URLSearchParams, name: string, min: number): number | undefined {
  const value = params.get(name);
  if (value === null || value === '') return undefined;
  if (!/^-?\d+$/.test(value)) throw new InvalidInputError(`${name}: invalid integer "${value}"`);
  const n = Number(value);
  if (n < min)
    throw new InvalidInputError(`${name}: must be ${min === 0 ? 'non-negative' : `at least ${min}`}, got ${n}`);
  return n;
}

/** Parses and validates `follow`, `previous`, `timestamps`, `tailLines`, `limitBytes`, `sinceSeconds`, `sinceTime`. */
export function parseLogOptions(params: URLSearchParams): ContainerLogOptions {
  const options: ContainerLogOptions = {
    follow: flag(params, 'follow'),
    previous: flag(params, 'previous'),
    timestamps: flag(params, 'timestamps'),
  };
  const tailLines = integer(params, 'tailLines', 0);
  const limitBytes = integer(params, 'limitBytes', 1);
  const sinceSeconds = integer(params, 'sinceSeconds', 1);
  const sinceTimeText = params.get('sinceTime');
  if (sinceSeconds !== undefined && sinceTimeText) {
    throw new InvalidInputError('at most one of sinceTime or sinceSeconds may be specified');
  }
  if (tailLines !== undefined) options.tailLines = tailLines;
  if (limitBytes !== undefined) options.limitBytes = limitBytes;
  if (sinceSeconds !== undefined) options.sinceSeconds = sinceSeconds;
  if (sinceTimeText) {
    // RFC 3339, as metav1.Time parses it.
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(sinceTimeText)) {
      throw new InvalidInputError(`sinceTime: invalid RFC 3339 time "${sinceTimeText}"`);
    }
    options.sinceTime = new Date(sinceTimeText);
  }
  return options;
}

/**
 * The kubelet's log timestamp: RFC 3339 in UTC with exactly nine fractional digits, so that
 * every prefix has the same width (`2026-11-25T18:33:22.123000000Z`).
 */
export function formatLogTimestamp(time: Date): string {
  return `${time.toISOString().slice(0, 23)}000000Z`;
}

/** One log line as a provider may keep it. */
export interface LogEntry {
  time: Date;
  /** The line's text, without the trailing newline. */
  text: string;
}

/** The earliest time a line may have to be shown, from sinceSeconds/sinceTime. */
export function logsSince(options: ContainerLogOptions, now: Date = new Date()): Date | undefined {
  if (options.sinceTime) return options.sinceTime;
  if (options.sinceSeconds !== undefined) return new Date(now.getTime() - options.sinceSeconds * 1000);
  return undefined;
}

/** A line as the client receives it: with its timestamp prefix when asked, and a newline. */
export function formatLogLine(entry: LogEntry, options: ContainerLogOptions): string {
  return options.timestamps ? `${formatLogTimestamp(entry.time)} ${entry.text}\n` : `${entry.text}\n`;
}

/**
 * Applies since, tail, timestamps and limitBytes to lines kept in memory, and returns what a
 * non-following request should answer. Following providers stream further lines after it.
 */
export function applyLogOptions(entries: readonly LogEntry[], options: ContainerLogOptions, now?: Date): Buffer {
  const since = logsSince(options, now);
  let selected = since ? entries.filter((e) => e.time >= since) : entries;
  if (options.tailLines !== undefined) selected = options.tailLines === 0 ? [] : selected.slice(-options.tailLines);
  const bytes = Buffer.from(selected.map((e) => formatLogLine(e, options)).join(''));
  // limitBytes counts bytes, not characters, as the kubelet does.
  return options.limitBytes !== undefined ? bytes.subarray(0, options.limitBytes) : bytes;
}
