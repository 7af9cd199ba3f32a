import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpdyProtocolError } from './errors.ts';
import {
  decodeFrame,
  decodeHeaderBlock,
  encodeDataFrameHeader,
  encodeFrame,
  encodeHeaderBlock,
  FLAG_FIN,
  FrameParser,
  type SpdyFrame,
} from './frames.ts';

/** One frame of every type, with values that exercise every field's full width. */
const samples: SpdyFrame[] = [
  { type: 'DATA', streamId: 1, flags: 0, data: Buffer.from('hello') },
  { type: 'DATA', streamId: 0x7fff_ffff, flags: FLAG_FIN, data: Buffer.alloc(0) },
  {
    type: 'SYN_STREAM',
    streamId: 3,
    associatedStreamId: 0x7fff_fffe,
    priority: 7,
    slot: 255,
    flags: FLAG_FIN | 0x02,
    headerBlock: Buffer.from([1, 2, 3, 4, 5]),
  },
  { type: 'SYN_REPLY', streamId: 5, flags: FLAG_FIN, headerBlock: Buffer.from([9, 8, 7]) },
  { type: 'RST_STREAM', streamId: 7, status: 5 },
  {
    type: 'SETTINGS',
    flags: 1,
    settings: [
      { id: 4, flags: 1, value: 100 },
      { id: 0xff_ffff, flags: 2, value: 0xffff_ffff },
    ],
  },
  { type: 'SETTINGS', flags: 0, settings: [] },
  { type: 'PING', id: 0xffff_ffff },
  { type: 'GOAWAY', lastGoodStreamId: 41, status: 1 },
  { type: 'HEADERS', streamId: 9, flags: 0, headerBlock: Buffer.from([0]) },
  { type: 'WINDOW_UPDATE', streamId: 0, deltaWindowSize: 0x7fff_ffff },
];

function normalise(frame: SpdyFrame | undefined): unknown {
  // Buffers compare by content; views and copies are equal.
  return JSON.parse(JSON.stringify(frame));
}

test('every frame type survives encode then decode', () => {
  for (const frame of samples) {
    assert.deepEqual(normalise(decodeFrame(encodeFrame(frame))), normalise(frame), frame.type);
  }
});

test('control frames have the SPDY/3 layout on the wire', () => {
  const ping = encodeFrame({ type: 'PING', id: 1 });
  assert.equal(ping.toString('hex'), '8003000600000004' + '00000001');
  const rst = encodeFrame({ type: 'RST_STREAM', streamId: 1, status: 3 });
  assert.equal(rst.toString('hex'), '800300030000000800000001' + '00000003');
  const syn = encodeFrame({
    type: 'SYN_STREAM',
    streamId: 1,
    associatedStreamId: 0,
    priority: 2,
    slot: 0,
    flags: 1,
    headerBlock: Buffer.from('ab'),
  });
  assert.equal(syn.toString('hex'), '80030001' + '0100000c' + '00000001' + '00000000' + '40' + '00' + '6162');
  assert.equal(encodeDataFrameHeader(0x12345, FLAG_FIN, 0x10203).toString('hex'), '00012345' + '01010203');
});

test('encoding rejects what the wire cannot carry', () => {
  assert.throws(() => encodeDataFrameHeader(0, 0, 1), RangeError);
  assert.throws(() => encodeDataFrameHeader(1, 0, 0x100_0000), RangeError);
  assert.throws(() => encodeFrame({ type: 'RST_STREAM', streamId: 0x8000_0000, status: 1 }), RangeError);
  assert.throws(() => encodeHeaderBlock({ '': 'x' }), RangeError);
  assert.throws(() => encodeHeaderBlock({ Port: '1', port: '2' }), RangeError);
});

test('header blocks: lowercase names, NUL-joined values, no prototype', () => {
  const block = encodeHeaderBlock({ streamType: 'error', Port: '8080', requestID: ['1', '2'], empty: '' });
  // u32 count, then u32 length + bytes for each name and value.
  assert.equal(block.readUInt32BE(0), 4);
  assert.equal(block.readUInt32BE(4), 'streamtype'.length);
  assert.equal(block.subarray(8, 18).toString(), 'streamtype');
  const headers = decodeHeaderBlock(block);
  assert.deepEqual({ ...headers }, { streamtype: 'error', port: '8080', requestid: ['1', '2'], empty: '' });
  assert.equal(Object.getPrototypeOf(headers), null);

  const sneaky = decodeHeaderBlock(encodeHeaderBlock({ ['__proto__']: 'x', constructor: 'y' }));
  assert.equal(Object.getOwnPropertyDescriptor(sneaky, '__proto__')?.value, 'x');
  assert.equal(Object.getPrototypeOf(sneaky), null);
  assert.equal(sneaky.constructor, 'y');

  // Upper-case names from a sloppy peer are lowercased rather than rejected.
  const upper = Buffer.concat([u32(1), u32(4), Buffer.from('PORT'), u32(2), Buffer.from('80')]);
  assert.deepEqual({ ...decodeHeaderBlock(upper) }, { port: '80' });
  assert.deepEqual({ ...decodeHeaderBlock(encodeHeaderBlock({})) }, {});
});

function u32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value);
  return out;
}

test('malformed header blocks are protocol errors for their stream', () => {
  const cases: [string, Buffer][] = [
    ['too short for a count', Buffer.from([0, 0])],
    ['a count larger than the block can hold', u32(1000)],
    ['a name overrunning the block', Buffer.concat([u32(1), u32(100), Buffer.from('abc'), u32(0)])],
    ['a missing value length', Buffer.concat([u32(1), u32(1), Buffer.from('a'), Buffer.from([0, 0])])],
    ['trailing bytes', Buffer.concat([encodeHeaderBlock({ a: 'b' }), Buffer.from([0])])],
    ['an empty name', Buffer.concat([u32(1), u32(0), u32(1), Buffer.from('x')])],
    ['a name twice', Buffer.concat([u32(2), u32(1), Buffer.from('a'), u32(0), u32(1), Buffer.from('A'), u32(0)])],
  ];
  for (const [what, block] of cases) {
    assert.throws(
      () => decodeHeaderBlock(block, 7),
      (error: unknown) => error instanceof SpdyProtocolError && error.streamId === 7,
      what,
    );
  }
});

test('malformed frames are protocol errors', () => {
  const withLength = (frame: Buffer, length: number) => {
    const copy = Buffer.from(frame);
    copy.writeUIntBE(length, 5, 3);
    return Buffer.concat([copy.subarray(0, 8), Buffer.alloc(length)]);
  };
  const ping = encodeFrame({ type: 'PING', id: 1 });
  const badVersion = Buffer.from(ping);
  badVersion.writeUInt16BE(0x8002, 0);
  const cases: [string, Buffer][] = [
    ['shorter than a header', Buffer.from([0x80, 3, 0])],
    ['length disagreeing with the bytes', Buffer.concat([ping, Buffer.from([0])])],
    ['SPDY/2', badVersion],
    ['PING of 5 bytes', withLength(ping, 5)],
    [
      'GOAWAY of 4 bytes (the SPDY/2 size)',
      withLength(encodeFrame({ type: 'GOAWAY', lastGoodStreamId: 1, status: 0 }), 4),
    ],
    ['RST_STREAM of 4 bytes', withLength(encodeFrame({ type: 'RST_STREAM', streamId: 1, status: 1 }), 4)],
    [
      'WINDOW_UPDATE of 12 bytes',
      withLength(encodeFrame({ type: 'WINDOW_UPDATE', streamId: 1, deltaWindowSize: 1 }), 12),
    ],
    ['SYN_STREAM without room for its fields', withLength(encodeFrame(samples[2] as SpdyFrame), 6)],
    ['SETTINGS whose count does not fit', withLength(encodeFrame({ type: 'SETTINGS', flags: 0, settings: [] }), 8)],
    ['DATA on stream 0', Buffer.from([0, 0, 0, 0, 0, 0, 0, 1, 42])],
    ['RST_STREAM with status 0', encodeFrame({ type: 'RST_STREAM', streamId: 1, status: 0 })],
    ['SYN_REPLY for stream 0', Buffer.from('8003000200000004' + '00000000', 'hex')],
  ];
  for (const [what, bytes] of cases) assert.throws(() => decodeFrame(bytes), SpdyProtocolError, what);
});

test('unknown control frame types decode to nothing (the draft says to ignore them)', () => {
  const credential = Buffer.from('8003000a00000003010203', 'hex');
  assert.equal(decodeFrame(credential), undefined);
});

interface Collected {
  frames: SpdyFrame[];
  errors: SpdyProtocolError[];
  parser: FrameParser;
}

/** A parser whose DATA pieces are put back together into whole frames, as they were sent. */
function collect(maxFrameSize?: number): Collected {
  const frames: SpdyFrame[] = [];
  const errors: SpdyProtocolError[] = [];
  let pieces: Buffer[] = [];
  const parser = new FrameParser(
    (frame) => {
      if (frame.type !== 'DATA') {
        frames.push(frame);
        return;
      }
      pieces.push(frame.data);
      if (frame.partial) return;
      frames.push({ ...frame, data: pieces.length === 1 ? frame.data : Buffer.concat(pieces) });
      pieces = [];
    },
    (error) => errors.push(error),
    maxFrameSize === undefined ? {} : { maxFrameSize },
  );
  return { frames, errors, parser };
}

test('the parser reassembles frames fed one byte at a time', () => {
  const big: SpdyFrame = { type: 'DATA', streamId: 11, flags: 0, data: Buffer.alloc(70_000, 0xab) };
  const unknown = Buffer.from('8003000b00000002abcd', 'hex');
  const stream = Buffer.concat([...samples.map(encodeFrame), unknown, encodeFrame(big)]);
  const { frames, errors, parser } = collect();
  for (let i = 0; i < stream.length; i++) parser.write(stream.subarray(i, i + 1));
  assert.deepEqual(errors, []);
  assert.deepEqual(frames.map(normalise), [...samples, big].map(normalise));
  assert.equal(parser.bufferedBytes, 0);
});

test('the parser gives the same frames for any split of the stream', () => {
  const stream = Buffer.concat(samples.map(encodeFrame));
  let seed = 42;
  const random = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fff_ffff;
    return seed / 0x7fff_ffff;
  };
  for (let round = 0; round < 200; round++) {
    const { frames, errors, parser } = collect();
    for (let offset = 0; offset < stream.length; ) {
      const size = 1 + Math.floor(random() * 40);
      parser.write(stream.subarray(offset, offset + size));
      offset += size;
    }
    assert.deepEqual(errors, []);
    assert.deepEqual(frames.map(normalise), samples.map(normalise));
  }
});

test('a payload that arrives in one chunk is a view of it, not a copy', () => {
  const bytes = encodeFrame({ type: 'DATA', streamId: 1, flags: 0, data: Buffer.from('zero-copy') });
  const { frames, parser } = collect();
  parser.write(bytes);
  const frame = frames[0];
  assert.ok(frame?.type === 'DATA');
  assert.equal(frame.data.buffer, bytes.buffer);
});

test('the parser stops at the first protocol error and reports it once', () => {
  const good = encodeFrame({ type: 'PING', id: 1 });
  const bad = Buffer.from(good);
  bad.writeUInt16BE(0x8002, 0);
  const { frames, errors, parser } = collect();
  parser.write(Buffer.concat([good, bad.subarray(0, 3)]));
  parser.write(Buffer.concat([bad.subarray(3), good, good]));
  assert.equal(frames.length, 1);
  assert.equal(errors.length, 1);
  assert.match(errors[0]?.message ?? '', /version 2/);
  assert.equal(parser.failed, true);
  parser.write(good);
  assert.equal(frames.length, 1);
  assert.equal(errors.length, 1);
});

test('an oversized frame is rejected from its header, before its payload arrives', () => {
  const { frames, errors, parser } = collect(1024);
  parser.write(encodeDataFrameHeader(1, 0, 1025));
  assert.equal(errors.length, 1);
  assert.match(errors[0]?.message ?? '', /over the limit of 1024/);
  assert.equal(parser.bufferedBytes, 0);
  assert.equal(frames.length, 0);

  const atLimit = collect(1024);
  atLimit.parser.write(encodeFrame({ type: 'DATA', streamId: 1, flags: 0, data: Buffer.alloc(1024) }));
  assert.equal(atLimit.frames.length, 1);
  assert.equal(atLimit.errors.length, 0);
});

test('a truncated stream leaves the partial frame buffered, and garbage is an error, never a throw', () => {
  const { frames, errors, parser } = collect();
  const ping = encodeFrame({ type: 'PING', id: 9 });
  parser.write(ping.subarray(0, 10));
  assert.equal(frames.length, 0);
  assert.equal(parser.bufferedBytes, 10);

  let seed = 7;
  for (let round = 0; round < 500; round++) {
    const garbage = collect();
    const bytes = Buffer.alloc(64);
    for (let i = 0; i < bytes.length; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fff_ffff;
      bytes[i] = seed & 0xff;
    }
    assert.doesNotThrow(() => garbage.parser.write(bytes));
    assert.ok(garbage.errors.length <= 1);
  }
  assert.equal(errors.length, 0);
});
