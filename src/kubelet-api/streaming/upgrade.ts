/**
 * The HTTP upgrade that starts every exec, attach and port-forward session on the kubelet API,
 * done on the raw socket of Node's `'upgrade'` event (which fires for GET and POST alike).
 *
 * Two transports arrive here:
 * - SPDY/3.1 (`Upgrade: SPDY/3.1`), which kube-apiserver uses towards a kubelet. The version
 *   of the stream protocol is negotiated with `X-Stream-Protocol-Version` headers, as
 *   apimachinery's `httpstream.Handshake` does: a missing header is 400, no common version is
 *   403 with `X-Accepted-Stream-Protocol-Versions`, both as plain HTTP before any upgrade.
 * - WebSocket (`Upgrade: websocket`), with the Kubernetes channel subprotocols; see
 *   `upgrade-websocket.ts` for the framing.
 */
import http, { type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { DEFAULT_IDLE_TIMEOUT, SpdyConnection } from './spdy/index.ts';

/** Request header with the client's stream protocol offers, one or more lines, possibly comma-joined. */
export const HEADER_PROTOCOL_VERSION = 'X-Stream-Protocol-Version';
/** Response header of a 403: the protocols the server would have accepted. */
export const HEADER_ACCEPTED_PROTOCOL_VERSIONS = 'X-Accepted-Stream-Protocol-Versions';
/** Default time the client has to open the streams of a session: 30 s, the kubelet's `DefaultStreamCreationTimeout`. */
export const DEFAULT_STREAM_CREATION_TIMEOUT = 30_000;
/** Default idle timeout of a session: 4 h, the CRI streaming server's `StreamIdleTimeout`. */
export const DEFAULT_STREAM_IDLE_TIMEOUT = DEFAULT_IDLE_TIMEOUT;

/**
 * The part of a pino logger the streaming servers use. A pino `Logger` fits; so does a test
 * double. Debug is for protocol detail, warn for sessions that fail because of the client.
 */
export interface StreamLogger {
  debug(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** Logs nothing. */
export const silentStreamLogger: StreamLogger = {
  debug() {},
  warn() {},
};

/** All values of a request header (every line, every comma-separated item), trimmed, empty ones dropped. */
export function headerValues(request: IncomingMessage, name: string): string[] {
  const lines = request.headersDistinct[name.toLowerCase()];
  if (!lines) return [];
  const values: string[] = [];
  for (const line of lines) {
    for (const item of line.split(',')) {
      const value = item.trim();
      if (value.length > 0) values.push(value);
    }
  }
  return values;
}

/** True when a `Connection` header line mentions `upgrade` (apimachinery's `IsUpgradeRequest`). */
export function isUpgradeRequest(request: IncomingMessage): boolean {
  const lines = request.headersDistinct.connection ?? [];
  return lines.some((line) => line.toLowerCase().includes('upgrade'));
}

/** True for a WebSocket upgrade: `Upgrade: websocket` and `Connection: Upgrade` (wsstream's `IsWebSocketRequest`). */
export function isWebSocketRequest(request: IncomingMessage): boolean {
  return (request.headers.upgrade ?? '').toLowerCase() === 'websocket' && isUpgradeRequest(request);
}

/** True for a SPDY/3.1 upgrade request. */
export function isSpdyRequest(request: IncomingMessage): boolean {
  return (request.headers.upgrade ?? '').toLowerCase().includes('spdy/3.1') && isUpgradeRequest(request);
}

/** The outcome of {@link negotiateStreamProtocol}. */
export type StreamProtocolNegotiation =
  | { ok: true; protocol: string }
  | { ok: false; statusCode: 400 | 403; message: string; headers: Record<string, string[]> };

/**
 * Picks the stream protocol of a SPDY upgrade, as apimachinery's `httpstream.Handshake`: the
 * first of the client's offers, in the client's order, that the server supports. Clients list
 * their offers newest first (client-go: v5, v4, v3, v2, channel.k8s.io), so this is also the
 * newest version both sides know.
 */
export function negotiateStreamProtocol(
  offers: readonly string[] | undefined,
  serverProtocols: readonly string[],
): StreamProtocolNegotiation {
  if (offers === undefined) {
    return {
      ok: false,
      statusCode: 400,
      message: `unable to upgrade: header ${HEADER_PROTOCOL_VERSION} does not exist in request`,
      headers: {},
    };
  }
  if (offers.length === 0) {
    return {
      ok: false,
      statusCode: 400,
      message: `unable to upgrade: header ${HEADER_PROTOCOL_VERSION} contains no valid protocols`,
      headers: {},
    };
  }
  const protocol = offers.find((offer) => serverProtocols.includes(offer));
  if (protocol === undefined) {
    return {
      ok: false,
      statusCode: 403,
      message:
        `unable to upgrade: unable to negotiate protocol: client supports [${offers.join(' ')}], ` +
        `server accepts [${serverProtocols.join(' ')}]`,
      headers: { [HEADER_ACCEPTED_PROTOCOL_VERSIONS]: [...serverProtocols] },
    };
  }
  return { ok: true, protocol };
}

/**
 * Answers an upgrade request with a plain HTTP error (the text as body, as Go's `http.Error`
 * writes it) and closes the socket once it is written. For refusals before any upgrade:
 * failed negotiation, bad query parameters, authentication.
 */
export function rejectUpgrade(
  socket: Duplex,
  statusCode: number,
  message: string,
  headers: Record<string, string | readonly string[]> = {},
): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${message}\n`;
  const lines = [
    `HTTP/1.1 ${statusCode} ${http.STATUS_CODES[statusCode] ?? 'Error'}`,
    'Content-Type: text/plain; charset=utf-8',
    'X-Content-Type-Options: nosniff',
    // One line per value, as Go's Header.Add writes them.
    ...Object.entries(headers).flatMap(([name, values]) =>
      (typeof values === 'string' ? [values] : values).map((value) => `${name}: ${value}`),
    ),
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
  ];
  // The peer may not read (or hang up first): never wait for it, and never leave the socket behind.
  socket.on('error', () => socket.destroy());
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`, () => socket.destroy());
}

/** Options of {@link upgradeToSpdy}. */
export interface SpdyUpgradeOptions {
  /** Milliseconds without a frame before the session is closed. 0 disables. Default 4 h. */
  idleTimeoutMs?: number;
  logger?: StreamLogger;
}

/** A SPDY session that passed the handshake. */
export interface SpdyUpgrade {
  connection: SpdyConnection;
  /** The negotiated `X-Stream-Protocol-Version`. */
  protocol: string;
}

/**
 * The server side of a SPDY/3.1 upgrade: negotiates the stream protocol, writes `101
 * Switching Protocols` on the socket and starts a server {@link SpdyConnection} on it, with
 * `head` (bytes the HTTP parser read past the request) as its first input. On a failed
 * handshake it answers 400 or 403, closes the socket and returns undefined.
 */
export function upgradeToSpdy(
  request: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  serverProtocols: readonly string[],
  options: SpdyUpgradeOptions = {},
): SpdyUpgrade | undefined {
  const logger = options.logger ?? silentStreamLogger;
  const offers = request.headersDistinct[HEADER_PROTOCOL_VERSION.toLowerCase()]
    ? headerValues(request, HEADER_PROTOCOL_VERSION)
    : undefined;
  const negotiation = negotiateStreamProtocol(offers, serverProtocols);
  if (!negotiation.ok) {
    logger.debug({ offers, statusCode: negotiation.statusCode }, negotiation.message);
    rejectUpgrade(socket, negotiation.statusCode, negotiation.message, negotiation.headers);
    return undefined;
  }
  // After the negotiation, as in apimachinery's UpgradeResponse.
  if (!isSpdyRequest(request)) {
    rejectUpgrade(socket, 400, 'unable to upgrade: missing upgrade headers in request');
    return undefined;
  }
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return undefined;
  }
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\n' +
      'Connection: Upgrade\r\n' +
      'Upgrade: SPDY/3.1\r\n' +
      `${HEADER_PROTOCOL_VERSION}: ${negotiation.protocol}\r\n\r\n`,
  );
  setNoDelay(socket);
  const connection = new SpdyConnection(socket, {
    role: 'server',
    head,
    idleTimeout: options.idleTimeoutMs ?? DEFAULT_STREAM_IDLE_TIMEOUT,
  });
  return { connection, protocol: negotiation.protocol };
}

/** Interactive sessions send keystrokes: do not let Nagle hold them back. */
function setNoDelay(socket: Duplex): void {
  const tcp = socket as Duplex & { setNoDelay?: (noDelay: boolean) => unknown };
  if (typeof tcp.setNoDelay === 'function') tcp.setNoDelay(true);
}

// -------------------------------------------------------------------------------------------
// WebSocket

/** The subprotocols a WebSocket request offers (`Sec-WebSocket-Protocol`, all lines, comma-separated). */
export function webSocketProtocolOffers(request: IncomingMessage): string[] {
  return headerValues(request, 'Sec-WebSocket-Protocol');
}

/**
 * Picks a WebSocket subprotocol as wsstream's handshake does: the first offer, in the
 * client's order, that is supported; a request without offers counts as offering `""`.
 * Undefined when nothing matches.
 */
export function selectWebSocketProtocol(offers: readonly string[], supported: readonly string[]): string | undefined {
  const candidates = offers.length === 0 ? [''] : offers;
  return candidates.find((offer) => supported.includes(offer));
}

/** Largest WebSocket message accepted: a SPDY frame of 16 MiB fits in a tunnel message, with room. */
const MAX_WEBSOCKET_PAYLOAD = 32 * 1024 * 1024;

/** The subprotocol chosen for each request being upgraded, added to the 101 response by the 'headers' listener. */
const chosenProtocols = new WeakMap<IncomingMessage, string>();

/**
 * One WebSocketServer for every upgrade: with `noServer` it only performs handshakes, and it
 * keeps no list of clients (each session owns its socket).
 */
let sharedServer: WebSocketServer | undefined;

function webSocketServer(): WebSocketServer {
  if (!sharedServer) {
    sharedServer = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: MAX_WEBSOCKET_PAYLOAD,
    });
    sharedServer.on('headers', (headers, request) => {
      const protocol = chosenProtocols.get(request);
      if (protocol) headers.push(`Sec-WebSocket-Protocol: ${protocol}`);
    });
  }
  return sharedServer;
}

/**
 * Completes a WebSocket upgrade with `protocol` (from {@link selectWebSocketProtocol}; `""`
 * sends no `Sec-WebSocket-Protocol`). The socket's own `protocol` property stays empty: the
 * caller knows what it chose. Resolves with the open socket; resolves undefined when
 * the handshake is invalid (`ws` has then answered 400/405 and closed the socket) or the
 * socket is gone.
 */
export function acceptWebSocket(
  request: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  protocol: string,
): Promise<WebSocket | undefined> {
  chosenProtocols.set(request, protocol);
  return new Promise((resolve) => {
    let settled = false;
    const onClose = () => {
      if (settled) return;
      settled = true;
      resolve(undefined);
    };
    // `ws` answers a bad handshake itself and never calls back; the socket closing tells.
    socket.once('close', onClose);
    // `ws` only takes RFC 6455 tokens as subprotocols and answers 400 to anything else, but
    // `SPDY/3.1+portforward.k8s.io` has a '/' (Go's servers take it). The protocol is chosen
    // already: hide the header from `ws` during the handshake, and write the answer ourselves.
    const offered = request.headers['sec-websocket-protocol'];
    delete request.headers['sec-websocket-protocol'];
    try {
      webSocketServer().handleUpgrade(request, socket, head, (webSocket) => {
        socket.off('close', onClose);
        if (settled) {
          webSocket.terminate();
          return;
        }
        settled = true;
        // `ws` reads in flowing mode; a caller may have paused the socket while it authorized.
        socket.resume();
        resolve(webSocket);
      });
    } finally {
      if (offered !== undefined) request.headers['sec-websocket-protocol'] = offered;
    }
  });
}
