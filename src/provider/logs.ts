/**
 * Log helpers for providers: the kubelet's timestamp format, and since/tail/limitBytes applied to
 * lines a provider keeps in memory, so that every provider answers `kubectl logs` options alike.
 */
import type { ContainerLogOptions } from './contracts.ts';

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
