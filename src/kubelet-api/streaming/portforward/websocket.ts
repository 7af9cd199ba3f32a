/**
 * Port-forward over a WebSocket with the channel protocol (`v4.channel.k8s.io`,
 * `v4.base64.channel.k8s.io`, or no subprotocol), as the CRI streaming server's
 * `portforward/websocket.go` serves it to the JavaScript and Python clients.
 *
 * The ports come from the URL (`?port=80&port=443`). Port i has two channels: data on 2i
 * (both ways) and error on 2i+1 (to the client). The first message on each is the port as a
 * little-endian uint16. Each port gets one handler call for the life of the socket; the socket
 * closes once they have all returned.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorMessage } from '../../../errors.ts';
import { acceptWebSocket, rejectUpgrade, selectWebSocketProtocol, webSocketProtocolOffers } from '../upgrade.ts';
import { type ChannelMode, ChannelWebSocket } from '../upgrade-websocket.ts';
import { PARAM_PORT, WEBSOCKET_PORT_FORWARD_PROTOCOLS } from './constants.ts';
import { forwardingErrorMessage, type PortForwardHandler, type ResolvedPortForwardOptions } from './options.ts';

/** The first message of a port's channels: the port number, little-endian. */
export function portPrefix(port: number): Buffer {
  const bytes = Buffer.alloc(2);
  bytes.writeUInt16LE(port);
  return bytes;
}

/**
 * Serves a channel-protocol port-forward session on a WebSocket upgrade request's socket.
 * Resolves when the socket has closed and every handler has settled.
 */
export async function serveWebSocketPortForward(
  request: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  options: ResolvedPortForwardOptions,
  handler: PortForwardHandler,
): Promise<void> {
  const { logger, ports } = options;
  if (ports.length === 0) {
    rejectUpgrade(socket, 400, `query parameter "${PARAM_PORT}" is required`);
    return;
  }
  const offers = webSocketProtocolOffers(request);
  const protocol = selectWebSocketProtocol(offers, WEBSOCKET_PORT_FORWARD_PROTOCOLS);
  if (protocol === undefined) {
    const message = `requested protocol(s) are not supported: [${offers.join(' ')}]`;
    logger.debug({ offers }, message);
    rejectUpgrade(socket, 403, message);
    return;
  }
  const ws = await acceptWebSocket(request, socket, head, protocol);
  if (!ws) return;
  const connection = new ChannelWebSocket(ws, {
    base64: protocol.includes('base64'),
    streamClose: false,
    channels: ports.flatMap((): ChannelMode[] => ['readwrite', 'write']),
    idleTimeoutMs: options.idleTimeoutMs,
    logger,
  });
  const closed = new Promise<void>((resolve) => {
    if (connection.closed) resolve();
    else connection.once('close', () => resolve());
  });
  const gone = new AbortController();
  let ending = false;
  connection.once('close', () => {
    if (!ending) gone.abort(new Error('the client closed the port-forward session'));
  });
  if (connection.closed) gone.abort(new Error('the client closed the port-forward session'));

  await Promise.all(
    ports.map(async (port, index) => {
      const data = connection.channels[2 * index] as Duplex;
      const error = connection.channels[2 * index + 1] as Duplex;
      connection.sendMessage(2 * index, portPrefix(port));
      connection.sendMessage(2 * index + 1, portPrefix(port));
      try {
        await handler(port, data, gone.signal);
      } catch (failure) {
        if (gone.signal.aborted) {
          logger.debug({ port, err: failure }, 'forwarded connection ended by the client');
          return;
        }
        logger.warn({ port, err: failure }, 'port forwarding failed');
        await new Promise<void>((resolve) =>
          error.write(forwardingErrorMessage(port, options.pod, errorMessage(failure)), () => resolve()),
        );
      }
    }),
  );
  ending = true;
  // What the handlers wrote is queued in the channels: let it out before the close frame.
  await Promise.all(
    connection.channels.map(
      (channel) =>
        new Promise<void>((resolve) => {
          if (channel.destroyed || channel.writableFinished) resolve();
          else channel.end(() => resolve());
        }),
    ),
  );
  await connection.close();
  await closed;
}
