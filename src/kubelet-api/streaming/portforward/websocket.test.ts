import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { type TestContext, test } from 'node:test';
import { WebSocket } from 'ws';
import { SpdyConnection } from '../spdy/index.ts';
import {
  collect,
  createStream,
  rawWebSocketClient,
  type SpdyClient,
  upgradeServer,
  waitUntil,
  webSocketClient,
} from '../test-support.test.ts';
import { type PortForwardHandler, parsePortForwardPorts, servePortForward, WebSocketByteStream } from './index.ts';

/** A server that takes the ports from the URL, as the kubelet API does. */
async function forwardServer(t: TestContext, handler: PortForwardHandler) {
  const sessions: Promise<void>[] = [];
  const port = await upgradeServer(t, (request, socket, head) => {
    const ports = parsePortForwardPorts(new URL(request.url ?? '/', 'http://x').searchParams);
    sessions.push(servePortForward(request, socket, head, { ports, pod: 'ns/web' }, handler));
  });
  return { port, sessions };
}

/** Reads until `end` appears (WebSocket port-forward has no half-close), leaving the stream open. */
function readUntil(stream: Readable, end: string): Promise<string> {
  return new Promise((resolve) => {
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      if (!seen.includes(end)) return;
      stream.off('data', onData);
      resolve(seen);
    };
    stream.on('data', onData);
  });
}

/** Port 80 answers "<port>:" plus what it got up to a '.'; port 443 refuses. */
const handler: PortForwardHandler = async (port, stream) => {
  if (port === 443) throw new Error('connection refused');
  stream.write(`${port}:${await readUntil(stream, '.')}`);
};

for (const protocol of ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io', '']) {
  test(`WebSocket port-forward ${protocol || '(no subprotocol)'}: port prefixes, data on 2i, errors on 2i+1`, async (t) => {
    const server = await forwardServer(t, handler);
    const client = await webSocketClient(
      t,
      server.port,
      '/portForward/ns/web?port=80&port=443',
      protocol ? [protocol] : [],
    );
    const base64 = protocol.includes('base64');
    const decode = ({ data }: { data: Buffer }) => {
      if (!base64) return { channel: data[0] as number, payload: data.subarray(1) };
      const text = data.toString('latin1');
      return { channel: text.charCodeAt(0) - 48, payload: Buffer.from(text.slice(1), 'base64') };
    };
    const send = (channel: number, payload: string) =>
      base64
        ? client.ws.send(String.fromCharCode(48 + channel) + Buffer.from(payload).toString('base64'))
        : client.ws.send(Buffer.concat([Buffer.from([channel]), Buffer.from(payload)]));
    await waitUntil(() => client.messages.length >= 4, 'the port prefixes');
    send(0, 'hello');
    send(0, ' there.');
    assert.equal(await client.closed, 1000);
    const messages = client.messages.map(decode);
    // The first message of each channel is its port, little-endian.
    assert.deepEqual(
      messages.slice(0, 4).map(({ channel, payload }) => [channel, [...payload]]),
      [
        [0, [80, 0]],
        [1, [80, 0]],
        [2, [0xbb, 0x01]],
        [3, [0xbb, 0x01]],
      ],
    );
    const text = (channel: number) =>
      Buffer.concat(
        messages
          .slice(4)
          .filter((message) => message.channel === channel)
          .map((message) => message.payload),
      ).toString();
    assert.equal(text(0), '80:hello there.');
    assert.equal(text(1), '');
    assert.equal(text(3), 'error forwarding port 443 to pod ns/web: connection refused');
    await Promise.all(server.sessions);
  });
}

test('WebSocket port-forward needs ?port=, and a known subprotocol', async (t) => {
  const server = await forwardServer(t, handler);
  for (const [path, protocols, status] of [
    ['/portForward/ns/web', ['v4.channel.k8s.io'], 400],
    ['/portForward/ns/web?port=80', ['channel.k8s.io'], 403],
  ] as const) {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}${path}`, [...protocols]);
    const error = await new Promise<Error>((resolve) => ws.once('error', resolve));
    assert.match(error.message, new RegExp(String(status)));
  }
});

test('a WebSocket port-forward client that vanishes aborts the handlers', async (t) => {
  let aborted = 0;
  const server = await forwardServer(t, async (_port, stream, signal) => {
    stream.write('hi');
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    aborted++;
  });
  const client = await webSocketClient(t, server.port, '/portForward/ns/web?port=1,2', ['v4.channel.k8s.io']);
  await waitUntil(() => client.messages.length >= 6, 'the prefixes and the greetings');
  client.ws.terminate();
  await Promise.all(server.sessions);
  assert.equal(aborted, 2);
});

/** Opens a tunnel: a WebSocket whose binary messages carry a SPDY client session. */
async function tunnelClient(t: TestContext, port: number, protocol: string): Promise<SpdyClient & { ws: WebSocket }> {
  const { ws, protocol: answer } = await rawWebSocketClient(t, port, '/portForward/ns/web', protocol);
  const connection = new SpdyConnection(new WebSocketByteStream(ws), { role: 'client' });
  t.after(() => connection.destroy());
  // No helper used here needs the raw socket.
  return { connection, protocol: answer, socket: undefined as never, ws };
}

test('SPDY tunnelled in a WebSocket: SPDY/3.1+portforward.k8s.io carries the port-forward streams', async (t) => {
  const server = await forwardServer(t, async (port, stream) => {
    if (port === 443) throw new Error('refused');
    const input = await collect(stream as Readable);
    stream.end(input);
  });
  const client = await tunnelClient(t, server.port, 'SPDY/3.1+portforward.k8s.io');
  assert.equal(client.protocol, 'SPDY/3.1+portforward.k8s.io');
  const open = async (port: number, requestid: string) => {
    const error = await createStream(client, { streamtype: 'error', port: String(port), requestid });
    error.end();
    const errorText = collect(error);
    const data = await createStream(client, { streamtype: 'data', port: String(port), requestid });
    return { error, errorText, data };
  };
  const upload = randomBytes(2 * 1024 * 1024);
  const echo = await open(80, '0');
  echo.data.end(upload);
  assert.ok((await collect(echo.data)).equals(upload));
  assert.equal((await echo.errorText).length, 0);
  const refused = await open(443, '1');
  assert.equal((await refused.errorText).toString(), 'error forwarding port 443 to pod ns/web: refused');
  client.connection.close();
  await Promise.all(server.sessions);
});

test('a tunnel refuses an unknown SPDY protocol with 403, and drops a text message', async (t) => {
  const server = await forwardServer(t, async () => {});
  await assert.rejects(
    rawWebSocketClient(t, server.port, '/portForward/ns/web', 'SPDY/3.1+v9.portforward.k8s.io'),
    /upgrade refused: 403/,
  );

  const client = await tunnelClient(t, server.port, 'SPDY/3.1+portforward.k8s.io');
  const closed = new Promise((resolve) => client.ws.once('close', resolve));
  client.ws.send('not binary');
  await closed;
  await Promise.all(server.sessions);
});
