/**
 * The entry point of port-forward on the kubelet API: one call per upgrade request.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { isWebSocketRequest, webSocketProtocolOffers } from '../upgrade.ts';
import { type PortForwardHandler, type PortForwardOptions, resolvePortForwardOptions } from './options.ts';
import { serveSpdyPortForward } from './spdy.ts';
import { isTunnelingProtocol, serveTunneledPortForward } from './tunnel.ts';
import { serveWebSocketPortForward } from './websocket.ts';

/**
 * Serves a port-forward session on the socket of an HTTP upgrade (the `'upgrade'` event of
 * Node's `https.Server`: `request`, `socket`, `head`), over whichever transport the request
 * asks for:
 * - SPDY/3.1 `portforward.k8s.io` (kube-apiserver, `kubectl port-forward` through it);
 * - a WebSocket offering `SPDY/3.1+portforward.k8s.io`: the same SPDY inside WebSocket messages
 *   (a 1.36+ API server passing kubectl through) — chosen whenever offered, as the kubelet does;
 * - a WebSocket with the v4 channel protocol, for `options.ports` (the `?port=` of the URL).
 *
 * The handler is called once per forwarded connection. A failed handshake is answered with a
 * plain HTTP error. Resolves when the session is over and every handler has settled; never
 * rejects.
 */
export async function servePortForward(
  request: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  options: PortForwardOptions,
  handler: PortForwardHandler,
): Promise<void> {
  const resolved = resolvePortForwardOptions(options);
  // A socket error (a reset from the peer) must never become an uncaught exception; the
  // transports learn about it from the socket closing.
  socket.on('error', (error) => resolved.logger.debug({ err: error }, 'port-forward socket error'));
  try {
    if (!isWebSocketRequest(request)) {
      await serveSpdyPortForward(request, socket, head, resolved, handler);
    } else if (webSocketProtocolOffers(request).some(isTunnelingProtocol)) {
      await serveTunneledPortForward(request, socket, head, resolved, handler);
    } else {
      await serveWebSocketPortForward(request, socket, head, resolved, handler);
    }
  } catch (error) {
    resolved.logger.warn({ err: error }, 'port-forward session failed');
    socket.destroy();
  }
}
