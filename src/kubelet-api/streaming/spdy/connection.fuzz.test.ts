/**
 * A SPDY session and its header compression under generated input, as a hostile peer would send
 * it: header blocks that do not inflate, frames in any order and for any stream, garbage between
 * them. The session must never throw or emit anything but a SpdyProtocolError, must answer or end,
 * and a well-formed conversation must go through whatever came before it on other streams.
 */
import assert from 'node:assert/strict';
import { duplexPair } from 'node:stream';
import { test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { bytes, fc, fuzzAsync } from '../../../util/fuzz-support.test.ts';
import { SpdyConnection } from './connection.ts';
import { SpdyProtocolError } from './errors.ts';
import { encodeFrame, encodeHeaderBlock, FrameParser, MAX_STREAM_ID, type SpdyFrame } from './frames.ts';
import { HeaderCompressor, HeaderDecompressor } from './zlib.ts';

test('fuzz: the header inflater answers any bytes with a block or a SpdyProtocolError', async (t) => {
  await fuzzAsync(
    t,
    'SPDY HeaderDecompressor on random blocks',
    fc.array(bytes(64), { minLength: 1, maxLength: 4 }),
    async (blocks) => {
      const inflater = new HeaderDecompressor({ maxBlockSize: 4096 });
      try {
        for (const block of blocks) {
          try {
            assert.ok(Buffer.isBuffer(await inflater.decompress(block)));
          } catch (error) {
            assert.ok(error instanceof SpdyProtocolError, String(error));
            return;
          }
        }
      } finally {
        inflater.close();
      }
    },
  );
});

test('fuzz: header blocks survive compression in sequence on one context', async (t) => {
  const blocks = fc.array(
    fc.dictionary(
      fc.string({ minLength: 1, maxLength: 10 }).map((s) => s.toLowerCase()),
      fc.string({ maxLength: 40 }),
      { maxKeys: 5 },
    ),
    {
      minLength: 1,
      maxLength: 5,
    },
  );
  await fuzzAsync(t, 'SPDY header compression round trip', blocks, async (sequence) => {
    const deflater = new HeaderCompressor();
    const inflater = new HeaderDecompressor();
    try {
      for (const headers of sequence) {
        const plain = encodeHeaderBlock(headers);
        assert.deepEqual(await inflater.decompress(await deflater.compress(plain)), plain);
      }
    } finally {
      deflater.close();
      inflater.close();
    }
  });
});

/** What a peer may send: frames of every kind for a few stream IDs, and raw garbage. */
const peerInput = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('syn' as const),
      streamId: fc.integer({ min: 1, max: 9 }),
      flags: fc.integer({ min: 0, max: 3 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('data' as const),
      streamId: fc.integer({ min: 0, max: 9 }),
      flags: fc.integer({ min: 0, max: 1 }),
      data: bytes(40),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('rst' as const),
      streamId: fc.integer({ min: 1, max: 9 }),
      status: fc.integer({ min: 0, max: 12 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('ping' as const), id: fc.integer({ min: 0, max: 20 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('reply' as const),
      streamId: fc.integer({ min: 1, max: 9 }),
      block: bytes(12),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('settings' as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('goaway' as const),
      lastGood: fc.integer({ min: 0, max: MAX_STREAM_ID }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('garbage' as const), bytes: bytes(24) }) },
);

type PeerInput = typeof peerInput extends fc.Arbitrary<infer T> ? T : never;

/** Inputs after which the session must still be open: none breaks the byte stream or ends it. */
function benign(input: PeerInput): boolean {
  switch (input.kind) {
    case 'garbage':
    case 'reply':
    case 'goaway':
      return false;
    case 'data':
      return input.streamId !== 0;
    case 'rst':
      return input.status !== 0;
    default:
      return true;
  }
}

async function encodeInput(input: PeerInput, compressor: HeaderCompressor): Promise<Buffer> {
  switch (input.kind) {
    case 'syn': {
      const headerBlock = await compressor.compress(encodeHeaderBlock({ streamtype: 'stdout' }));
      return encodeFrame({
        type: 'SYN_STREAM',
        streamId: input.streamId,
        associatedStreamId: 0,
        priority: 0,
        slot: 0,
        flags: input.flags,
        headerBlock,
      });
    }
    case 'data': {
      // Stream 0 cannot be encoded: write the header by hand.
      const header = Buffer.alloc(8);
      header.writeUInt32BE(input.streamId, 0);
      header.writeUInt8(input.flags, 4);
      header.writeUIntBE(input.data.length, 5, 3);
      return Buffer.concat([header, input.data]);
    }
    case 'rst': {
      const frame = Buffer.from(encodeFrame({ type: 'RST_STREAM', streamId: input.streamId, status: 1 }));
      frame.writeUInt32BE(input.status, 12);
      return frame;
    }
    case 'ping':
      return encodeFrame({ type: 'PING', id: input.id });
    case 'reply':
      // A header block that was never compressed on our context: it breaks the session.
      return encodeFrame({ type: 'SYN_REPLY', streamId: input.streamId, flags: 0, headerBlock: input.block });
    case 'settings':
      return encodeFrame({ type: 'SETTINGS', flags: 0, settings: [{ id: 7, flags: 0, value: 1 }] });
    case 'goaway':
      return encodeFrame({ type: 'GOAWAY', lastGoodStreamId: input.lastGood, status: 0 });
    case 'garbage':
      return input.bytes;
  }
}

test('fuzz: a session fed any frames in any order never throws, and ends or keeps answering', async (t) => {
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);
  process.on('uncaughtException', onUncaught);
  t.after(() => process.off('uncaughtException', onUncaught));
  await fuzzAsync(
    t,
    'SPDY session on random frame sequences',
    fc.array(peerInput, { minLength: 1, maxLength: 12 }),
    async (inputs) => {
      const [ours, theirs] = duplexPair();
      // No timer may end the session for us: when we hang up, it must see it and end (a hang fails the run).
      const server = new SpdyConnection(ours, { role: 'server', idleTimeout: 0, closeTimeout: 60_000 });
      const errors: Error[] = [];
      server.on('error', (error) => errors.push(error));
      server.on('stream', (stream) => {
        stream.accept();
        stream.on('data', () => {});
        stream.write('hello');
      });
      // Not events.once: it would reject on the 'error' the session reports first.
      const closed = new Promise((resolve) => server.once('close', resolve));
      const compressor = new HeaderCompressor();
      let answered = false;
      const parser = new FrameParser(
        (frame: SpdyFrame) => {
          if (frame.type === 'PING' && frame.id === 1001) answered = true;
        },
        () => {},
      );
      theirs.on('data', (chunk: Buffer) => parser.write(chunk));
      theirs.on('error', () => {});
      try {
        for (const input of inputs) theirs.write(await encodeInput(input, compressor));
        // A PING behind it all: a session that nothing broke must answer it.
        theirs.write(encodeFrame({ type: 'PING', id: 1001 }));
        if (inputs.every(benign)) {
          while (!answered) {
            assert.equal(server.closed, false, `the session closed: ${errors.join(', ')}`);
            await nextTurn();
          }
        }
        // Then we hang up: whatever state it is in (waiting for the rest of a frame, closing), it ends.
        theirs.end();
        await closed;
        for (const error of errors) assert.ok(error instanceof SpdyProtocolError, String(error));
        assert.deepEqual(uncaught, []);
      } finally {
        compressor.close();
        server.destroy();
        theirs.destroy();
      }
    },
    { runs: 2000 },
  );
});
