/**
 * `kubectl logs` from Nomad's task logs (`/v1/client/fs/logs`). Nomad keeps stdout and stderr in
 * separate rotated files with no time per line, and one log across a task's restarts, so:
 * - the answer is stdout then stderr (each whole lines); when following, new lines of either
 *   stream are sent as they arrive;
 * - `--tail` reads back from the end of each stream until it has enough lines; `--limit-bytes` cuts;
 * - `--timestamps`, `--since` and `--previous` are refused with the reason (Nomad has no
 *   timestamps to give, and no separate log of the previous run).
 */
import type { IncomingMessage } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import { InvalidInputError } from '../../errors.ts';
import type { ContainerLogOptions } from '../../provider/index.ts';
import type { NomadClient } from './api/client.ts';

const STREAMS = ['stdout', 'stderr'] as const;
type StreamType = (typeof STREAMS)[number];

/** Throws for the options Nomad's logs cannot honour. */
export function checkLogOptions(options: ContainerLogOptions): void {
  if (options.timestamps || options.sinceSeconds !== undefined || options.sinceTime !== undefined) {
    throw new InvalidInputError(
      'Nomad does not record when a log line was written: --timestamps, --since and --since-time are not available for pods on Nomad',
    );
  }
  if (options.previous) {
    throw new InvalidInputError(
      'Nomad keeps one log across all runs of a task: kubectl logs without --previous shows the earlier runs too',
    );
  }
}

async function readAll(response: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function lineCount(data: Buffer): number {
  let count = 0;
  for (const byte of data) if (byte === 0x0a) count++;
  // A last line without a newline counts too.
  if (data.length > 0 && data[data.length - 1] !== 0x0a) count++;
  return count;
}

/** The last `lines` lines of a stream as Nomad has it now (reading back from the end in growing steps). */
async function tail(
  client: NomadClient,
  allocId: string,
  task: string,
  type: StreamType,
  lines: number,
  signal: AbortSignal,
): Promise<Buffer> {
  if (lines === 0) return Buffer.alloc(0);
  let window = Math.max(4096, lines * 128);
  for (;;) {
    const data = await readAll(
      await client.logs(allocId, task, { type, follow: false, origin: 'end', offset: window, signal }),
    );
    // Fewer bytes than asked for: that is the whole log.
    if (lineCount(data) > lines || data.length < window) {
      const text = data;
      let end = text.length;
      if (end > 0 && text[end - 1] === 0x0a) end--;
      let start = end;
      let found = 0;
      while (start > 0) {
        if (text[start - 1] === 0x0a && ++found === lines) break;
        start--;
      }
      return text.subarray(start);
    }
    window *= 4;
  }
}

async function whole(client: NomadClient, allocId: string, task: string, type: StreamType, signal: AbortSignal) {
  return readAll(await client.logs(allocId, task, { type, follow: false, origin: 'start', offset: 0, signal }));
}

function isMissingLog(error: unknown): boolean {
  return error instanceof Error && /not found|no such file|404/i.test(error.message);
}

/** The log bytes a request answers (non-following part), stream by stream. */
async function history(
  client: NomadClient,
  allocId: string,
  task: string,
  options: ContainerLogOptions,
  signal: AbortSignal,
): Promise<Record<StreamType, Buffer>> {
  const result: Record<StreamType, Buffer> = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };
  await Promise.all(
    STREAMS.map(async (type) => {
      try {
        result[type] =
          options.tailLines !== undefined
            ? await tail(client, allocId, task, type, options.tailLines, signal)
            : await whole(client, allocId, task, type, signal);
      } catch (error) {
        // A task that has not written yet has no log file.
        if (!isMissingLog(error)) throw error;
      }
    }),
  );
  return result;
}

/** `--tail` over both streams: the last N lines of stdout then stderr, taken from the end. */
function tailBoth(stdout: Buffer, stderr: Buffer, lines: number | undefined): Buffer {
  const joined = Buffer.concat([
    stdout,
    stdout.length && stdout[stdout.length - 1] !== 0x0a ? Buffer.from('\n') : Buffer.alloc(0),
    stderr,
  ]);
  if (lines === undefined) return joined;
  const text = joined.toString('utf8').split('\n');
  if (text.at(-1) === '') text.pop();
  return Buffer.from(
    text
      .slice(Math.max(0, text.length - lines))
      .map((l) => `${l}\n`)
      .join(''),
  );
}

export async function taskLogs(
  client: NomadClient,
  allocId: string,
  task: string,
  options: ContainerLogOptions,
  signal: AbortSignal,
): Promise<Readable> {
  checkLogOptions(options);
  const past = await history(client, allocId, task, options, signal);
  let initial = tailBoth(past.stdout, past.stderr, options.tailLines);
  let remaining = options.limitBytes;
  if (remaining !== undefined) {
    initial = initial.subarray(0, remaining);
    remaining -= initial.length;
  }
  const out = new PassThrough();
  out.write(initial);
  if (!options.follow || remaining === 0) {
    out.end();
    return out;
  }
  const controller = new AbortController();
  const stop = () => controller.abort();
  signal.addEventListener('abort', stop, { once: true });
  out.on('close', stop);
  let open = STREAMS.length;
  const send = (chunk: Buffer) => {
    if (out.writableEnded) return;
    if (remaining !== undefined) {
      const part = chunk.subarray(0, remaining);
      remaining -= part.length;
      out.write(part);
      if (remaining <= 0) out.end();
      return;
    }
    out.write(chunk);
  };
  for (const type of STREAMS) {
    // Follow from where the history left off. Without --tail that is its length from the start,
    // exactly; with --tail, the tail's length before the end, skipping the tail sent already
    // (output written in the moment between the two requests can be missed).
    const fromStart = options.tailLines === undefined;
    const offset = past[type].length;
    void (async () => {
      let pending = Buffer.alloc(0);
      let skip = fromStart ? 0 : offset;
      try {
        const response = await client.logs(allocId, task, {
          type,
          follow: true,
          origin: fromStart ? 'start' : 'end',
          offset,
          signal: controller.signal,
        });
        for await (const chunk of response) {
          let data = Buffer.concat([pending, chunk as Buffer]);
          if (skip > 0) {
            const skipped = Math.min(skip, data.length);
            data = data.subarray(skipped);
            skip -= skipped;
          }
          // Whole lines only, so lines of stdout and stderr never interleave mid-line.
          const cut = data.lastIndexOf(0x0a) + 1;
          if (cut > 0) send(data.subarray(0, cut));
          pending = data.subarray(cut);
        }
      } catch {
        // The client went away, or the allocation stopped.
      } finally {
        if (pending.length) send(pending);
        if (--open === 0 && !out.writableEnded) out.end();
      }
    })();
  }
  return out;
}
