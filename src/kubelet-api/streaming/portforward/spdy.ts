/**
 * Port-forward over SPDY (`portforward.k8s.io`), as the CRI streaming server's
 * `portforward/httpstream.go` serves it.
 *
 * One session carries any number of forwarded connections. For each, the client opens two
 * streams with the same `port` and `requestid` headers: `streamtype: error` (which it
 * half-closes at once and then reads) and `streamtype: data` (the bytes). The pair is matched
 * by request ID, or for old clients without one by stream ID (the data stream is the error
 * stream's ID + 2). A stream with a bad `port` or `streamtype` is reset; a pair still
 * incomplete after the creation timeout is dropped. Anything written on an error stream makes
 * kubectl end the whole session, so it is written only when forwarding really failed.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorMessage } from '../../../errors.ts';
import { RstStatus, type SpdyConnection, type SpdyStream } from '../spdy/index.ts';
import { upgradeToSpdy } from '../upgrade.ts';
import { PORT_FORWARD_PROTOCOL_V1, PORT_HEADER, REQUEST_ID_HEADER, STREAM_TYPE_HEADER } from './constants.ts';
import { forwardingErrorMessage, type PortForwardHandler, type ResolvedPortForwardOptions } from './options.ts';
import { parsePort } from './ports.ts';

/** The two streams of one forwarded connection, while they are arriving. */
interface StreamPair {
  requestId: string;
  data: SpdyStream | undefined;
  error: SpdyStream | undefined;
  timer: NodeJS.Timeout;
}

/** Why a new stream is not acceptable, as the kubelet's `httpStreamReceived` checks it; undefined if it is. */
export function invalidPortForwardStream(headers: {
  port: string | undefined;
  streamType: string | undefined;
}): string | undefined {
  if (!headers.port) return `"${PORT_HEADER}" header is required`;
  if (parsePort(headers.port) === undefined) return `unable to parse "${headers.port}" as a port`;
  if (!headers.streamType) return `"${STREAM_TYPE_HEADER}" header is required`;
  if (headers.streamType !== 'error' && headers.streamType !== 'data') {
    return `invalid stream type "${headers.streamType}"`;
  }
  return undefined;
}

/**
 * Serves port-forward on an established SPDY session (a socket, or a WebSocket tunnel).
 * Resolves once the session has closed and every handler has settled.
 */
export async function servePortForwardSession(
  connection: SpdyConnection,
  options: ResolvedPortForwardOptions,
  handler: PortForwardHandler,
): Promise<void> {
  const { logger } = options;
  const pairs = new Map<string, StreamPair>();
  const running = new Set<Promise<void>>();
  const session = new AbortController();
  const closed = new Promise<void>((resolve) => {
    if (connection.closed) resolve();
    else connection.once('close', () => resolve());
  });
  connection.on('error', (error) => logger.debug({ err: error }, 'port-forward SPDY session error'));

  const dropPair = (pair: StreamPair) => {
    clearTimeout(pair.timer);
    if (pairs.get(pair.requestId) === pair) pairs.delete(pair.requestId);
  };

  const onTimeout = (pair: StreamPair) => {
    dropPair(pair);
    const message = `(request=${pair.requestId}) timed out waiting for streams`;
    logger.warn({ requestId: pair.requestId }, message);
    if (pair.error && !pair.error.destroyed) pair.error.end(message);
    pair.data?.reset();
  };

  const forward = (pair: StreamPair, data: SpdyStream, error: SpdyStream) => {
    const port = parsePort(data.header(PORT_HEADER) ?? '') as number;
    const controller = new AbortController();
    const onSessionEnd = () => controller.abort(session.signal.reason);
    session.signal.addEventListener('abort', onSessionEnd, { once: true });
    // The data stream closing before the handler is done means the client reset it (or the
    // session is gone): nobody is left to forward to.
    const onDataClose = () => controller.abort(new Error('the client closed the forwarded connection'));
    data.once('close', onDataClose);
    const run = (async () => {
      try {
        await handler(port, data, controller.signal);
        if (!data.destroyed && !data.writableEnded) data.end();
        if (!error.destroyed && !error.writableEnded) error.end();
      } catch (failure) {
        if (controller.signal.aborted) {
          logger.debug({ port, requestId: pair.requestId, err: failure }, 'forwarded connection ended by the client');
          data.destroy();
          error.destroy();
          return;
        }
        const message = forwardingErrorMessage(port, options.pod, errorMessage(failure));
        logger.warn({ port, requestId: pair.requestId, err: failure }, 'port forwarding failed');
        // The text must be on the wire before the resets: a reset drops what is still queued.
        await new Promise<void>((resolve) => {
          if (error.destroyed || error.writableEnded) resolve();
          else error.write(message, () => resolve());
        });
        data.reset();
        error.reset();
      } finally {
        data.off('close', onDataClose);
        session.signal.removeEventListener('abort', onSessionEnd);
      }
    })();
    running.add(run);
    void run.finally(() => running.delete(run));
  };

  connection.on('stream', (stream) => {
    const streamType = stream.header(STREAM_TYPE_HEADER);
    const problem = invalidPortForwardStream({ port: stream.header(PORT_HEADER), streamType });
    if (problem) {
      logger.debug({ streamId: stream.id, problem }, 'port-forward stream rejected');
      stream.refuse(RstStatus.CANCEL);
      return;
    }
    stream.accept();
    // Only the error stream's readable side is unused; the client sends nothing on it.
    if (streamType === 'error') stream.resume();
    let requestId = stream.header(REQUEST_ID_HEADER) ?? '';
    if (requestId === '') {
      // Clients before request IDs open the error stream, then the data stream right after it.
      requestId = String(streamType === 'error' ? stream.id : stream.id - 2);
    }
    let pair = pairs.get(requestId);
    if (!pair) {
      const created: StreamPair = {
        requestId,
        data: undefined,
        error: undefined,
        timer: setTimeout(() => onTimeout(created), options.streamCreationTimeoutMs),
      };
      pair = created;
      pairs.set(requestId, pair);
    }
    const type = streamType as 'data' | 'error';
    if (pair[type]) {
      const message = `error processing stream for request ${requestId}: ${type} stream already assigned`;
      logger.warn({ requestId }, message);
      if (pair.error && !pair.error.destroyed && !pair.error.writableEnded) pair.error.write(message);
      stream.reset();
      return;
    }
    pair[type] = stream;
    if (pair.data && pair.error) {
      dropPair(pair);
      forward(pair, pair.data, pair.error);
    }
  });

  await closed;
  session.abort(new Error('the port-forward session closed'));
  for (const pair of pairs.values()) clearTimeout(pair.timer);
  pairs.clear();
  await Promise.allSettled([...running]);
}

/**
 * Serves a port-forward session over SPDY on an upgrade request's socket. Resolves when the
 * session is over and every handler has settled.
 */
export async function serveSpdyPortForward(
  request: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  options: ResolvedPortForwardOptions,
  handler: PortForwardHandler,
): Promise<void> {
  const upgrade = upgradeToSpdy(request, socket, head, [PORT_FORWARD_PROTOCOL_V1], {
    idleTimeoutMs: options.idleTimeoutMs,
    logger: options.logger,
  });
  if (!upgrade) return;
  await servePortForwardSession(upgrade.connection, options, handler);
}
