/**
 * The entry point of exec and attach on the kubelet API: one call per upgrade request.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { isWebSocketRequest, rejectUpgrade } from '../upgrade.ts';
import { type RemoteCommandHandler, type RemoteCommandOptions, resolveRemoteCommandOptions } from './session.ts';
import { serveSpdyRemoteCommand } from './spdy.ts';
import { serveWebSocketRemoteCommand } from './websocket.ts';

/**
 * Serves an exec or attach session on the socket of an HTTP upgrade (the `'upgrade'` event of
 * Node's `https.Server`: `request`, `socket`, `head`), over SPDY/3.1 or WebSocket, whichever the
 * request asks for. Authenticate, authorize and parse the query ({@link parseRemoteCommandQuery})
 * first; this takes the socket from there.
 *
 * The handler gets the session's streams once the client has set them up, and resolves with
 * the exit code; the client then gets its outputs ended and the status (exit code or error),
 * and the socket is closed. A failed handshake is answered with a plain HTTP error. Resolves
 * when the session is over and the socket closed; never rejects.
 */
export async function serveRemoteCommand(
  request: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  options: RemoteCommandOptions,
  handler: RemoteCommandHandler,
): Promise<void> {
  const resolved = resolveRemoteCommandOptions(options);
  if (!resolved.stdin && !resolved.stdout && !resolved.stderr) {
    rejectUpgrade(socket, 400, 'you must specify at least 1 of stdin, stdout, stderr');
    return;
  }
  // A socket error (a reset from the peer) must never become an uncaught exception; the
  // transports learn about it from the socket closing.
  socket.on('error', (error) => resolved.logger.debug({ err: error }, 'exec socket error'));
  try {
    if (isWebSocketRequest(request)) await serveWebSocketRemoteCommand(request, socket, head, resolved, handler);
    else await serveSpdyRemoteCommand(request, socket, head, resolved, handler);
  } catch (error) {
    resolved.logger.warn({ err: error }, 'exec session failed');
    socket.destroy();
  }
}
