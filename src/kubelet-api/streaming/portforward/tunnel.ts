/**
 * Port-forward's SPDY carried inside a WebSocket (`SPDY/3.1+portforward.k8s.io`), as client-go's
 * tunneling dialer and the API server's `TunnelingHandler` (`streamtunnel.go`) speak it: the
 * SPDY byte stream is cut into binary messages at arbitrary points, in both directions.
 * A 1.36+ API server passes such a request through to a kubelet that declares
 * `ExtendWebSocketsToKubelet`.
 */
import type { IncomingMessage } from 'node:http';
import { Duplex } from 'node:stream';
import { type RawData, WebSocket } from 'ws';
import { SpdyConnection } from '../spdy/index.ts';
import {
  acceptWebSocket,
  negotiateStreamProtocol,
  rejectUpgrade,
  type StreamLogger,
  silentStreamLogger,
  webSocketProtocolOffers,
} from '../upgrade.ts';
import { PORT_FORWARD_PROTOCOL_V1, TUNNELING_PROTOCOL_PREFIX } from './constants.ts';
import type { PortForwardHandler, ResolvedPortForwardOptions } from './options.ts';
import { servePortForwardSession } from './spdy.ts';

/** True for a WebSocket subprotocol that tunnels SPDY (`SPDY/3.1+….k8s.io`, wsstream's test). */
export function isTunnelingProtocol(protocol: string): boolean {
  return protocol.startsWith(TUNNELING_PROTOCOL_PREFIX) && protocol.endsWith('.k8s.io');
}

/**
 * A WebSocket as a byte stream: binary messages in are bytes read, bytes written go out as
 * binary messages, ending it closes the socket normally. A text message is a protocol error
 * (client-go's `TunnelingConnection` refuses them too) and drops the socket. Like the other
 * transports it never emits 'error' because of the peer.
 */
export class WebSocketByteStream extends Duplex {
  #ws: WebSocket;
  #logger: StreamLogger;

  constructor(ws: WebSocket, logger: StreamLogger = silentStreamLogger) {
    super({ allowHalfOpen: true });
    this.#ws = ws;
    this.#logger = logger;
    ws.on('message', (data: RawData, isBinary: boolean) => this.#onMessage(data, isBinary));
    ws.on('error', (error: Error) => logger.debug({ err: error }, 'tunnel WebSocket error'));
    ws.on('close', (code: number) => this.#onClose(code));
    if (ws.readyState !== WebSocket.OPEN) this.#onClose(1006);
  }

  #onMessage(raw: RawData, isBinary: boolean): void {
    if (this.destroyed) return;
    if (!isBinary) {
      this.#logger.warn({}, 'text message in a SPDY tunnel; closing it');
      this.destroy();
      return;
    }
    const data = Buffer.isBuffer(raw) ? raw : Array.isArray(raw) ? Buffer.concat(raw) : Buffer.from(raw);
    if (data.length > 0 && !this.push(data) && !this.#ws.isPaused) this.#ws.pause();
  }

  #onClose(code: number): void {
    if (this.destroyed) return;
    // A close handshake is an orderly end of input; a lost socket (1006) loses everything.
    if (code === 1006) this.destroy();
    else this.push(null);
  }

  override _read(): void {
    if (this.#ws.isPaused) this.#ws.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#ws.readyState !== WebSocket.OPEN) {
      this.destroy();
      callback();
      return;
    }
    this.#ws.send(chunk, { binary: true }, () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.close(1000);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#ws.readyState !== WebSocket.CLOSED) this.#ws.terminate();
    callback(error);
  }
}

/**
 * Serves port-forward tunnelled in a WebSocket: negotiates the SPDY protocol named inside the
 * offered subprotocols (403 if none is `portforward.k8s.io`), answers with the tunnelling
 * subprotocol, then runs the SPDY port-forward server on the messages. Resolves when the
 * session is over and every handler has settled.
 */
export async function serveTunneledPortForward(
  request: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  options: ResolvedPortForwardOptions,
  handler: PortForwardHandler,
): Promise<void> {
  const { logger } = options;
  const offers = webSocketProtocolOffers(request)
    .filter(isTunnelingProtocol)
    .map((protocol) => protocol.slice(TUNNELING_PROTOCOL_PREFIX.length));
  const negotiation = negotiateStreamProtocol(offers, [PORT_FORWARD_PROTOCOL_V1]);
  if (!negotiation.ok) {
    logger.debug({ offers }, negotiation.message);
    rejectUpgrade(socket, negotiation.statusCode, negotiation.message, negotiation.headers);
    return;
  }
  const ws = await acceptWebSocket(request, socket, head, `${TUNNELING_PROTOCOL_PREFIX}${negotiation.protocol}`);
  if (!ws) return;
  const connection = new SpdyConnection(new WebSocketByteStream(ws, logger), {
    role: 'server',
    idleTimeout: options.idleTimeoutMs,
  });
  await servePortForwardSession(connection, options, handler);
}
