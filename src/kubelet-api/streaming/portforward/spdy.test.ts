import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { type Duplex, PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type TestContext, test } from 'node:test';
import { RstStatus, type SpdyHeaders, type SpdyStream, SpdyStreamResetError } from '../spdy/index.ts';
import { collect, createStream, type SpdyClient, spdyClient, upgradeServer, waitUntil } from '../test-support.test.ts';
import { type PortForwardHandler, type PortForwardOptions, servePortForward } from './index.ts';

async function forwardServer(t: TestContext, options: PortForwardOptions, handler: PortForwardHandler) {
  const sessions: Promise<void>[] = [];
  const port = await upgradeServer(t, (request, socket, head) => {
    sessions.push(servePortForward(request, socket, head, options, handler));
  });
  return { port, sessions };
}

/** Echoes what the client sends, then ends. */
const echo: PortForwardHandler = async (_port, stream) => {
  await pipeline(stream, new PassThrough(), stream);
};

/** What kubectl does per local connection: the error stream (half-closed at once), then the data stream. */
async function forwardedConnection(client: SpdyClient, headers: SpdyHeaders) {
  const error = await createStream(client, { ...headers, streamtype: 'error' });
  error.end();
  const errorText = collect(error);
  const data = await createStream(client, { ...headers, streamtype: 'data' });
  return { error, errorText, data };
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

test('two concurrent forwarded connections move 10 MB each, byte-exact; the error streams stay empty', async (t) => {
  const ports: number[] = [];
  const server = await forwardServer(t, {}, async (port, stream, signal) => {
    ports.push(port);
    await echo(port, stream, signal);
  });
  const client = await spdyClient(t, server.port, ['portforward.k8s.io'], { method: 'GET' });
  assert.equal(client.protocol, 'portforward.k8s.io');
  const size = 10 * 1024 * 1024;
  await Promise.all(
    [8080, 9090].map(async (port, index) => {
      const connection = await forwardedConnection(client, { port: String(port), requestid: String(index) });
      const upload = randomBytes(size);
      const received = collect(connection.data);
      connection.data.end(upload);
      assert.equal(sha256(await received), sha256(upload));
      assert.equal((await connection.errorText).length, 0);
    }),
  );
  assert.deepEqual(ports.sort(), [8080, 9090]);
  client.connection.close();
  await Promise.all(server.sessions);
});

test('streams with a missing or bad port or stream type are reset; the session goes on', async (t) => {
  let calls = 0;
  const server = await forwardServer(t, {}, async (port, stream, signal) => {
    calls++;
    await echo(port, stream, signal);
  });
  const client = await spdyClient(t, server.port, ['portforward.k8s.io']);
  const malformed: SpdyHeaders[] = [
    { streamtype: 'data', requestid: '1' },
    { streamtype: 'data', port: '0', requestid: '1' },
    { streamtype: 'data', port: '65536', requestid: '1' },
    { streamtype: 'data', port: '80x', requestid: '1' },
    { port: '80', requestid: '1' },
    { streamtype: 'stdin', port: '80', requestid: '1' },
  ];
  for (const headers of malformed) {
    const refused = await createStream(client, headers).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(refused instanceof SpdyStreamResetError, JSON.stringify(headers));
    assert.equal(refused.status, RstStatus.CANCEL);
  }
  const connection = await forwardedConnection(client, { port: '80', requestid: '1' });
  connection.data.end('still works');
  assert.equal((await collect(connection.data)).toString(), 'still works');
  assert.equal(calls, 1);
  client.connection.close();
  await Promise.all(server.sessions);
});

test('a failing handler writes the error text on the error stream and resets both streams', async (t) => {
  const server = await forwardServer(t, { pod: 'default/web' }, async () => {
    throw new Error('dial tcp 127.0.0.1:5432: connection refused');
  });
  const client = await spdyClient(t, server.port, ['portforward.k8s.io']);
  const connection = await forwardedConnection(client, { port: '5432', requestid: '0' });
  assert.equal(
    (await connection.errorText).toString(),
    'error forwarding port 5432 to pod default/web: dial tcp 127.0.0.1:5432: connection refused',
  );
  await waitUntil(() => connection.data.resetStatus !== undefined, 'the data stream is reset');
  assert.equal(connection.data.resetStatus, RstStatus.CANCEL);
  client.connection.close();
  await Promise.all(server.sessions);
});

test('streams without a request ID are paired by stream ID, as old clients expect', async (t) => {
  const server = await forwardServer(t, {}, async (port, stream) => {
    stream.end(`port ${port}`);
  });
  const client = await spdyClient(t, server.port, ['portforward.k8s.io']);
  const connection = await forwardedConnection(client, { port: '7000' });
  assert.equal(connection.data.id, connection.error.id + 2);
  assert.equal((await collect(connection.data)).toString(), 'port 7000');
  assert.equal((await connection.errorText).length, 0);
  client.connection.close();
  await Promise.all(server.sessions);
});

test('an incomplete pair times out: its error stream gets the reason, a lone data stream is reset', async (t) => {
  let calls = 0;
  const server = await forwardServer(t, { streamCreationTimeoutMs: 50 }, async () => {
    calls++;
  });
  const client = await spdyClient(t, server.port, ['portforward.k8s.io']);
  const error = await createStream(client, { streamtype: 'error', port: '80', requestid: '5' });
  error.end();
  assert.equal((await collect(error)).toString(), '(request=5) timed out waiting for streams');
  const data = await createStream(client, { streamtype: 'data', port: '80', requestid: '6' });
  await once(data, 'close');
  assert.equal(data.resetStatus, RstStatus.CANCEL);
  assert.equal(calls, 0);
  client.connection.close();
  await Promise.all(server.sessions);
});

test('a second error stream for the same request is reset and reported on the first', async (t) => {
  const server = await forwardServer(t, {}, echo);
  const client = await spdyClient(t, server.port, ['portforward.k8s.io']);
  const first = await createStream(client, { streamtype: 'error', port: '80', requestid: '9' });
  const text: Buffer[] = [];
  first.on('data', (chunk: Buffer) => text.push(chunk));
  // Accepted on arrival (as the kubelet does), then reset.
  const second = await createStream(client, { streamtype: 'error', port: '80', requestid: '9' }).catch(() => undefined);
  if (second) await waitUntil(() => second.resetStatus !== undefined, 'the duplicate is reset');
  await waitUntil(() => text.length > 0, 'the report');
  assert.equal(Buffer.concat(text).toString(), 'error processing stream for request 9: error stream already assigned');
  client.connection.close();
  await Promise.all(server.sessions);
});

test('the client closing the session aborts running handlers', async (t) => {
  let aborted = 0;
  const server = await forwardServer(t, {}, async (_port, stream: Duplex, signal) => {
    stream.write('connected');
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    aborted++;
  });
  const client = await spdyClient(t, server.port, ['portforward.k8s.io']);
  const connections = await Promise.all(
    ['1', '2'].map((requestid) => forwardedConnection(client, { port: '80', requestid })),
  );
  await Promise.all(connections.map(({ data }) => once(data as SpdyStream, 'data')));
  client.socket.destroy();
  await Promise.all(server.sessions);
  assert.equal(aborted, 2);
});
