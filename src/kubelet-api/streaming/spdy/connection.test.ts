import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import net from 'node:net';
import { type Duplex, duplexPair } from 'node:stream';
import { type TestContext, test } from 'node:test';
import { setTimeout as delay, setImmediate as nextTurn } from 'node:timers/promises';
import { SpdyConnection, type SpdyConnectionOptions, type SpdyStream } from './connection.ts';
import { SpdyProtocolError, SpdyStreamResetError } from './errors.ts';
import {
  decodeHeaderBlock,
  encodeDataFrameHeader,
  encodeFrame,
  encodeHeaderBlock,
  FLAG_FIN,
  FLAG_UNIDIRECTIONAL,
  FrameParser,
  RstStatus,
  type SpdyFrame,
  type SpdyHeaders,
} from './frames.ts';
import { HeaderCompressor, HeaderDecompressor } from './zlib.ts';

// ---------------------------------------------------------------------------------------------
// Helpers

/** Polls `condition` until it holds, failing after `timeout` ms. */
async function waitUntil(condition: () => boolean, what: string, timeout = 5000): Promise<void> {
  const deadline = performance.now() + timeout;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await delay(2);
  }
}

/** Two ends of a real loopback TCP connection. */
async function tcpPair(t: TestContext): Promise<{ serverSocket: net.Socket; clientSocket: net.Socket }> {
  const listener = net.createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const { port } = listener.address() as net.AddressInfo;
  const accepted = once(listener, 'connection') as Promise<[net.Socket]>;
  const clientSocket = net.connect(port, '127.0.0.1');
  const [serverSocket] = await accepted;
  listener.close();
  t.after(() => {
    serverSocket.destroy();
    clientSocket.destroy();
  });
  return { serverSocket, clientSocket };
}

type Options = Omit<SpdyConnectionOptions, 'role'>;

/** A server and a client session over loopback TCP. */
async function sessionPair(t: TestContext, serverOptions: Options = {}, clientOptions: Options = {}) {
  const { serverSocket, clientSocket } = await tcpPair(t);
  const server = new SpdyConnection(serverSocket, { role: 'server', ...serverOptions });
  const client = new SpdyConnection(clientSocket, { role: 'client', ...clientOptions });
  t.after(() => {
    server.destroy();
    client.destroy();
  });
  return { server, client, serverSocket, clientSocket };
}

async function readAll(stream: Duplex): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * The error 'close' reports. (`events.once` would listen for 'error' too, and reject on it.)
 */
function closeOf(connection: SpdyConnection): Promise<Error | undefined> {
  return new Promise((resolve) => connection.once('close', resolve));
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function synStreamFrame(streamId: number, headerBlock: Buffer, flags: number): Buffer {
  return encodeFrame({ type: 'SYN_STREAM', streamId, associatedStreamId: 0, priority: 0, slot: 0, flags, headerBlock });
}

/**
 * A hand-driven peer on a raw socket, for sending what a well-behaved connection never would.
 * It keeps its own header compression contexts, like any SPDY peer.
 */
class RawPeer extends EventEmitter {
  readonly socket: net.Socket;
  readonly frames: SpdyFrame[] = [];
  readonly inflated = new Map<SpdyFrame, SpdyHeaders>();
  readonly closed: Promise<unknown>;
  #compressor = new HeaderCompressor();
  #decompressor = new HeaderDecompressor();

  constructor(socket: net.Socket) {
    super();
    this.socket = socket;
    this.closed = once(socket, 'close');
    const parser = new FrameParser(
      (frame) => {
        this.frames.push(frame);
        this.emit('frame');
      },
      (error) => this.emit('parseError', error),
    );
    socket.on('data', (chunk: Buffer) => parser.write(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.#compressor.close();
      this.#decompressor.close();
    });
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  async synStream(streamId: number, headers: SpdyHeaders, flags = 0): Promise<void> {
    this.send(synStreamFrame(streamId, await this.#compressor.compress(encodeHeaderBlock(headers)), flags));
  }

  /** A SYN_STREAM whose (compressed) header block is `raw` as given, not a valid name/value block. */
  async synStreamRaw(streamId: number, rawBlock: Buffer): Promise<void> {
    this.send(synStreamFrame(streamId, await this.#compressor.compress(rawBlock), 0));
  }

  /** Waits for a frame matching `match` among those received, including earlier ones. */
  async waitForFrame(match: (frame: SpdyFrame) => boolean, what: string): Promise<SpdyFrame> {
    const deadline = setTimeout(() => this.emit('deadline'), 5000);
    try {
      for (;;) {
        const found = this.frames.find(match);
        if (found) return found;
        const [event] = await Promise.race([
          once(this, 'frame').then(() => ['frame']),
          once(this, 'deadline').then(() => ['deadline']),
          this.closed.then(() => ['close']),
        ]);
        if (event === 'deadline') throw new Error(`timed out waiting for ${what}`);
        if (event === 'close' && !this.frames.find(match)) throw new Error(`socket closed before ${what}`);
      }
    } finally {
      clearTimeout(deadline);
    }
  }

  /** Header blocks of received frames must be inflated in order, so do them all now. */
  async inflateAll(): Promise<void> {
    for (const frame of this.frames) {
      if ((frame.type === 'SYN_REPLY' || frame.type === 'SYN_STREAM') && !this.inflated.has(frame)) {
        const block = await this.#decompressor.decompress(frame.headerBlock);
        this.inflated.set(frame, { ...decodeHeaderBlock(block) });
      }
    }
  }
}

/** A server session on one end of loopback TCP and a {@link RawPeer} on the other. */
async function serverWithRawPeer(t: TestContext, options: Options = {}) {
  const { serverSocket, clientSocket } = await tcpPair(t);
  const server = new SpdyConnection(serverSocket, { role: 'server', ...options });
  const errors: Error[] = [];
  server.on('error', (error) => errors.push(error));
  const serverClosed = closeOf(server);
  t.after(() => server.destroy());
  const peer = new RawPeer(clientSocket);
  return { server, peer, errors, serverClosed };
}

const isGoAway = (status: number) => (frame: SpdyFrame) => frame.type === 'GOAWAY' && frame.status === status;
const isReply = (streamId: number) => (frame: SpdyFrame) => frame.type === 'SYN_REPLY' && frame.streamId === streamId;
const isReset = (streamId: number, status: number) => (frame: SpdyFrame) =>
  frame.type === 'RST_STREAM' && frame.streamId === streamId && frame.status === status;
const isPing = (id: number) => (frame: SpdyFrame) => frame.type === 'PING' && frame.id === id;

// ---------------------------------------------------------------------------------------------
// A client and a server of this class, over TCP

test('client and server over TCP: headers, SYN_REPLY, data both ways, FIN in each direction', async (t) => {
  const { server, client } = await sessionPair(t);
  const upload = randomBytes(3 * 1024 * 1024 + 17);
  const seen = new Promise<{ headers: SpdyHeaders; port: string | undefined; received: Buffer }>((resolve) => {
    server.on('stream', async (stream) => {
      stream.accept();
      // Read to the client's FIN first, then answer: the stream is half-closed in between.
      const received = await readAll(stream);
      stream.write('got ');
      stream.end(`${received.length} bytes`);
      resolve({ headers: { ...stream.headers }, port: stream.header('Port'), received });
    });
  });

  const stream = await client.createStream({ streamType: 'data', Port: '8080', requestID: '0' });
  assert.equal(stream.id, 1);
  for (let offset = 0; offset < upload.length; offset += 100_000)
    stream.write(upload.subarray(offset, offset + 100_000));
  stream.end();
  const answer = await readAll(stream);
  const { headers, port, received } = await seen;

  assert.deepEqual(headers, { streamtype: 'data', port: '8080', requestid: '0' });
  assert.equal(port, '8080');
  assert.equal(sha256(received), sha256(upload));
  assert.equal(answer.toString(), `got ${upload.length} bytes`);
  await waitUntil(() => server.streamCount === 0 && client.streamCount === 0, 'both sides forget the stream');
});

test('the next streams get the next odd IDs, and server-opened streams even ones', async (t) => {
  const { server, client } = await sessionPair(t);
  const fromClient: number[] = [];
  server.on('stream', (stream) => {
    fromClient.push(stream.id);
    stream.accept();
  });
  client.on('stream', (stream) => stream.accept());
  const a = await client.createStream({ n: '1' });
  const b = await client.createStream({ n: '2' });
  const c = await server.createStream({ n: '3' });
  assert.deepEqual([a.id, b.id, c.id], [1, 3, 2]);
  assert.deepEqual(fromClient, [1, 3]);
});

test('20 MB through one stream arrive byte-exact, and a slow reader holds the writer back', async (t) => {
  const { server, client, clientSocket } = await sessionPair(t);
  const payload = randomBytes(20 * 1024 * 1024);
  const writer = { handedOver: 0, waitingForDrain: false, done: false };
  server.on('stream', async (stream) => {
    stream.accept();
    for (let offset = 0; offset < payload.length; offset += 64 * 1024) {
      const chunk = payload.subarray(offset, offset + 64 * 1024);
      writer.handedOver += chunk.length;
      if (!stream.write(chunk)) {
        writer.waitingForDrain = true;
        await once(stream, 'drain');
        writer.waitingForDrain = false;
      }
    }
    stream.end();
    writer.done = true;
  });

  const stream = await client.createStream({ streamtype: 'stdout' });
  // Nobody reads yet: the client must stop reading its socket, and the server must be made to wait.
  await waitUntil(() => writer.waitingForDrain && clientSocket.isPaused(), 'the writer waits and the reader is paused');
  const stalledAt = writer.handedOver;
  assert.ok(stalledAt < payload.length / 2, `only ${stalledAt} bytes left the writer before it had to wait`);
  assert.equal(writer.done, false);

  const hash = createHash('sha256');
  let received = 0;
  let maxBuffered = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    received += (chunk as Buffer).length;
    maxBuffered = Math.max(maxBuffered, stream.readableLength);
    // A slow consumer: yield to the event loop after every chunk.
    await nextTurn();
  }
  assert.equal(received, payload.length);
  assert.equal(hash.digest('hex'), sha256(payload));
  // What sits in the stream is bounded by its high-water mark plus one socket read, not the payload.
  assert.ok(maxBuffered < 1024 * 1024, `at most ${maxBuffered} bytes were buffered in the stream`);
  assert.equal(writer.done, true);
});

test('500 concurrent streams each echo their own bytes', async (t) => {
  const { server, client } = await sessionPair(t);
  server.on('stream', (stream) => {
    stream.accept();
    stream.pipe(stream);
  });
  const count = 500;
  const payloads = Array.from({ length: count }, (_, i) => randomBytes(8 * 1024 + i * 7));
  const streams = await Promise.all(
    payloads.map((_, i) => client.createStream({ streamtype: 'data', requestid: `${i}` })),
  );
  assert.equal(server.streamCount, count);
  const echoes = await Promise.all(
    streams.map((stream, i) => {
      const echoed = readAll(stream);
      stream.end(payloads[i]);
      return echoed;
    }),
  );
  for (let i = 0; i < count; i++) assert.ok(echoes[i]?.equals(payloads[i] as Buffer), `stream ${i} is byte-exact`);
  await waitUntil(() => server.streamCount === 0 && client.streamCount === 0, 'every stream is forgotten');
});

test('PING is answered on both sides', async (t) => {
  const { server, client } = await sessionPair(t);
  const fromClient = await client.ping();
  const fromServer = await server.ping();
  assert.ok(fromClient >= 0 && fromServer >= 0);
  await Promise.all(Array.from({ length: 20 }, () => client.ping()));
});

test('a stream refused by the server rejects createStream; a stream nobody listens for is refused', async (t) => {
  const { server, client } = await sessionPair(t);
  await assert.rejects(
    client.createStream({ streamtype: 'nope' }),
    (error: unknown) => error instanceof SpdyStreamResetError && error.status === RstStatus.REFUSED_STREAM,
  );
  server.on('stream', (stream) => {
    if (stream.header('streamtype') === 'bad') stream.refuse();
    else stream.accept();
  });
  await assert.rejects(client.createStream({ streamtype: 'bad' }), SpdyStreamResetError);
  const good = await client.createStream({ streamtype: 'good' });
  assert.equal(good.id, 5);
});

test('RST_STREAM from the peer destroys the stream without an error event', async (t) => {
  const { server, client } = await sessionPair(t);
  const serverStreams: SpdyStream[] = [];
  server.on('stream', (stream) => {
    serverStreams.push(stream);
    stream.accept();
  });
  const first = await client.createStream({ n: '1' });
  const serverFirst = serverStreams[0] as SpdyStream;
  const reset = once(serverFirst, 'reset');
  const closed = once(serverFirst, 'close');
  serverFirst.on('error', (error) => assert.fail(`unexpected stream error ${error.message}`));
  first.reset();
  assert.deepEqual(await reset, [RstStatus.CANCEL]);
  await closed;
  assert.equal(serverFirst.resetStatus, RstStatus.CANCEL);
  assert.equal(serverFirst.destroyed, true);

  const second = await client.createStream({ n: '2' });
  const secondReset = once(second, 'reset');
  (serverStreams[1] as SpdyStream).reset(RstStatus.INTERNAL_ERROR);
  assert.deepEqual(await secondReset, [RstStatus.INTERNAL_ERROR]);
  await waitUntil(() => server.streamCount === 0 && client.streamCount === 0, 'both streams are forgotten');
  // The session is unaffected.
  await client.ping();
});

test('close() is graceful: what was written, then FIN, then GOAWAY', async (t) => {
  const { server, client } = await sessionPair(t);
  const payload = randomBytes(1024 * 1024);
  server.on('stream', (stream) => {
    stream.write(payload);
    server.close();
  });
  const goaway = once(client, 'goaway');
  const stream = await client.createStream({ streamtype: 'stdout' });
  const received = await readAll(stream);
  assert.ok(received.equals(payload));
  assert.deepEqual(await goaway, [1, 0]);
  await Promise.all([once(server, 'close'), once(client, 'close')]);
  assert.throws(() => server.openStream({}), /closing/);
});

test('GOAWAY from the peer closes the session; what the peer sent before it stays readable', async (t) => {
  const { server, client } = await sessionPair(t);
  const serverStreams: SpdyStream[] = [];
  server.on('stream', (stream) => {
    serverStreams.push(stream);
    stream.accept();
  });
  const stream = await client.createStream({ streamtype: 'stdin' });
  stream.write('last words');
  const goaway = once(server, 'goaway');
  const serverClosed = closeOf(server);
  // Graceful on the client side: FIN on its streams, then GOAWAY.
  client.close();
  await goaway;
  assert.equal(await serverClosed, undefined);
  await once(client, 'close');
  assert.equal(server.streamCount, 0);
  assert.equal((await readAll(serverStreams[0] as SpdyStream)).toString(), 'last words');
});

test('GOAWAY destroys a stream the peer had not finished, and the socket is closed', async (t) => {
  const { server, peer, errors, serverClosed } = await serverWithRawPeer(t);
  const streams: SpdyStream[] = [];
  server.on('stream', (stream) => {
    streams.push(stream);
    stream.accept();
  });
  await peer.synStream(1, { streamtype: 'stdin' });
  peer.send(encodeFrame({ type: 'DATA', streamId: 1, flags: 0, data: Buffer.from('partial') }));
  await peer.waitForFrame(isReply(1), 'SYN_REPLY');
  const streamClosed = once(streams[0] as SpdyStream, 'close');
  peer.send(encodeFrame({ type: 'GOAWAY', lastGoodStreamId: 0, status: 0 }));
  await streamClosed;
  assert.equal(streams[0]?.destroyed, true);
  await peer.closed;
  assert.equal(await serverClosed, undefined);
  assert.deepEqual(errors, []);
});

test('an idle session times out: streams are reset, then GOAWAY', async (t) => {
  // Long enough that a loaded machine opens the stream first (each frame restarts the timer);
  // the listeners are there before anything can fire.
  const { server, client } = await sessionPair(t, { idleTimeout: 250 });
  const timedOut = once(server, 'timeout');
  const goaway = once(client, 'goaway');
  server.on('stream', (stream) => stream.accept());
  const stream = await client.createStream({ streamtype: 'stdin' });
  const reset = once(stream, 'reset');
  await timedOut;
  assert.deepEqual(await reset, [RstStatus.CANCEL]);
  await goaway;
  await Promise.all([once(server, 'close'), once(client, 'close')]);
});

test('traffic keeps the idle timer from firing', async (t) => {
  const { server, client } = await sessionPair(t, { idleTimeout: 150 });
  let timedOut = false;
  server.on('timeout', () => {
    timedOut = true;
  });
  // Back-to-back PINGs for well over the idle timeout: each frame restarts the timer.
  const started = performance.now();
  while (performance.now() - started < 450) await client.ping();
  assert.equal(timedOut, false);
  await once(server, 'timeout');
});

test('destroy() ends every stream and the peer sees the session close', async (t) => {
  const { server, client } = await sessionPair(t);
  const serverStreams: SpdyStream[] = [];
  server.on('stream', (stream) => {
    serverStreams.push(stream);
    stream.accept();
  });
  const clientStreams = await Promise.all([client.createStream({ n: '1' }), client.createStream({ n: '2' })]);
  const clientClosed = closeOf(client);
  server.destroy();
  await Promise.all(serverStreams.map((stream) => once(stream, 'close')));
  await clientClosed;
  assert.ok(clientStreams.every((stream) => stream.destroyed));
  assert.equal(server.streamCount + client.streamCount, 0);
});

test('a vanished peer frees every stream', async (t) => {
  const { server, clientSocket } = await sessionPair(t);
  const client = new SpdyConnection(clientSocket, { role: 'client' });
  client.on('error', () => {});
  const serverStreams: SpdyStream[] = [];
  server.on('stream', (stream) => {
    serverStreams.push(stream);
    stream.accept();
  });
  await Promise.all([client.createStream({ n: '1' }), client.createStream({ n: '2' })]);
  const closed = once(server, 'close');
  clientSocket.destroy();
  await closed;
  assert.equal(server.streamCount, 0);
  assert.ok(serverStreams.every((stream) => stream.destroyed));
  await assert.rejects(server.ping(), /closing/);
});

test('data sent before the server accepts is kept; writing accepts the stream', async (t) => {
  const { server, client } = await sessionPair(t);
  server.on('stream', (stream) => {
    setImmediate(async () => {
      const early = await readAll(stream);
      // No accept(): the first write sends SYN_REPLY.
      stream.end(`server read ${early.toString()}`);
    });
  });
  const stream = client.openStream({ streamtype: 'stdin' });
  const reply = once(stream, 'reply');
  stream.end('early bytes');
  assert.equal((await readAll(stream)).toString(), 'server read early bytes');
  await reply;
});

test('streams over the concurrency limit are refused, and a slot frees when a stream ends', async (t) => {
  const { server, client } = await sessionPair(t, { maxConcurrentStreams: 2 });
  server.on('stream', (stream) => {
    stream.accept();
    stream.pipe(stream);
  });
  const first = await client.createStream({ n: '1' });
  await client.createStream({ n: '2' });
  await assert.rejects(
    client.createStream({ n: '3' }),
    (error: unknown) => error instanceof SpdyStreamResetError && error.status === RstStatus.REFUSED_STREAM,
  );
  first.end('done');
  await readAll(first);
  await waitUntil(() => server.streamCount === 1, 'the finished stream frees its slot');
  await client.createStream({ n: '4' });
});

test('a stream opened with FIN only receives; the peer sees its end at once', async (t) => {
  const { server, client } = await sessionPair(t);
  server.on('stream', async (stream) => {
    stream.accept();
    const sent = await readAll(stream);
    stream.end(`received ${sent.length} bytes`);
  });
  const stream = client.openStream({ streamtype: 'error' }, { fin: true });
  assert.equal(stream.writableEnded, true);
  assert.equal((await readAll(stream)).toString(), 'received 0 bytes');
});

test('createStream gives up after its timeout and resets the stream', async (t) => {
  const { server, client } = await sessionPair(t);
  const reset = new Promise<number>((resolve) => server.on('stream', (stream) => stream.on('reset', resolve)));
  await assert.rejects(client.createStream({ streamtype: 'stdin' }, { timeout: 20 }), /did not reply/);
  assert.equal(await reset, RstStatus.CANCEL);
});

test('bytes read before the session started (an upgrade head) are parsed first', async (t) => {
  const { serverSocket, clientSocket } = await tcpPair(t);
  const head = Buffer.concat([
    encodeFrame({ type: 'PING', id: 1 }),
    encodeFrame({ type: 'PING', id: 3 }).subarray(0, 5),
  ]);
  const server = new SpdyConnection(serverSocket, { role: 'server', head });
  t.after(() => server.destroy());
  const peer = new RawPeer(clientSocket);
  peer.send(encodeFrame({ type: 'PING', id: 3 }).subarray(5));
  await peer.waitForFrame(isPing(3), 'the echo of the PING split across head and socket');
  assert.deepEqual(
    peer.frames.map((frame) => frame.type === 'PING' && frame.id),
    [1, 3],
  );
});

test('a session runs over any Duplex, not only a socket', async (t) => {
  const [serverSide, clientSide] = duplexPair();
  const server = new SpdyConnection(serverSide, { role: 'server' });
  const client = new SpdyConnection(clientSide, { role: 'client' });
  t.after(() => {
    server.destroy();
    client.destroy();
  });
  server.on('stream', (stream) => {
    stream.accept();
    stream.pipe(stream);
  });
  const stream = await client.createStream({ streamtype: 'data' });
  stream.end('through a tunnel');
  assert.equal((await readAll(stream)).toString(), 'through a tunnel');
  client.close();
  await Promise.all([once(server, 'close'), once(client, 'close')]);
});

// ---------------------------------------------------------------------------------------------
// A misbehaving peer, driven by hand

test('the server replies with an empty, compressed header block', async (t) => {
  const { server, peer } = await serverWithRawPeer(t);
  server.on('stream', (stream) => stream.accept());
  await peer.synStream(1, { streamtype: 'error' });
  const reply = await peer.waitForFrame(isReply(1), 'SYN_REPLY');
  await peer.inflateAll();
  assert.deepEqual(peer.inflated.get(reply), {});
});

test('PING: the peer parity is echoed unchanged, our own parity is not', async (t) => {
  const { peer } = await serverWithRawPeer(t);
  peer.send(encodeFrame({ type: 'PING', id: 2 }));
  peer.send(encodeFrame({ type: 'PING', id: 7 }));
  await peer.waitForFrame(isPing(7), 'the echo of PING 7');
  assert.deepEqual(
    peer.frames.filter((frame) => frame.type === 'PING'),
    [{ type: 'PING', id: 7 }],
  );
});

test('SETTINGS, WINDOW_UPDATE, unknown frames and DATA for unknown streams are ignored', async (t) => {
  const { peer, errors } = await serverWithRawPeer(t);
  peer.send(encodeFrame({ type: 'SETTINGS', flags: 0, settings: [{ id: 7, flags: 0, value: 65536 }] }));
  peer.send(encodeFrame({ type: 'WINDOW_UPDATE', streamId: 1, deltaWindowSize: 1000 }));
  peer.send(Buffer.from('8003000a0000000400000000', 'hex'));
  peer.send(encodeFrame({ type: 'DATA', streamId: 99, flags: 0, data: Buffer.from('lost') }));
  peer.send(encodeFrame({ type: 'PING', id: 1 }));
  await peer.waitForFrame(isPing(1), 'the echo of PING 1');
  assert.deepEqual(errors, []);
  assert.deepEqual(
    peer.frames.map((frame) => frame.type),
    ['PING'],
  );
});

test('a 16 MiB DATA frame for a stream that does not exist passes through without being held', async (t) => {
  const { serverSocket, clientSocket } = await tcpPair(t);
  const server = new SpdyConnection(serverSocket, { role: 'server' });
  t.after(() => server.destroy());
  const peer = new RawPeer(clientSocket);
  let held = 0;
  // Registered after the connection's own listener: sees what it kept of each chunk.
  serverSocket.on('data', () => {
    held = Math.max(held, server.bufferedBytes);
  });
  const size = 16 * 1024 * 1024 - 1;
  const slice = Buffer.alloc(64 * 1024, 0xab);
  peer.send(encodeDataFrameHeader(99, 0, size));
  for (let sent = 0; sent < size; sent += slice.length)
    peer.send(slice.subarray(0, Math.min(slice.length, size - sent)));
  peer.send(encodeFrame({ type: 'PING', id: 1 }));
  await peer.waitForFrame(isPing(1), 'the echo of the PING behind the frame');
  assert.ok(held < 16, `the session held ${held} bytes of the frame`);
  assert.equal(server.closing, false);
});

test('a peer that sends without reading our answers makes the session stop reading, and nothing is lost', async (t) => {
  const [ours, theirs] = duplexPair();
  const server = new SpdyConnection(ours, { role: 'server' });
  t.after(() => server.destroy());
  theirs.pause();
  // More echoes than both directions' buffers take (64 KiB each), and more than the queue limit.
  const pings = 20_000;
  theirs.write(Buffer.concat(Array.from({ length: pings }, (_, i) => encodeFrame({ type: 'PING', id: 2 * i + 1 }))));
  await waitUntil(() => ours.isPaused(), 'the session pauses reading');
  // Paused for good, not just between two chunks.
  await delay(20);
  assert.equal(ours.isPaused(), true);
  let echoes = 0;
  const parser = new FrameParser(
    (frame) => {
      if (frame.type === 'PING') echoes++;
    },
    (error) => assert.fail(error),
  );
  theirs.on('data', (chunk: Buffer) => parser.write(chunk));
  theirs.resume();
  await waitUntil(() => echoes === pings, `all ${pings} PINGs echoed (${echoes} so far)`);
  assert.equal(ours.isPaused(), false);
});

test('writing to a stream the peer opened unidirectional closes that stream, never an error', async (t) => {
  const { server, peer, errors } = await serverWithRawPeer(t);
  const opened = once(server, 'stream') as Promise<[SpdyStream]>;
  await peer.synStream(1, { streamtype: 'stdout' }, FLAG_UNIDIRECTIONAL);
  const [stream] = await opened;
  const streamErrors: Error[] = [];
  stream.on('error', (error) => streamErrors.push(error));
  stream.write('not allowed');
  await once(stream, 'close');
  assert.deepEqual(streamErrors, []);
  await peer.waitForFrame(isReset(1, RstStatus.CANCEL), 'RST_STREAM for the stream');
  peer.send(encodeFrame({ type: 'PING', id: 1 }));
  await peer.waitForFrame(isPing(1), 'the session goes on');
  assert.deepEqual(errors, []);
});

test('a bad stream ID is refused with RST_STREAM and the session goes on', async (t) => {
  const { server, peer, errors } = await serverWithRawPeer(t);
  server.on('stream', (stream) => stream.accept());
  await peer.synStream(2, { streamtype: 'stdin' });
  await peer.waitForFrame(isReset(2, RstStatus.PROTOCOL_ERROR), 'RST_STREAM for the even ID');
  await peer.synStream(5, { streamtype: 'stdin' });
  await peer.waitForFrame(isReply(5), 'SYN_REPLY for 5');
  await peer.synStream(3, { streamtype: 'stdin' });
  await peer.waitForFrame(isReset(3, RstStatus.PROTOCOL_ERROR), 'RST_STREAM for an ID going backwards');
  await peer.synStream(7, { streamtype: 'stdin' });
  await peer.waitForFrame(isReply(7), 'SYN_REPLY for 7');
  assert.deepEqual(errors, []);
});

test('a header block that inflates but is malformed resets only its stream', async (t) => {
  const { server, peer, errors } = await serverWithRawPeer(t);
  const streams: SpdyStream[] = [];
  server.on('stream', (stream) => {
    streams.push(stream);
    stream.accept();
  });
  // Claims two headers, carries one.
  await peer.synStreamRaw(1, Buffer.from('0000000200000001610000000162', 'hex'));
  await peer.waitForFrame(isReset(1, RstStatus.PROTOCOL_ERROR), 'RST_STREAM for the malformed block');
  await peer.synStream(3, { streamtype: 'stdout' });
  await peer.waitForFrame(isReply(3), 'SYN_REPLY for the next stream');
  assert.deepEqual(
    streams.map((stream) => stream.id),
    [3],
  );
  assert.deepEqual(errors, []);
});

test('DATA after the peer’s FIN resets the stream with STREAM_ALREADY_CLOSED', async (t) => {
  const { server, peer } = await serverWithRawPeer(t);
  server.on('stream', (stream) => {
    stream.accept();
    stream.resume();
  });
  await peer.synStream(1, { streamtype: 'stdin' }, FLAG_FIN);
  await peer.waitForFrame(isReply(1), 'SYN_REPLY');
  peer.send(encodeFrame({ type: 'DATA', streamId: 1, flags: 0, data: Buffer.from('too late') }));
  await peer.waitForFrame(isReset(1, RstStatus.STREAM_ALREADY_CLOSED), 'RST_STREAM');
});

/** Session-level protocol errors: each must end in GOAWAY(PROTOCOL_ERROR) and a closed socket. */
const sessionErrors: [string, Options, (peer: RawPeer) => Promise<void>][] = [
  [
    'a SPDY/2 frame',
    {},
    async (peer) => {
      const frame = encodeFrame({ type: 'PING', id: 1 });
      frame.writeUInt16BE(0x8002, 0);
      peer.send(frame);
    },
  ],
  ['a frame over the size limit', { maxFrameSize: 1024 }, async (peer) => peer.send(encodeDataFrameHeader(1, 0, 4096))],
  ['a malformed control frame', {}, async (peer) => peer.send(Buffer.from('800300060000000500000001ff', 'hex'))],
  [
    'a header block that is not zlib',
    {},
    async (peer) => peer.send(synStreamFrame(1, Buffer.from('garbage garbage garbage'), 0)),
  ],
  [
    'a decompression bomb',
    { maxHeaderBlockSize: 64 * 1024 },
    async (peer) => peer.synStreamRaw(1, Buffer.alloc(16 * 1024 * 1024)),
  ],
];

for (const [what, options, misbehave] of sessionErrors) {
  test(`${what} ends the session with GOAWAY(PROTOCOL_ERROR), never a crash`, async (t) => {
    const { server, peer, errors, serverClosed } = await serverWithRawPeer(t, options);
    server.on('stream', (stream) => stream.accept());
    await misbehave(peer);
    await peer.waitForFrame(isGoAway(1), 'GOAWAY(PROTOCOL_ERROR)');
    await peer.closed;
    const closeError = await serverClosed;
    assert.ok(closeError instanceof SpdyProtocolError, `close carries ${closeError}`);
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof SpdyProtocolError);
  });
}

test('a protocol error without an error listener does not throw', async (t) => {
  const { serverSocket, clientSocket } = await tcpPair(t);
  const server = new SpdyConnection(serverSocket, { role: 'server' });
  const closed = closeOf(server);
  clientSocket.resume();
  clientSocket.write(Buffer.from('800100060000000400000001', 'hex'));
  const error = await closed;
  assert.ok(error instanceof SpdyProtocolError);
});

test('a truncated frame followed by the peer hanging up closes the session cleanly', async (t) => {
  const { peer, errors, serverClosed } = await serverWithRawPeer(t);
  peer.send(encodeFrame({ type: 'PING', id: 1 }).subarray(0, 6));
  peer.socket.end();
  assert.equal(await serverClosed, undefined);
  assert.deepEqual(errors, []);
});

test('a peer that sends SYN_STREAM, DATA and FIN and then half-closes its socket is heard out', {
  timeout: 5000,
}, async (t) => {
  // The server side of an HTTP upgrade is a half-open socket: the peer's FIN must not drop the
  // frames that were read before it and still wait behind a header block being inflated.
  const listener = net.createServer({ allowHalfOpen: true });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const accepted = once(listener, 'connection') as Promise<[net.Socket]>;
  const clientSocket = net.connect({ port: (listener.address() as net.AddressInfo).port, host: '127.0.0.1' });
  const [serverSocket] = await accepted;
  listener.close();
  t.after(() => {
    serverSocket.destroy();
    clientSocket.destroy();
  });
  const server = new SpdyConnection(serverSocket, { role: 'server' });
  t.after(() => server.destroy());
  const received = new Promise<Buffer>((resolve) =>
    server.on('stream', (stream) => {
      stream.accept();
      resolve(readAll(stream));
    }),
  );
  const compressor = new HeaderCompressor();
  t.after(() => compressor.close());
  const block = await compressor.compress(encodeHeaderBlock({ streamtype: 'stdin' }));
  clientSocket.end(
    Buffer.concat([
      synStreamFrame(1, block, 0),
      encodeFrame({ type: 'DATA', streamId: 1, flags: FLAG_FIN, data: Buffer.from('last words') }),
    ]),
  );
  assert.equal((await received).toString(), 'last words');
  await closeOf(server);
});
