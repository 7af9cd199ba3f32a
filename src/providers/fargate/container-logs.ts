/**
 * `kubectl logs` from CloudWatch Logs: the awslogs driver writes each container to the stream
 * `<prefix>/<container>/<task id>` of the configured group. tailLines alone is one
 * GetLogEvents call from the end; since reads forward from that time; follow polls with the
 * forward token (CloudWatch has no push) until the client leaves or the task has stopped and
 * the stream has nothing more.
 */
import { once } from 'node:events';
import { PassThrough, type Readable } from 'node:stream';
import {
  type CloudWatchLogsClient,
  GetLogEventsCommand,
  type GetLogEventsCommandOutput,
} from '@aws-sdk/client-cloudwatch-logs';
import {
  applyLogOptions,
  type ContainerLogOptions,
  formatLogLine,
  type LogEntry,
  logsSince,
} from '../../provider/index.ts';
import { sleep } from '../../util/sleep.ts';
import { awsErrorCode, awsMessage } from './aws-clients.ts';

/** GetLogEvents returns at most this many events a call. */
const MAX_EVENTS_PER_CALL = 10_000;
/** A non-following read stops after this many pages (100 000 lines). */
const MAX_PAGES = 10;

export interface LogStreamRef {
  logs: CloudWatchLogsClient;
  group: string;
  stream: string;
}

type Page = { entries: LogEntry[]; nextForwardToken: string | undefined };

async function page(
  ref: LogStreamRef,
  params: { startFromHead: boolean; limit?: number; startTime?: number; nextToken?: string },
  signal: AbortSignal,
): Promise<Page> {
  let output: GetLogEventsCommandOutput;
  try {
    output = await ref.logs.send(
      new GetLogEventsCommand({ logGroupName: ref.group, logStreamName: ref.stream, ...params }),
      { abortSignal: signal },
    );
  } catch (error) {
    // The stream appears with the container's first line.
    if (awsErrorCode(error) === 'ResourceNotFoundException') return { entries: [], nextForwardToken: params.nextToken };
    throw new Error(`CloudWatch Logs ${ref.group} ${ref.stream}: ${awsMessage(error)}`, { cause: error });
  }
  const entries = (output.events ?? []).map((e) => ({
    time: new Date(e.timestamp ?? 0),
    text: (e.message ?? '').replace(/\r?\n$/, ''),
  }));
  return { entries, nextForwardToken: output.nextForwardToken };
}

/** What a non-following request answers, and where a follow goes on from. */
async function readExisting(ref: LogStreamRef, options: ContainerLogOptions, signal: AbortSignal): Promise<Page> {
  const since = logsSince(options);
  if (options.tailLines !== undefined && !since && options.tailLines <= MAX_EVENTS_PER_CALL) {
    if (options.tailLines === 0) {
      // Nothing now; a follow starts at the end: one event from the end gives the token.
      const last = await page(ref, { startFromHead: false, limit: 1 }, signal);
      return { entries: [], nextForwardToken: last.nextForwardToken };
    }
    return page(ref, { startFromHead: false, limit: options.tailLines }, signal);
  }
  const entries: LogEntry[] = [];
  let token: string | undefined;
  for (let i = 0; i < MAX_PAGES; i++) {
    const next = await page(
      ref,
      { startFromHead: true, ...(since ? { startTime: since.getTime() } : {}), ...(token ? { nextToken: token } : {}) },
      signal,
    );
    entries.push(...next.entries);
    // CloudWatch answers the token it was given at the end of the stream.
    const done = next.entries.length === 0 || next.nextForwardToken === token;
    token = next.nextForwardToken;
    if (done) break;
  }
  return { entries, nextForwardToken: token };
}

/**
 * The container's log as `kubectl logs` wants it. `stopped()` tells a follow whether the task
 * has stopped (then it ends after one more empty read).
 */
export async function containerLogStream(
  ref: LogStreamRef,
  options: ContainerLogOptions,
  follow: { pollIntervalMs: number; stopped: () => boolean },
  signal: AbortSignal,
): Promise<Readable> {
  const existing = await readExisting(ref, options, signal);
  const first = applyLogOptions(existing.entries, options);
  const output = new PassThrough();
  output.write(first);
  if (!options.follow || (options.limitBytes !== undefined && first.length >= options.limitBytes)) {
    output.end();
    return output;
  }
  const controller = new AbortController();
  const stop = () => controller.abort();
  signal.addEventListener('abort', stop, { once: true });
  output.once('close', stop);
  let bytes = first.length;
  let token = existing.nextForwardToken;
  void (async () => {
    try {
      while (!controller.signal.aborted) {
        const wasStopped = follow.stopped();
        const next = await page(
          ref,
          { startFromHead: true, ...(token ? { nextToken: token } : {}) },
          controller.signal,
        );
        token = next.nextForwardToken ?? token;
        for (const entry of next.entries) {
          let line = Buffer.from(formatLogLine(entry, options));
          if (options.limitBytes !== undefined) line = line.subarray(0, options.limitBytes - bytes);
          bytes += line.length;
          if (!output.write(line)) await once(output, 'drain', { signal: controller.signal });
          if (options.limitBytes !== undefined && bytes >= options.limitBytes) return;
        }
        if (next.entries.length === 0 && wasStopped) return;
        if (next.entries.length === 0) await sleep(follow.pollIntervalMs, controller.signal);
      }
    } catch (error) {
      if (!controller.signal.aborted) output.destroy(error as Error);
    } finally {
      signal.removeEventListener('abort', stop);
      if (!output.destroyed) output.end();
    }
  })();
  return output;
}
