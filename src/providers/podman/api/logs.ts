/**
 * Container logs as entries with their timestamps decoded, so the provider can apply the
 * Kubernetes log options (timestamps, sinceTime, tailLines, limitBytes) itself.
 *
 * What Podman 4.3 sends (`GET /libpod/containers/{id}/logs`): one multiplexed-stream frame per
 * log line (see ./stream-framing.ts), even for a TTY container (only the Docker-compatible
 * endpoint drops the framing for TTYs). With `timestamps=true` each payload starts with the
 * line's time in RFC 3339 with whole seconds — the k8s-file log holds nanoseconds, the API
 * truncates them — then a space. A line that was cut (a partial line, e.g. output without a
 * final newline) has no trailing `\n`. `since` is applied by Podman at full precision and is
 * exclusive; `tail` counts lines from the end of the file before `since` filters them.
 */
import { brokenStreamError } from './errors.ts';
import { decodeFrames } from './stream-framing.ts';
import type { PodmanTransport } from './transport.ts';

export interface LogOptions {
  /** Keep the stream open and deliver new lines until the container stops (or `signal` aborts). */
  follow?: boolean;
  /** Only lines logged after this instant (exclusive). */
  since?: Date;
  /** Only lines logged up to this instant. */
  until?: Date;
  /** Only the last this many lines (before `since` applies); all when unset. */
  tail?: number;
  /** Default true. */
  stdout?: boolean;
  /** Default true. */
  stderr?: boolean;
  signal?: AbortSignal | undefined;
}

/** One log line. */
export interface LogEntry {
  stream: 'stdout' | 'stderr';
  /** When the line was logged, to the second (the API's precision). */
  time: Date;
  /** The line without its newline. */
  text: string;
  /** True when the line had no newline: the output continues in the next entry (or stopped there). */
  partial: boolean;
}

/** Splits a framed payload `2026-01-02T03:04:05Z text\n` into its time and text. */
export function parseLogPayload(payload: string, stream: 'stdout' | 'stderr'): LogEntry {
  const space = payload.indexOf(' ');
  const stamp = space > 0 ? payload.slice(0, space) : '';
  let time = new Date(stamp);
  let rest = payload;
  if (Number.isNaN(time.getTime())) {
    // Not a timestamp (a server that ignored timestamps=true): keep the whole payload.
    time = new Date(0);
  } else {
    rest = payload.slice(space + 1);
  }
  const partial = !rest.endsWith('\n');
  return { stream, time, text: partial ? rest : rest.slice(0, -1), partial };
}

/**
 * Yields a container's log lines. Without `follow` it ends after the last line; with it, when
 * the container stops. Aborting `signal` ends the iteration quietly; breaking out of a
 * `for await` closes the connection.
 */
export async function* containerLogs(
  transport: PodmanTransport,
  id: string,
  options: LogOptions = {},
): AsyncGenerator<LogEntry> {
  let body: Awaited<ReturnType<PodmanTransport['request']>>['body'] | undefined;
  try {
    const response = await transport.request({
      method: 'GET',
      path: `/libpod/containers/${encodeURIComponent(id)}/logs`,
      query: {
        stdout: options.stdout ?? true,
        stderr: options.stderr ?? true,
        timestamps: true,
        follow: options.follow ?? false,
        since: options.since?.toISOString(),
        until: options.until?.toISOString(),
        tail: options.tail === undefined ? undefined : Math.max(0, Math.floor(options.tail)),
      },
      signal: options.signal,
      stream: options.follow ?? false,
      what: `reading the logs of container "${id}"`,
    });
    body = response.body;
    const decoder = new TextDecoder();
    for await (const frame of decodeFrames(body, 'auto')) {
      if (frame.stream !== 'stdout' && frame.stream !== 'stderr') continue;
      yield parseLogPayload(decoder.decode(frame.payload), frame.stream);
    }
  } catch (error) {
    // Aborting after the answer arrived surfaces as the body's `aborted` (ECONNRESET), not an AbortError.
    if (options.signal?.aborted) return;
    throw brokenStreamError(error, transport.description, `reading the logs of container "${id}"`);
  } finally {
    body?.destroy();
  }
}
