/**
 * The SPDY frame codec, the streaming parser and the name/value header block under generated
 * input: anything a peer sends either decodes or is a SpdyProtocolError, and what we encode
 * decodes to itself however the byte stream is cut.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bytes, fc, fuzz, parsesOrRefuses, splits } from '../../../util/fuzz-support.test.ts';
import { SpdyProtocolError } from './errors.ts';
import {
  DEFAULT_MAX_CONTROL_FRAME_SIZE,
  decodeFrame,
  decodeHeaderBlock,
  encodeFrame,
  encodeHeaderBlock,
  FRAME_HEADER_SIZE,
  FrameParser,
  MAX_STREAM_ID,
  type SpdyFrame,
  type SpdyHeaders,
} from './frames.ts';

const streamId = fc.integer({ min: 1, max: MAX_STREAM_ID });
const u8 = fc.integer({ min: 0, max: 0xff });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });

/** Every frame this implementation can send, with every field over its whole range. */
const frame: fc.Arbitrary<SpdyFrame> = fc.oneof(
  fc.record({ type: fc.constant('DATA' as const), streamId, flags: u8, data: bytes(300) }),
  fc.record({
    type: fc.constant('SYN_STREAM' as const),
    streamId,
    associatedStreamId: fc.integer({ min: 0, max: MAX_STREAM_ID }),
    priority: fc.integer({ min: 0, max: 7 }),
    slot: u8,
    flags: u8,
    headerBlock: bytes(64),
  }),
  fc.record({
    type: fc.constantFrom('SYN_REPLY' as const, 'HEADERS' as const),
    streamId,
    flags: u8,
    headerBlock: bytes(64),
  }),
  fc.record({ type: fc.constant('RST_STREAM' as const), streamId, status: fc.integer({ min: 1, max: 0xffff_ffff }) }),
  fc.record({
    type: fc.constant('SETTINGS' as const),
    flags: u8,
    settings: fc.array(fc.record({ id: fc.integer({ min: 0, max: 0xff_ffff }), flags: u8, value: u32 }), {
      maxLength: 5,
    }),
  }),
  fc.record({ type: fc.constant('PING' as const), id: u32 }),
  fc.record({
    type: fc.constant('GOAWAY' as const),
    lastGoodStreamId: fc.integer({ min: 0, max: MAX_STREAM_ID }),
    status: u32,
  }),
  fc.record({
    type: fc.constant('WINDOW_UPDATE' as const),
    streamId: fc.integer({ min: 0, max: MAX_STREAM_ID }),
    deltaWindowSize: fc.integer({ min: 0, max: 0x7fff_ffff }),
  }),
) as fc.Arbitrary<SpdyFrame>;

/** Buffers compare by content; views and copies are equal. */
function normalise(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}

/** A parser whose DATA pieces are joined back into the frames they came from. */
function parse(chunks: readonly Buffer[]): { frames: SpdyFrame[]; errors: unknown[]; maxHeld: number } {
  const frames: SpdyFrame[] = [];
  const errors: unknown[] = [];
  let pieces: Buffer[] = [];
  let maxHeld = 0;
  const parser = new FrameParser(
    (decoded) => {
      if (errors.length > 0) throw new Error('a frame after the parser failed');
      if (decoded.type !== 'DATA') {
        frames.push(decoded);
        return;
      }
      pieces.push(decoded.data);
      if (decoded.partial) return;
      frames.push({ ...decoded, data: Buffer.concat(pieces) });
      pieces = [];
    },
    (error) => errors.push(error),
  );
  for (const chunk of chunks) {
    parser.write(chunk);
    maxHeld = Math.max(maxHeld, parser.bufferedBytes);
  }
  return { frames, errors, maxHeld };
}

test('fuzz: every frame decodes to itself', (t) => {
  fuzz(t, 'SPDY encode/decode round trip', frame, (f) => {
    assert.deepEqual(normalise(decodeFrame(encodeFrame(f))), normalise(f));
  });
});

test('fuzz: any bytes decode to a frame or a SpdyProtocolError', (t) => {
  fuzz(t, 'SPDY decodeFrame on random bytes', bytes(64), (input) => {
    parsesOrRefuses(() => decodeFrame(input), SpdyProtocolError);
  });
  // Close to valid: an encoded frame with bytes flipped, cut short or extended.
  const damaged = fc
    .tuple(frame, fc.array(fc.tuple(fc.nat(), u8), { minLength: 1, maxLength: 4 }), fc.integer({ min: -8, max: 8 }))
    .map(([f, flips, resize]) => {
      const encoded = Buffer.from(encodeFrame(f));
      for (const [at, value] of flips) encoded[at % encoded.length] = value;
      return resize < 0
        ? encoded.subarray(0, Math.max(0, encoded.length + resize))
        : Buffer.concat([encoded, Buffer.alloc(resize)]);
    });
  fuzz(t, 'SPDY decodeFrame on damaged frames', damaged, (input) => {
    parsesOrRefuses(() => decodeFrame(input), SpdyProtocolError);
  });
});

test('fuzz: the streaming parser gives the frames sent, however the stream is cut', (t) => {
  const stream = fc
    .array(frame, { minLength: 1, maxLength: 8 })
    .chain((frames) => fc.tuple(fc.constant(frames), splits(Buffer.concat(frames.map(encodeFrame)))));
  fuzz(t, 'SPDY FrameParser on cut streams', stream, ([frames, chunks]) => {
    const parsed = parse(chunks);
    assert.deepEqual(parsed.errors, []);
    assert.deepEqual(normalise(parsed.frames), normalise(frames));
    // DATA is never held; a control frame is held until its last byte.
    const largestControl = Math.max(0, ...frames.filter((f) => f.type !== 'DATA').map((f) => encodeFrame(f).length));
    assert.ok(parsed.maxHeld <= Math.max(largestControl, FRAME_HEADER_SIZE), `held ${parsed.maxHeld} bytes`);
  });
});

test('fuzz: the streaming parser never throws on garbage, reports at most one SpdyProtocolError, then stops', (t) => {
  const garbage = fc.oneof(
    bytes(200).chain(splits),
    // Valid frames with garbage in between: the parser must stop at the first bad byte.
    fc
      .tuple(fc.array(frame, { maxLength: 4 }), bytes(40), fc.array(frame, { maxLength: 4 }))
      .chain(([before, junk, after]) =>
        splits(Buffer.concat([...before.map(encodeFrame), junk, ...after.map(encodeFrame)])),
      ),
  );
  fuzz(t, 'SPDY FrameParser on garbage', garbage, (chunks) => {
    const parsed = parse(chunks);
    assert.ok(parsed.errors.length <= 1);
    for (const error of parsed.errors) {
      assert.ok(error instanceof SpdyProtocolError, String(error));
      assert.ok(error.message.length > 0);
    }
    assert.ok(parsed.maxHeld <= DEFAULT_MAX_CONTROL_FRAME_SIZE + FRAME_HEADER_SIZE);
  });
});

/** Header names as SPDY allows them: non-empty and lowercase (decoding lowercases). */
const headerName = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 12 })
  .filter((name) => name === name.toLowerCase());
const headerValue = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.array(fc.string({ unit: 'grapheme', maxLength: 8 }), { minLength: 1, maxLength: 3 }),
);

test('fuzz: header blocks decode to the headers encoded; any other bytes are a SpdyProtocolError', (t) => {
  fuzz(t, 'SPDY header block round trip', fc.dictionary(headerName, headerValue, { maxKeys: 6 }), (headers) => {
    const expected: SpdyHeaders = Object.create(null);
    for (const [name, value] of Object.entries(headers)) {
      // Several values travel joined by NUL and come back split at every NUL.
      const joined = typeof value === 'string' ? value : value.join('\0');
      expected[name] = joined.includes('\0') ? joined.split('\0') : joined;
    }
    assert.deepEqual(decodeHeaderBlock(encodeHeaderBlock(headers)), expected);
  });
  fuzz(t, 'SPDY decodeHeaderBlock on random bytes', bytes(80), (input) => {
    const result = parsesOrRefuses(() => decodeHeaderBlock(input, 1), SpdyProtocolError);
    if ('error' in result) assert.equal((result.error as SpdyProtocolError).streamId, 1);
  });
  // Length fields that lie: the block's own structure with counts and lengths replaced.
  const lying = fc
    .tuple(fc.dictionary(headerName, headerValue, { maxKeys: 4 }), fc.nat(), u32)
    .map(([headers, at, value]) => {
      const block = Buffer.from(encodeHeaderBlock(headers));
      const offset = (at % Math.max(1, block.length - 3)) & ~3;
      if (offset + 4 <= block.length) block.writeUInt32BE(value, offset);
      return block;
    });
  fuzz(t, 'SPDY decodeHeaderBlock with lying lengths', lying, (input) => {
    parsesOrRefuses(() => decodeHeaderBlock(input), SpdyProtocolError);
  });
});
