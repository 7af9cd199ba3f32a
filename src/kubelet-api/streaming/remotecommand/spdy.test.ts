import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type TestContext, test } from 'node:test';
import type { AttachIO, TerminalSize } from '../../../provider/contracts.ts';
import { type SpdyStream, SpdyStreamResetError } from '../spdy/index.ts';
import {
  collect,
  createStream,
  rawUpgrade,
  type SpdyClient,
  spdyClient,
  upgradeServer,
  waitUntil,
} from '../test-support.test.ts';
import { type RemoteCommandHandler, type RemoteCommandOptions, serveRemoteCommand } from './index.ts';

const ALL_PROTOCOLS = [
  'v5.channel.k8s.io',
  'v4.channel.k8s.io',
  'v3.channel.k8s.io',
  'v2.channel.k8s.io',
  'channel.k8s.io',
];

interface ExecServer {
  port: number;
  /** One promise per upgrade, settled when serveRemoteCommand returns. */
  sessions: Promise<void>[];
}

async function execServer(
  t: TestContext,
  options: Partial<RemoteCommandOptions>,
  handler: RemoteCommandHandler,
): Promise<ExecServer> {
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

type Streams = Partial<Record<'error' | 'stdin' | 'stdout' | 'stderr' | 'resize', SpdyStream>>;

/** Opens the streams client-go opens, in its order (or in `order`). */
async function openStreams(client: SpdyClient, order: (keyof Streams)[]): Promise<Streams> {
  const streams: Streams = {};
  for (const type of order) {
    streams[type] = await createStream(client, { streamtype: type });
    // The client half-closes nothing but stdin; the error stream's data only comes from the server.
  }
  return streams;
}

/** An echo command: stdin to stdout, a note on stderr, then `exitCode`. */
function echo(exitCode: number | undefined): RemoteCommandHandler {
  return async (io) => {
    io.stderr?.write('to stderr');
    if (io.stdin && io.stdout) await pipeline(io.stdin, io.stdout, { end: false });
    return exitCode;
  };
}

test('exec over SPDY v4: stdin is echoed to stdout, stderr is separate, exit code 3 arrives as Status JSON', async (t) => {
  const server = await execServer(t, {}, echo(3));
  const client = await spdyClient(t, server.port, ALL_PROTOCOLS);
  assert.equal(client.protocol, 'v4.channel.k8s.io', 'v5 is WebSocket-only: the kubelet negotiates v4 over SPDY');
  const streams = await openStreams(client, ['error', 'stdin', 'stdout', 'stderr']);
  const stdout = collect(streams.stdout as SpdyStream);
  const stderr = collect(streams.stderr as SpdyStream);
  const status = collect(streams.error as SpdyStream);
  streams.stdin?.end('hello, world');
  assert.equal((await stdout).toString(), 'hello, world');
  assert.equal((await stderr).toString(), 'to stderr');
  assert.deepEqual(JSON.parse((await status).toString()), {
    metadata: {},
    status: 'Failure',
    message: 'command terminated with non-zero exit code: exit status 3',
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: '3' }] },
  });
  await once(client.connection, 'close');
  await Promise.all(server.sessions);
});

test('exec over SPDY: streams may come in any order; stdin EOF ends the command; success is a Success status', async (t) => {
  let stdinEnded = false;
  const server = await execServer(t, { stderr: false }, async (io) => {
    const input = await collect(io.stdin as Duplex);
    stdinEnded = true;
    io.stdout?.write(`read ${input.length} bytes`);
    return 0;
  });
  const client = await spdyClient(t, server.port, ['v4.channel.k8s.io']);
  const streams = await openStreams(client, ['stdout', 'stdin', 'error']);
  const stdout = collect(streams.stdout as SpdyStream);
  const status = collect(streams.error as SpdyStream);
  streams.stdin?.write('abc');
  assert.equal(stdinEnded, false);
  streams.stdin?.end('def');
  assert.equal((await stdout).toString(), 'read 6 bytes');
  assert.deepEqual(JSON.parse((await status).toString()), { metadata: {}, status: 'Success' });
  assert.equal(stdinEnded, true);
  await Promise.all(server.sessions);
});

test('v3 and v2 report failures as plain text and success as nothing; v1 resets the error stream', async (t) => {
  for (const [protocol, exitCode, expected] of [
    ['v3.channel.k8s.io', 3, 'command terminated with non-zero exit code: exit status 3'],
    ['v2.channel.k8s.io', 7, 'command terminated with non-zero exit code: exit status 7'],
    ['v2.channel.k8s.io', 0, ''],
  ] as const) {
    const server = await execServer(t, { stdin: false, stderr: false }, async (io) => {
      io.stdout?.write('out');
      return exitCode;
    });
    const client = await spdyClient(t, server.port, [protocol]);
    assert.equal(client.protocol, protocol);
    const streams = await openStreams(client, ['error', 'stdout']);
    const status = collect(streams.error as SpdyStream);
    assert.equal((await collect(streams.stdout as SpdyStream)).toString(), 'out');
    assert.equal((await status).toString(), expected, `${protocol} exit ${exitCode}`);
    await Promise.all(server.sessions);
  }

  const server = await execServer(t, { stdin: false, stderr: false }, async (io) => {
    io.stdout?.write('v1 out');
    return 5;
  });
  const client = await spdyClient(t, server.port, ['channel.k8s.io']);
  const streams = await openStreams(client, ['error', 'stdout']);
  assert.equal((await collect(streams.stdout as SpdyStream)).toString(), 'v1 out');
  await waitUntil(() => streams.error?.resetStatus !== undefined, 'the error stream is reset');
  await Promise.all(server.sessions);
});

test('a handler that throws becomes an InternalError status', async (t) => {
  const server = await execServer(t, { stdin: false, stderr: false }, async () => {
    throw new Error('no such container');
  });
  const client = await spdyClient(t, server.port, ['v4.channel.k8s.io']);
  const streams = await openStreams(client, ['error', 'stdout']);
  const status = JSON.parse((await collect(streams.error as SpdyStream)).toString());
  assert.deepEqual(status, {
    metadata: {},
    status: 'Failure',
    message: 'Internal error occurred: error executing command in container: no such container',
    reason: 'InternalError',
    code: 500,
  });
  assert.equal((await collect(streams.stdout as SpdyStream)).length, 0);
  await Promise.all(server.sessions);
});

test('TTY: resize messages reach onResize, stderr is not expected, garbage stops resizing but not the session', async (t) => {
  const sizes: TerminalSize[] = [];
  let io: AttachIO | undefined;
  const server = await execServer(t, { tty: true }, async (attachIO) => {
    io = attachIO;
    attachIO.onResize((size) => sizes.push(size));
    await collect(attachIO.stdin as Duplex);
    attachIO.stdout?.write('done');
    return 0;
  });
  const client = await spdyClient(t, server.port, ALL_PROTOCOLS);
  // No stderr stream with a TTY: error, stdin, stdout and resize make the set.
  const streams = await openStreams(client, ['error', 'stdin', 'stdout', 'resize']);
  const resize = streams.resize as SpdyStream;
  resize.write('{"Width":80,"Height":24}\n');
  await waitUntil(() => sizes.length === 1, 'the first size arrives');
  assert.equal(io?.stderr, undefined);
  assert.equal(io?.tty, true);
  // Go's json.Decoder needs no newline between values, and matches keys case-insensitively.
  resize.write('{"Width":100,');
  resize.write('"height":30}{"Width":120,"Height":40,"Extra":[1,{"x":"}"}]}');
  await waitUntil(() => sizes.length === 3, 'three sizes arrive');
  resize.write('{"Width":-1,"Height":5}\n{"Width":1,"Height":1}\n');
  // A late listener gets the latest size at once.
  const late: TerminalSize[] = [];
  io?.onResize((size) => late.push(size));
  streams.stdin?.end();
  const status = collect(streams.error as SpdyStream);
  assert.equal((await collect(streams.stdout as SpdyStream)).toString(), 'done');
  assert.deepEqual(JSON.parse((await status).toString()), { metadata: {}, status: 'Success' });
  assert.deepEqual(sizes, [
    { width: 80, height: 24 },
    { width: 100, height: 30 },
    { width: 120, height: 40 },
  ]);
  assert.deepEqual(late, [{ width: 120, height: 40 }]);
  await Promise.all(server.sessions);
});

test('10 MB in each direction, byte-exact', async (t) => {
  const size = 10 * 1024 * 1024;
  const server = await execServer(t, { stderr: false }, async (io) => {
    // Send 10 MB of our own while echoing the client's 10 MB back, reversed in chunks order-preserving.
    const own = randomBytes(size);
    const sent = new Promise<void>((resolve) => io.stdout?.write(own, () => resolve()));
    const input = await collect(io.stdin as Duplex);
    await sent;
    io.stdout?.write(input);
    io.stdout?.write(createHash('sha256').update(own).digest());
    return 0;
  });
  const client = await spdyClient(t, server.port, ['v4.channel.k8s.io']);
  const streams = await openStreams(client, ['error', 'stdin', 'stdout']);
  const upload = randomBytes(size);
  const stdout = collect(streams.stdout as SpdyStream);
  streams.stdin?.end(upload);
  const output = await stdout;
  assert.equal(output.length, 2 * size + 32);
  const own = output.subarray(0, size);
  assert.ok(output.subarray(size, 2 * size).equals(upload), 'the upload came back byte-exact');
  assert.ok(
    createHash('sha256')
      .update(own)
      .digest()
      .equals(output.subarray(2 * size)),
    'the download is intact',
  );
  await Promise.all(server.sessions);
});

test('a client that disconnects mid-stream aborts the handler and leaves nothing behind', async (t) => {
  const resourcesBefore = process.getActiveResourcesInfo().filter((name) => name !== 'TTYWrap').length;
  let signalSeen: AbortSignal | undefined;
  let outcome = '';
  const server = await execServer(t, { stderr: false }, async (io, signal) => {
    signalSeen = signal;
    io.stdout?.write('started');
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    outcome = 'aborted';
    // Writes after the client left must not blow up.
    io.stdout?.write('too late');
    return 0;
  });
  const client = await spdyClient(t, server.port, ['v4.channel.k8s.io']);
  const streams = await openStreams(client, ['error', 'stdin', 'stdout']);
  await once(streams.stdout as SpdyStream, 'data');
  client.socket.destroy();
  await Promise.all(server.sessions);
  assert.equal(outcome, 'aborted');
  assert.equal(signalSeen?.aborted, true);
  await waitUntil(
    () => process.getActiveResourcesInfo().filter((name) => name !== 'TTYWrap').length <= resourcesBefore + 1,
    'the session releases its sockets and timers',
  );
});

test('the handler is not called when the client does not open every stream in time', async (t) => {
  let called = false;
  // Long enough for a loaded machine to finish the upgrade before the session is dropped.
  const server = await execServer(t, { streamCreationTimeoutMs: 250 }, async () => {
    called = true;
    return 0;
  });
  const client = await spdyClient(t, server.port, ['v4.channel.k8s.io']);
  const closed = once(client.connection, 'close');
  // On a loaded machine the time may pass before both streams are open: refused streams are fine too.
  await openStreams(client, ['error', 'stdin']).catch(() => {});
  await closed;
  await Promise.all(server.sessions);
  assert.equal(called, false);
});

test('streams after the session started are refused; unknown stream types are accepted but not counted', async (t) => {
  const server = await execServer(t, { stdin: false, stderr: false }, async (io, signal) => {
    io.stdout?.write('x');
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    return 0;
  });
  const client = await spdyClient(t, server.port, ['v4.channel.k8s.io']);
  const streams = await openStreams(client, ['error']);
  await createStream(client, { streamtype: 'bogus' });
  const stdout = await createStream(client, { streamtype: 'stdout' });
  await once(stdout, 'data');
  await assert.rejects(createStream(client, { streamtype: 'stdin' }), SpdyStreamResetError);
  assert.ok(streams.error);
  client.connection.close();
  await Promise.all(server.sessions);
});

test('garbage after the upgrade closes the session without calling the handler, at once or at the idle timeout', async (t) => {
  let called = false;
  const server = await execServer(t, { idleTimeoutMs: 200 }, async () => {
    called = true;
    return 0;
  });
  const upgrade = async () => {
    const response = await rawUpgrade(server.port, {
      headers: [
        ['Connection', 'Upgrade'],
        ['Upgrade', 'SPDY/3.1'],
        ['X-Stream-Protocol-Version', 'v4.channel.k8s.io'],
      ],
    });
    assert.equal(response.statusCode, 101);
    response.socket.resume();
    return response.socket;
  };
  // Not SPDY at all (an HTTP request where frames belong): a protocol error, answered with GOAWAY.
  const first = await upgrade();
  first.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'.replace('G', '\x80'));
  await once(first, 'end');
  first.end();
  // Random bytes that look like the start of a huge DATA frame: only the idle timeout can end it.
  const second = await upgrade();
  second.write(Buffer.concat([Buffer.from([0x00, 0x00, 0x00, 0x01, 0x00, 0xff, 0xff, 0xff]), randomBytes(1000)]));
  await once(second, 'end');
  second.end();
  await Promise.all(server.sessions);
  assert.equal(called, false);
});

test('a request without any of stdin, stdout, stderr is refused before the upgrade', async (t) => {
  const server = await execServer(t, { stdin: false, stdout: false, stderr: false }, async () => 0);
  const response = await rawUpgrade(server.port, {
    headers: [
      ['Connection', 'Upgrade'],
      ['Upgrade', 'SPDY/3.1'],
      ['X-Stream-Protocol-Version', 'v4.channel.k8s.io'],
    ],
  });
  assert.equal(response.statusCode, 400);
  assert.match(response.body, /at least 1 of stdin, stdout, stderr/);
});
