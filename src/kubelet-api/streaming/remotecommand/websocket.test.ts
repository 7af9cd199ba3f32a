import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { type TestContext, test } from 'node:test';
import { WebSocket } from 'ws';
import type { TerminalSize } from '../../../provider/contracts.ts';
import { collect, upgradeServer, waitUntil, webSocketClient } from '../test-support.test.ts';
import { type RemoteCommandHandler, type RemoteCommandOptions, serveRemoteCommand } from './index.ts';

async function execServer(t: TestContext, options: Partial<RemoteCommandOptions>, handler: RemoteCommandHandler) {
  const sessions: Promise<void>[] = [];
  const port = await upgradeServer(t, (request, socket, head) => {
    sessions.push(
      serveRemoteCommand(
        request,
        socket,
        head,
        { stdin: true, stdout: true, stderr: true, tty: false, ...options },
        handler,
      ),
    );
  });
  return { port, sessions };
}

/** A WebSocket exec client that decodes the channel framing of `protocol`. */
async function execClient(t: TestContext, port: number, protocol: string) {
  const client = await webSocketClient(t, port, '/exec/ns/pod/c', protocol === '' ? [] : [protocol]);
  const base64 = protocol.includes('base64');
  const decoded = () =>
    client.messages.map(({ data, binary }) => {
      if (!base64) return { channel: data[0] as number, payload: data.subarray(1), binary };
      const text = data.toString('latin1');
      return { channel: text.charCodeAt(0) - 48, payload: Buffer.from(text.slice(1), 'base64'), binary };
    });
  const channel = (number: number) =>
    Buffer.concat(
      decoded()
        .filter((message) => message.channel === number)
        .map((message) => message.payload),
    );
  const send = (number: number, payload: Buffer | string) => {
    const bytes = Buffer.from(payload);
    if (base64) client.ws.send(String.fromCharCode(48 + number) + bytes.toString('base64'));
    else client.ws.send(Buffer.concat([Buffer.from([number]), bytes]), { binary: true });
  };
  return { ...client, decoded, channel, send };
}

/** Reads stdin until a '.' arrives (v1–v4 have no stdin EOF), echoing it; writes to stderr; exits 3. */
const echoUntilDot: RemoteCommandHandler = async (io) => {
  io.stderr?.write('err');
  let seen = '';
  for await (const chunk of io.stdin as Readable) {
    io.stdout?.write(chunk as Buffer);
    seen += (chunk as Buffer).toString();
    if (seen.includes('.')) break;
  }
  return 3;
};

const EXIT_3_JSON = {
  metadata: {},
  status: 'Failure',
  message: 'command terminated with non-zero exit code: exit status 3',
  reason: 'NonZeroExitCode',
  details: { causes: [{ reason: 'ExitCode', message: '3' }] },
};

for (const protocol of [
  '',
  'channel.k8s.io',
  'base64.channel.k8s.io',
  'v4.channel.k8s.io',
  'v4.base64.channel.k8s.io',
  'v5.channel.k8s.io',
]) {
  test(`exec over WebSocket ${protocol || '(no subprotocol)'}: start message, echo, stderr, status, normal close`, async (t) => {
    const server = await execServer(t, {}, echoUntilDot);
    const client = await execClient(t, server.port, protocol);
    assert.equal(client.ws.protocol, protocol);
    await waitUntil(() => client.messages.length > 0, 'the start message');
    const first = client.decoded()[0];
    assert.deepEqual([first?.channel, first?.payload.length], [1, 0], 'an empty message on stdout first');
    client.send(0, 'hello');
    client.send(0, ', world.');
    assert.equal(await client.closed, 1000);
    assert.equal(client.channel(1).toString(), 'hello, world.');
    assert.equal(client.channel(2).toString(), 'err');
    const status = client.channel(3).toString();
    if (protocol.startsWith('v4') || protocol.startsWith('v5')) assert.deepEqual(JSON.parse(status), EXIT_3_JSON);
    else assert.equal(status, 'command terminated with non-zero exit code: exit status 3');
    for (const message of client.messages) assert.equal(message.binary, !protocol.includes('base64'));
    await Promise.all(server.sessions);
  });
}

test('v5: CLOSE [255, 0] ends stdin; success is a Success status; v5 wins whatever else is offered', async (t) => {
  const server = await execServer(t, { stderr: false }, async (io) => {
    const input = await collect(io.stdin as Readable);
    io.stdout?.write(`got ${input.length}`);
    return undefined;
  });
  const client = await webSocketClient(t, server.port, '/', ['v4.channel.k8s.io', 'v5.channel.k8s.io']);
  assert.equal(client.ws.protocol, 'v5.channel.k8s.io');
  client.ws.send(Buffer.from([0, 1, 2, 3]));
  client.ws.send(Buffer.from([0, 4, 5]));
  client.ws.send(Buffer.from([255, 0]));
  // Data after CLOSE is dropped, a second CLOSE is harmless.
  client.ws.send(Buffer.from([0, 6]));
  client.ws.send(Buffer.from([255, 0]));
  assert.equal(await client.closed, 1000);
  const channels = client.messages.map(({ data }) => [data[0], data.subarray(1).toString()]);
  assert.deepEqual(channels, [
    [1, ''],
    [1, 'got 5'],
    [3, '{"metadata":{},"status":"Success"}'],
  ]);
  await Promise.all(server.sessions);
});

test('the start message goes to stderr without stdout, and to the error channel without either', async (t) => {
  for (const [options, expected] of [
    [{ stdout: false, stderr: true }, 2],
    [{ stdout: false, stderr: false }, 3],
  ] as const) {
    const server = await execServer(t, options, async () => 0);
    const client = await webSocketClient(t, server.port, '/', ['v4.channel.k8s.io']);
    await client.closed;
    assert.deepEqual(client.messages[0]?.data, Buffer.from([expected]));
    await Promise.all(server.sessions);
  }
});

test('an unsupported subprotocol is refused with 403 before the upgrade', async (t) => {
  const server = await execServer(t, {}, async () => 0);
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`, ['v3.channel.k8s.io']);
  const error = await new Promise<Error>((resolve) => ws.once('error', resolve));
  assert.match(error.message, /403/);
});

test('TTY over WebSocket: resize messages (one JSON per message, no newline) reach onResize', async (t) => {
  const sizes: TerminalSize[] = [];
  const server = await execServer(t, { tty: true }, async (io) => {
    io.onResize((size) => sizes.push(size));
    assert.equal(io.stderr, undefined);
    for await (const chunk of io.stdin as Readable) if ((chunk as Buffer).includes('.')) break;
    return 0;
  });
  const client = await execClient(t, server.port, 'v4.channel.k8s.io');
  client.send(4, '{"Width":80,"Height":24}');
  client.send(4, '{"Width":132,"Height":43}');
  await waitUntil(() => sizes.length === 2, 'two sizes');
  client.send(4, 'garbage');
  client.send(4, '{"Width":1,"Height":1}');
  client.send(0, '.');
  await client.closed;
  assert.deepEqual(sizes, [
    { width: 80, height: 24 },
    { width: 132, height: 43 },
  ]);
  assert.deepEqual(JSON.parse(client.channel(3).toString()), { metadata: {}, status: 'Success' });
  await Promise.all(server.sessions);
});

test('bad messages never crash or hang a session: unknown channel, text on binary, writes to output channels, bad base64', async (t) => {
  const server = await execServer(t, { tty: true }, echoUntilDot);
  const binary = await execClient(t, server.port, 'v4.channel.k8s.io');
  binary.ws.send(Buffer.from([9, 1, 2, 3]));
  binary.ws.send(Buffer.alloc(0));
  binary.ws.send(Buffer.from([1, 1, 2, 3]));
  binary.ws.send(Buffer.from([3, 1, 2, 3]));
  binary.ws.send(Buffer.from([4, 0xff, 0xfe]));
  binary.ws.send(Buffer.from([255, 0]));
  // wsstream reads text messages as bytes too: this is "A" on stdin.
  binary.ws.send('\u0000A');
  binary.send(0, 'B.');
  assert.equal(await binary.closed, 1000);
  assert.equal(binary.channel(1).toString(), 'AB.', 'only stdin data came back');

  const base64 = await execClient(t, server.port, 'v4.base64.channel.k8s.io');
  base64.ws.send('0!!!not base64');
  base64.ws.send('0QQ'); // missing padding: Go's StdEncoding refuses it
  base64.ws.send('9QUJD');
  base64.ws.send('');
  base64.send(0, 'ok.');
  assert.equal(await base64.closed, 1000);
  assert.equal(base64.channel(1).toString(), 'ok.');
  await Promise.all(server.sessions);
});

test('v5: a malformed CLOSE ends the session and aborts the handler', async (t) => {
  let aborted = false;
  const server = await execServer(t, {}, async (_io, signal) => {
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    aborted = true;
    return 0;
  });
  const client = await webSocketClient(t, server.port, '/', ['v5.channel.k8s.io']);
  await waitUntil(() => client.messages.length > 0, 'the start message');
  client.ws.send(Buffer.from([255, 0, 0]));
  assert.equal(await client.closed, 1002);
  await Promise.all(server.sessions);
  assert.equal(aborted, true);
});

test('a WebSocket client that vanishes aborts the handler', async (t) => {
  let aborted = false;
  const server = await execServer(t, {}, async (io, signal) => {
    io.stdout?.write('working');
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    aborted = true;
    io.stdout?.write('nobody listens');
    return 0;
  });
  const client = await webSocketClient(t, server.port, '/', ['v5.channel.k8s.io']);
  await waitUntil(() => client.messages.length > 1, 'output');
  client.ws.terminate();
  await Promise.all(server.sessions);
  assert.equal(aborted, true);
});

test('10 MB each way over WebSocket v5, byte-exact', async (t) => {
  const size = 10 * 1024 * 1024;
  const server = await execServer(t, { stderr: false }, async (io) => {
    const input = await collect(io.stdin as Readable);
    io.stdout?.write(input);
    return 0;
  });
  const client = await webSocketClient(t, server.port, '/', ['v5.channel.k8s.io']);
  const upload = randomBytes(size);
  for (let offset = 0; offset < size; offset += 32 * 1024) {
    client.ws.send(Buffer.concat([Buffer.from([0]), upload.subarray(offset, offset + 32 * 1024)]));
  }
  client.ws.send(Buffer.from([255, 0]));
  await client.closed;
  const stdout = Buffer.concat(client.messages.filter(({ data }) => data[0] === 1).map(({ data }) => data.subarray(1)));
  assert.ok(stdout.equals(upload), 'the upload came back byte-exact');
  await Promise.all(server.sessions);
});
