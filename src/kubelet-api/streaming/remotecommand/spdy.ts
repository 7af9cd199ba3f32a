/**
 * Exec and attach over SPDY, the way kube-apiserver reaches a kubelet: the client opens one
 * stream per standard stream, each named by its `streamtype` header, in any order; the session
 * starts once all the expected ones are there (the CRI streaming server's `httpstream.go`).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { SpdyConnection, SpdyStream } from '../spdy/index.ts';
import { upgradeToSpdy } from '../upgrade.ts';
import {
  SPDY_REMOTE_COMMAND_PROTOCOLS,
  STREAM_PROTOCOL_V1,
  STREAM_PROTOCOL_V2,
  STREAM_PROTOCOL_V3,
  STREAM_PROTOCOL_V4,
  STREAM_TYPE_HEADER,
  type StreamType,
} from './constants.ts';
import { type RemoteCommandHandler, type ResolvedRemoteCommandOptions, runRemoteCommand } from './session.ts';

/** The stream types a protocol version knows: resize came with v3. */
function knownStreamTypes(protocol: string): ReadonlySet<string> {
  const types: StreamType[] = ['error', 'stdin', 'stdout', 'stderr'];
  if (protocol === STREAM_PROTOCOL_V3 || protocol === STREAM_PROTOCOL_V4) types.push('resize');
  return new Set(types);
}

/** How many streams the client opens for these options (`createHTTPStreamStreams`). */
export function expectedStreamCount(options: ResolvedRemoteCommandOptions, protocol: string): number {
  const resize = options.tty && protocol !== STREAM_PROTOCOL_V1 && protocol !== STREAM_PROTOCOL_V2;
  return 1 + Number(options.stdin) + Number(options.stdout) + Number(options.stderr) + Number(resize);
}

type SessionStreams = Partial<Record<StreamType, SpdyStream>>;

/**
 * Accepts streams as they come and resolves once the expected number of known ones has
 * arrived; undefined on the creation timeout or when the connection ends first. Streams after
 * that are refused. As in the kubelet, every stream is accepted (SYN_REPLY) on arrival, one of
 * an unknown type too (it just does not count), and a second stream of a type replaces the first.
 */
function waitForStreams(
  connection: SpdyConnection,
  protocol: string,
  options: ResolvedRemoteCommandOptions,
): Promise<SessionStreams | undefined> {
  const expected = expectedStreamCount(options, protocol);
  const known = knownStreamTypes(protocol);
  const { logger } = options;
  return new Promise((resolve) => {
    const streams: SessionStreams = {};
    let received = 0;
    let done = false;
    const finish = (result: SessionStreams | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      connection.off('close', onClose);
      resolve(result);
    };
    const onStream = (stream: SpdyStream) => {
      if (done) {
        logger.debug({ streamId: stream.id }, 'stream opened after the session started; refused');
        stream.refuse();
        return;
      }
      stream.accept();
      const type = stream.header(STREAM_TYPE_HEADER) ?? '';
      if (!known.has(type)) {
        logger.debug({ streamId: stream.id, streamType: type }, 'unexpected stream type');
        stream.resume();
        return;
      }
      streams[type as StreamType] = stream;
      received++;
      if (received === expected) finish(streams);
    };
    const onClose = () => finish(undefined);
    const timer = setTimeout(() => {
      logger.warn({ expected, received }, 'timed out waiting for the client to create streams');
      finish(undefined);
    }, options.streamCreationTimeoutMs);
    connection.on('stream', onStream);
    connection.once('close', onClose);
  });
}

/**
 * Serves one exec/attach session over SPDY on an upgrade request's socket. Resolves when the
 * session is over and its socket closed.
 */
export async function serveSpdyRemoteCommand(
  request: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  options: ResolvedRemoteCommandOptions,
  handler: RemoteCommandHandler,
): Promise<void> {
  const { logger } = options;
  const upgrade = upgradeToSpdy(request, socket, head, SPDY_REMOTE_COMMAND_PROTOCOLS, {
    idleTimeoutMs: options.idleTimeoutMs,
    logger,
  });
  if (!upgrade) return;
  const { connection, protocol } = upgrade;
  const closed = new Promise<void>((resolve) => {
    if (connection.closed) resolve();
    else connection.once('close', () => resolve());
  });
  connection.on('error', (error) => logger.debug({ err: error }, 'SPDY session error'));
  const gone = new AbortController();
  let ending = false;
  connection.once('close', () => {
    if (!ending) gone.abort(new Error('the client closed the exec session'));
  });

  const streams = await waitForStreams(connection, protocol, options);
  if (!streams) {
    connection.destroy();
    await closed;
    return;
  }
  const errorStream = streams.error;
  // The client never sends on these; drain them so a client that does cannot stall the session.
  for (const type of ['error', 'stdout', 'stderr'] as const) streams[type]?.resume();
  if (options.tty) streams.stderr?.end();
  else streams.resize?.resume();
  if (protocol === STREAM_PROTOCOL_V1) {
    // What the kubelet does for v1: the error stream is reset as soon as the session starts
    // (so v1 never reports a status) and stdin is half-closed from this side.
    errorStream?.reset();
    streams.stdin?.end();
  }

  await runRemoteCommand(
    {
      stdin: streams.stdin,
      stdout: streams.stdout,
      stderr: streams.stderr,
      resize: options.tty ? streams.resize : undefined,
      statusFormat: protocol === STREAM_PROTOCOL_V4 ? 'json' : 'text',
      gone: gone.signal,
      async writeStatus(status) {
        if (!errorStream || errorStream.destroyed) return;
        ending = true;
        errorStream.end(status);
        await finished(errorStream, { readable: false }).catch(() => {});
      },
      async close() {
        ending = true;
        // Ends every stream this side still has open (FIN), then GOAWAY; the client hangs up.
        connection.close();
        await closed;
      },
    },
    options,
    handler,
  );
}
