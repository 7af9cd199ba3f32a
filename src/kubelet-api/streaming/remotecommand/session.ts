/**
 * What every exec/attach session does once its transport (SPDY streams or WebSocket channels)
 * is up: hand the provider an {@link AttachIO}, wait for the exit code, end the outputs, write
 * the final status, close. The transports differ only in the {@link RemoteCommandTransport}
 * they pass in.
 */
import type { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { errorMessage } from '../../../errors.ts';
import type { AttachIO, TerminalSize } from '../../../provider/contracts.ts';
import { DEFAULT_STREAM_CREATION_TIMEOUT, type StreamLogger, silentStreamLogger } from '../upgrade.ts';
import type { RemoteCommandStreams } from './options.ts';
import { TerminalSizeDecoder } from './resize.ts';
import { encodeStatus, exitCodeStatus, internalErrorStatus, type StatusFormat, type StreamStatus } from './status.ts';

/**
 * Runs the command (exec) or joins the container's process (attach) with the session's
 * streams. Resolves with the exit code (undefined means 0); a rejection becomes an
 * `InternalError` status. `signal` aborts when the client goes away.
 */
export type RemoteCommandHandler = (io: AttachIO, signal: AbortSignal) => Promise<number | undefined>;

/** Options of `serveRemoteCommand`. */
export interface RemoteCommandOptions extends RemoteCommandStreams {
  /** Milliseconds the client has to open every stream (SPDY). Default 30 s. */
  streamCreationTimeoutMs?: number;
  /** Milliseconds without traffic before the session is dropped. 0 disables. Default 4 h. */
  idleTimeoutMs?: number;
  logger?: StreamLogger;
  /**
   * Only changes the wording of an internal error, as the kubelet words it: `error executing
   * command in container: …` or `error attaching to container: …`. Default `exec`.
   */
  operation?: 'exec' | 'attach';
}

/** The options with their defaults applied and stderr dropped under a TTY. */
export interface ResolvedRemoteCommandOptions extends RemoteCommandStreams {
  streamCreationTimeoutMs: number;
  idleTimeoutMs: number | undefined;
  logger: StreamLogger;
  operation: 'exec' | 'attach';
}

/** Applies the defaults of {@link RemoteCommandOptions}. */
export function resolveRemoteCommandOptions(options: RemoteCommandOptions): ResolvedRemoteCommandOptions {
  return {
    stdin: options.stdin,
    stdout: options.stdout,
    stderr: options.stderr && !options.tty,
    tty: options.tty,
    streamCreationTimeoutMs: options.streamCreationTimeoutMs ?? DEFAULT_STREAM_CREATION_TIMEOUT,
    idleTimeoutMs: options.idleTimeoutMs,
    logger: options.logger ?? silentStreamLogger,
    operation: options.operation ?? 'exec',
  };
}

/** A transport's streams, ready for the handler. */
export interface RemoteCommandTransport {
  stdin: Readable | undefined;
  stdout: Writable | undefined;
  stderr: Writable | undefined;
  /** The client's resize messages (TTY only), or undefined. */
  resize: Readable | undefined;
  statusFormat: StatusFormat;
  /** Aborts when the client goes away before the session has ended. */
  gone: AbortSignal;
  /** Writes the status bytes (if any) and ends the error stream. */
  writeStatus(status: Buffer | undefined): Promise<void>;
  /** Closes the session after everything written, and resolves when it is closed. */
  close(): Promise<void>;
}

/** Resize listeners, with the latest size kept for listeners that come late. */
class ResizeListeners {
  #listeners: ((size: TerminalSize) => void)[] = [];
  #latest: TerminalSize | undefined;
  #logger: StreamLogger;

  constructor(logger: StreamLogger) {
    this.#logger = logger;
  }

  add(listener: (size: TerminalSize) => void): void {
    this.#listeners.push(listener);
    if (this.#latest) this.#call(listener, this.#latest);
  }

  emit(size: TerminalSize): void {
    this.#latest = size;
    for (const listener of this.#listeners) this.#call(listener, size);
  }

  #call(listener: (size: TerminalSize) => void, size: TerminalSize): void {
    try {
      listener({ ...size });
    } catch (error) {
      // A provider's listener must not take the session (or the process) down.
      this.#logger.warn({ err: error }, 'a terminal resize listener threw');
    }
  }
}

/** Reads resize messages into `listeners`; after garbage it keeps draining so the transport never stalls. */
function readResizes(resize: Readable, listeners: ResizeListeners, logger: StreamLogger): void {
  const decoder = new TerminalSizeDecoder((size) => listeners.emit(size));
  resize.on('data', (chunk: Buffer) => {
    if (decoder.failure !== undefined) return;
    if (!decoder.write(chunk)) logger.warn({ reason: decoder.failure }, 'stopped reading terminal resize messages');
  });
  resize.on('error', () => {});
}

/** Ends a writable stream and waits until what was written has gone out (or it was destroyed). */
async function endAndFlush(stream: Writable | undefined): Promise<void> {
  if (!stream || stream.destroyed) return;
  if (!stream.writableEnded) stream.end();
  try {
    await finished(stream, { readable: false });
  } catch {
    // Destroyed under us: the client went away, nothing left to flush.
  }
}

/** The status for what the handler returned. */
function statusForExitCode(exitCode: number | undefined): StreamStatus {
  const code = exitCode ?? 0;
  if (!Number.isInteger(code) || code < 0 || code > 255) {
    return internalErrorStatus(`the provider returned an invalid exit code: ${String(exitCode)} (must be 0..255)`);
  }
  return exitCodeStatus(code);
}

/**
 * Runs one session on `transport`: calls the handler, then (unless the client has gone) ends
 * stdout and stderr, writes the status and closes the transport. Never rejects.
 */
export async function runRemoteCommand(
  transport: RemoteCommandTransport,
  options: ResolvedRemoteCommandOptions,
  handler: RemoteCommandHandler,
): Promise<void> {
  const { logger } = options;
  const resizeListeners = new ResizeListeners(logger);
  if (transport.resize) readResizes(transport.resize, resizeListeners, logger);
  const io: AttachIO = {
    stdin: transport.stdin,
    stdout: transport.stdout,
    stderr: options.tty ? undefined : transport.stderr,
    tty: options.tty,
    onResize: (listener) => resizeListeners.add(listener),
  };

  let status: StreamStatus | undefined;
  try {
    status = statusForExitCode(await handler(io, transport.gone));
  } catch (error) {
    if (transport.gone.aborted) {
      logger.debug({ err: error }, 'the session ended after the client went away');
    } else {
      const what =
        options.operation === 'attach' ? 'error attaching to container' : 'error executing command in container';
      logger.warn({ err: error }, `${options.operation} failed`);
      status = internalErrorStatus(`${what}: ${errorMessage(error)}`);
    }
  }

  try {
    if (status && !transport.gone.aborted) {
      await Promise.all([endAndFlush(transport.stdout), endAndFlush(transport.stderr)]);
      await transport.writeStatus(encodeStatus(status, transport.statusFormat));
    }
  } catch (error) {
    logger.debug({ err: error }, 'could not write the session status');
  }
  await transport.close();
}
