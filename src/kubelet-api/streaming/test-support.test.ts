/**
 * Clients and a server for the streaming tests, over real loopback sockets. Named `*.test.ts`
 * so the package build leaves it out; it has no tests of its own.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http, { type IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import type { TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { WebSocket } from 'ws';
import { SpdyConnection, type SpdyHeaders, type SpdyStream } from './spdy/index.ts';

/** Polls `condition` until it holds, failing after `timeout` ms. */
export async function waitUntil(condition: () => boolean, what: string, timeout = 5000): Promise<void> {
  const deadline = performance.now() + timeout;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await delay(2);
  }
}

/** Everything a stream yields until its end (or its close, for a destroyed stream). */
export function collect(stream: Readable): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    const done = () => resolve(Buffer.concat(chunks));
    stream.once('end', done);
    stream.once('close', done);
  });
}

export type UpgradeListener = (request: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** An HTTP server on 127.0.0.1 whose upgrades go to `onUpgrade`; closed after the test. */
export async function upgradeServer(t: TestContext, onUpgrade: UpgradeListener): Promise<number> {
  const server = http.createServer((_request, response) => response.writeHead(426).end());
  const sockets = new Set<Duplex>();
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    onUpgrade(request, socket, head);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return (server.address() as net.AddressInfo).port;
}

/** The response to a raw upgrade request. */
export interface UpgradeResponse {
  statusCode: number;
  headers: Record<string, string[]>;
  /** The body of a refusal (read to the end of the connection); empty for a 101. */
  body: string;
  socket: net.Socket;
  /** Bytes after the 101 response's head. */
  rest: Buffer;
}

/** Sends an upgrade request on a new connection and reads the response head (and a refusal's body). */
export async function rawUpgrade(
  port: number,
  options: { path?: string; method?: string; headers?: [string, string][] },
): Promise<UpgradeResponse> {
  // Half-open like the server's side, so the SPDY client hears out frames sent right before a hang-up.
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await once(socket, 'connect');
  const lines = [`${options.method ?? 'POST'} ${options.path ?? '/'} HTTP/1.1`, `Host: 127.0.0.1:${port}`];
  for (const [name, value] of options.headers ?? []) lines.push(`${name}: ${value}`);
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  let buffered = Buffer.alloc(0);
  let headEnd = -1;
  while (headEnd < 0) {
    const chunk = await new Promise<Buffer | undefined>((resolve) => {
      const onData = (data: Buffer) => finish(data);
      const onEnd = () => finish(undefined);
      const finish = (value: Buffer | undefined) => {
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.off('close', onEnd);
        socket.pause();
        resolve(value);
      };
      socket.on('data', onData);
      socket.once('end', onEnd);
      socket.once('close', onEnd);
      socket.resume();
    });
    if (!chunk) throw new Error(`connection closed before a response: ${buffered.toString('latin1')}`);
    buffered = Buffer.concat([buffered, chunk]);
    headEnd = buffered.indexOf('\r\n\r\n');
  }
  const [statusLine = '', ...headerLines] = buffered.subarray(0, headEnd).toString('latin1').split('\r\n');
  const statusCode = Number(statusLine.split(' ')[1]);
  const headers: Record<string, string[]> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    headers[name] = [...(headers[name] ?? []), line.slice(colon + 1).trim()];
  }
  const rest = buffered.subarray(headEnd + 4);
  let body = '';
  if (statusCode !== 101) {
    socket.resume();
    const chunks: Buffer[] = [rest];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(socket, 'end');
    socket.end();
    body = Buffer.concat(chunks).toString('utf8');
  }
  return { statusCode, headers, body, socket, rest };
}

/** A SPDY client session after a successful upgrade. */
export interface SpdyClient {
  connection: SpdyConnection;
  protocol: string | undefined;
  socket: net.Socket;
}

/** Upgrades to SPDY/3.1 offering `protocols` (one header line each) and starts a client session. */
export async function spdyClient(
  t: TestContext,
  port: number,
  protocols: string[],
  options: { path?: string; method?: string } = {},
): Promise<SpdyClient> {
  const response = await rawUpgrade(port, {
    ...options,
    headers: [
      ['Connection', 'Upgrade'],
      ['Upgrade', 'SPDY/3.1'],
      ...protocols.map((protocol): [string, string] => ['X-Stream-Protocol-Version', protocol]),
    ],
  });
  if (response.statusCode !== 101) throw new Error(`upgrade refused: ${response.statusCode} ${response.body}`);
  const connection = new SpdyConnection(response.socket, { role: 'client', head: response.rest });
  t.after(() => connection.destroy());
  return { connection, protocol: response.headers['x-stream-protocol-version']?.[0], socket: response.socket };
}

/** Opens a stream and waits for the server's SYN_REPLY. */
export function createStream(client: SpdyClient, headers: SpdyHeaders): Promise<SpdyStream> {
  return client.connection.createStream(headers, { timeout: 5000 });
}

/** A WebSocket client that records every message, opened on `path` with `protocols`. */
export async function webSocketClient(
  t: TestContext,
  port: number,
  path: string,
  protocols: string[],
): Promise<{ ws: WebSocket; messages: { data: Buffer; binary: boolean }[]; closed: Promise<number> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, protocols);
  const messages: { data: Buffer; binary: boolean }[] = [];
  ws.on('message', (data: Buffer, binary: boolean) => messages.push({ data, binary }));
  const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
  t.after(() => ws.terminate());
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.on('error', () => {});
  return { ws, messages, closed };
}

/**
 * A WebSocket client offering a subprotocol that is not an RFC 6455 token, such as
 * `SPDY/3.1+portforward.k8s.io` (client-go's gorilla/websocket sends it; `ws` and WHATWG
 * clients refuse to). The handshake is done by hand, then a `ws` socket takes over the
 * connection in client mode.
 */
export async function rawWebSocketClient(
  t: TestContext,
  port: number,
  path: string,
  protocolHeader: string,
): Promise<{ ws: WebSocket; protocol: string | undefined }> {
  const response = await rawUpgrade(port, {
    method: 'GET',
    path,
    headers: [
      ['Connection', 'Upgrade'],
      ['Upgrade', 'websocket'],
      ['Sec-WebSocket-Version', '13'],
      ['Sec-WebSocket-Key', randomBytes(16).toString('base64')],
      ['Sec-WebSocket-Protocol', protocolHeader],
    ],
  });
  if (response.statusCode !== 101) throw new Error(`upgrade refused: ${response.statusCode} ${response.body}`);
  const ws = new (WebSocket as unknown as new (address: null, protocols: undefined, options: object) => WebSocket)(
    null,
    undefined,
    {},
  );
  // A `ws` socket made without an address is a server socket; a client one masks its frames.
  (ws as unknown as { _isServer: boolean })._isServer = false;
  (ws as unknown as { setSocket(socket: Duplex, head: Buffer, options: object): void }).setSocket(
    response.socket,
    response.rest,
    { maxPayload: 64 * 1024 * 1024 },
  );
  response.socket.resume();
  ws.on('error', () => {});
  t.after(() => ws.terminate());
  return { ws, protocol: response.headers['sec-websocket-protocol']?.[0] };
}
