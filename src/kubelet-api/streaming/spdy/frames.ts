/**
 * SPDY/3.1 frames: pure encoders and decoders, the name/value header block, and a streaming
 * parser that turns a byte stream split at arbitrary points into whole frames.
 *
 * Header blocks travel compressed; this module only moves the compressed bytes
 * (`headerBlock`). `zlib.ts` owns the per-connection compression contexts, because those are
 * stateful and asynchronous while everything here is synchronous and side-effect free.
 *
 * Wire layout (SPDY/3 draft, section 2.2):
 * - control frame: `1 | version(15) | type(16) | flags(8) | length(24) | payload`
 * - data frame:    `0 | streamId(31) | flags(8) | length(24) | payload`
 */
import { SpdyProtocolError } from './errors.ts';

const EMPTY = Buffer.alloc(0);

/** The only protocol version spoken (SPDY/3 and 3.1 share the framing). */
export const SPDY_VERSION = 3;

/** Bytes before every frame's payload. */
export const FRAME_HEADER_SIZE = 8;

/** Largest payload the 24-bit length field can describe. */
export const MAX_FRAME_PAYLOAD = 0xff_ffff;

/** Largest stream ID (31 bits). */
export const MAX_STREAM_ID = 0x7fff_ffff;

/** Default cap on one frame's payload: 16 MiB, i.e. whatever the length field allows. */
export const DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024;

/**
 * Default cap on one control frame's payload, which the parser must hold whole: a compressed
 * header block of at most 1 MiB inflated (deflate adds a few bytes per 64 KiB to data it cannot
 * shrink) plus the frame's own fields. Kubernetes' header blocks are a few hundred bytes.
 */
export const DEFAULT_MAX_CONTROL_FRAME_SIZE = 1024 * 1024 + 4096;

/** Control frame type codes. */
export const ControlType = {
  SYN_STREAM: 1,
  SYN_REPLY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  HEADERS: 8,
  WINDOW_UPDATE: 9,
} as const;

/** FIN on DATA, SYN_STREAM, SYN_REPLY and HEADERS: the sender will send nothing more on the stream. */
export const FLAG_FIN = 0x01;
/** UNIDIRECTIONAL on SYN_STREAM: the recipient may not send on the stream. */
export const FLAG_UNIDIRECTIONAL = 0x02;

/** RST_STREAM status codes. */
export const RstStatus = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  UNSUPPORTED_VERSION: 4,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
  FLOW_CONTROL_ERROR: 7,
  STREAM_IN_USE: 8,
  STREAM_ALREADY_CLOSED: 9,
  INVALID_CREDENTIALS: 10,
  FRAME_TOO_LARGE: 11,
} as const;

/** GOAWAY status codes. */
export const GoAwayStatus = {
  OK: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
} as const;

/**
 * Header names and values. Names are lowercase (SPDY requires it; decoding lowercases them).
 * A header with several values has them as an array; on the wire they are joined by NUL.
 */
export type SpdyHeaders = Record<string, string | string[]>;

/**
 * DATA: payload bytes of one stream; FIN in `flags` half-closes it. {@link FrameParser} hands a
 * frame's payload on in pieces as it arrives, so a 16 MiB frame is never held whole: every piece
 * but the last is `partial`, and only the last carries the frame's flags.
 */
export interface DataFrame {
  type: 'DATA';
  streamId: number;
  flags: number;
  data: Buffer;
  /** From {@link FrameParser}: more of this frame's payload follows in the next DataFrame. */
  partial?: boolean;
}

/** SYN_STREAM: opens a stream, carrying its headers. */
export interface SynStreamFrame {
  type: 'SYN_STREAM';
  streamId: number;
  /** 0 unless the stream is pushed in association with another. */
  associatedStreamId: number;
  /** 0 (highest) to 7. */
  priority: number;
  slot: number;
  flags: number;
  /** The compressed name/value block. */
  headerBlock: Buffer;
}

/** SYN_REPLY: accepts a stream the peer opened. */
export interface SynReplyFrame {
  type: 'SYN_REPLY';
  streamId: number;
  flags: number;
  headerBlock: Buffer;
}

/** RST_STREAM: aborts (or refuses) a stream; `status` is one of {@link RstStatus}. */
export interface RstStreamFrame {
  type: 'RST_STREAM';
  streamId: number;
  status: number;
}

/** One entry of a SETTINGS frame. */
export interface SpdySetting {
  id: number;
  flags: number;
  value: number;
}

/** SETTINGS: session parameters (parsed, and ignored by the connection). */
export interface SettingsFrame {
  type: 'SETTINGS';
  flags: number;
  settings: SpdySetting[];
}

/** PING: echoed by the side that did not send it; IDs are odd from clients, even from servers. */
export interface PingFrame {
  type: 'PING';
  id: number;
}

/** GOAWAY: the sender accepts no new streams; `status` is one of {@link GoAwayStatus}. */
export interface GoAwayFrame {
  type: 'GOAWAY';
  lastGoodStreamId: number;
  status: number;
}

/** HEADERS: more headers for an open stream. */
export interface HeadersFrame {
  type: 'HEADERS';
  streamId: number;
  flags: number;
  headerBlock: Buffer;
}

/** WINDOW_UPDATE: SPDY/3.1 flow control, which Kubernetes' peers never use (parsed, ignored). */
export interface WindowUpdateFrame {
  type: 'WINDOW_UPDATE';
  streamId: number;
  deltaWindowSize: number;
}

/** Any frame this implementation understands. Control frames of other types are skipped. */
export type SpdyFrame =
  | DataFrame
  | SynStreamFrame
  | SynReplyFrame
  | RstStreamFrame
  | SettingsFrame
  | PingFrame
  | GoAwayFrame
  | HeadersFrame
  | WindowUpdateFrame;

/** The frames that carry a compressed header block. */
export type HeaderBlockFrame = SynStreamFrame | SynReplyFrame | HeadersFrame;

/** The fixed 8-byte prefix of a frame. */
export interface FrameHeader {
  control: boolean;
  /** Control frames only; 0 for data frames. */
  version: number;
  /** Control frames only; 0 for data frames. */
  controlType: number;
  /** Data frames only; 0 for control frames. */
  streamId: number;
  flags: number;
  /** Payload length, excluding these 8 bytes. */
  length: number;
}

// ---------------------------------------------------------------------------------------------
// Encoding

function controlFrame(type: number, flags: number, payloadLength: number): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + payloadLength);
  frame.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  frame.writeUInt16BE(type, 2);
  frame.writeUInt8(flags & 0xff, 4);
  frame.writeUIntBE(payloadLength, 5, 3);
  return frame;
}

function checkStreamId(streamId: number, allowZero = false): void {
  if (!Number.isInteger(streamId) || streamId < (allowZero ? 0 : 1) || streamId > MAX_STREAM_ID) {
    throw new RangeError(`invalid SPDY stream ID ${streamId}`);
  }
}

function checkPayload(length: number): void {
  if (length > MAX_FRAME_PAYLOAD) throw new RangeError(`a SPDY frame payload is at most ${MAX_FRAME_PAYLOAD} bytes`);
}

/**
 * The 8-byte header of a DATA frame. Writers send it followed by the payload as a separate
 * buffer, so a large payload is never copied.
 */
export function encodeDataFrameHeader(streamId: number, flags: number, length: number): Buffer {
  checkStreamId(streamId);
  checkPayload(length);
  const header = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
  header.writeUInt32BE(streamId, 0);
  header.writeUInt8(flags & 0xff, 4);
  header.writeUIntBE(length, 5, 3);
  return header;
}

/** Encodes one frame. Throws RangeError for values the wire format cannot carry (a local bug). */
export function encodeFrame(frame: SpdyFrame): Buffer {
  switch (frame.type) {
    case 'DATA':
      return Buffer.concat([encodeDataFrameHeader(frame.streamId, frame.flags, frame.data.length), frame.data]);
    case 'SYN_STREAM': {
      checkStreamId(frame.streamId);
      checkStreamId(frame.associatedStreamId, true);
      checkPayload(10 + frame.headerBlock.length);
      const out = controlFrame(ControlType.SYN_STREAM, frame.flags, 10 + frame.headerBlock.length);
      out.writeUInt32BE(frame.streamId, 8);
      out.writeUInt32BE(frame.associatedStreamId, 12);
      out.writeUInt8((frame.priority & 0x07) << 5, 16);
      out.writeUInt8(frame.slot & 0xff, 17);
      frame.headerBlock.copy(out, 18);
      return out;
    }
    case 'SYN_REPLY':
    case 'HEADERS': {
      checkStreamId(frame.streamId);
      checkPayload(4 + frame.headerBlock.length);
      const type = frame.type === 'SYN_REPLY' ? ControlType.SYN_REPLY : ControlType.HEADERS;
      const out = controlFrame(type, frame.flags, 4 + frame.headerBlock.length);
      out.writeUInt32BE(frame.streamId, 8);
      frame.headerBlock.copy(out, 12);
      return out;
    }
    case 'RST_STREAM': {
      checkStreamId(frame.streamId);
      const out = controlFrame(ControlType.RST_STREAM, 0, 8);
      out.writeUInt32BE(frame.streamId, 8);
      out.writeUInt32BE(frame.status >>> 0, 12);
      return out;
    }
    case 'SETTINGS': {
      const out = controlFrame(ControlType.SETTINGS, frame.flags, 4 + 8 * frame.settings.length);
      out.writeUInt32BE(frame.settings.length, 8);
      let offset = 12;
      for (const setting of frame.settings) {
        out.writeUInt8(setting.flags & 0xff, offset);
        out.writeUIntBE(setting.id & 0xff_ffff, offset + 1, 3);
        out.writeUInt32BE(setting.value >>> 0, offset + 4);
        offset += 8;
      }
      return out;
    }
    case 'PING': {
      const out = controlFrame(ControlType.PING, 0, 4);
      out.writeUInt32BE(frame.id >>> 0, 8);
      return out;
    }
    case 'GOAWAY': {
      checkStreamId(frame.lastGoodStreamId, true);
      const out = controlFrame(ControlType.GOAWAY, 0, 8);
      out.writeUInt32BE(frame.lastGoodStreamId, 8);
      out.writeUInt32BE(frame.status >>> 0, 12);
      return out;
    }
    case 'WINDOW_UPDATE': {
      checkStreamId(frame.streamId, true);
      const out = controlFrame(ControlType.WINDOW_UPDATE, 0, 8);
      out.writeUInt32BE(frame.streamId, 8);
      out.writeUInt32BE(frame.deltaWindowSize & 0x7fff_ffff, 12);
      return out;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** Reads the fixed 8-byte prefix of a frame (`bytes` must hold at least 8 bytes). */
export function decodeFrameHeader(bytes: Buffer): FrameHeader {
  const first = bytes.readUInt32BE(0);
  const flags = bytes.readUInt8(4);
  const length = bytes.readUIntBE(5, 3);
  if (first & 0x8000_0000) {
    return { control: true, version: (first >>> 16) & 0x7fff, controlType: first & 0xffff, streamId: 0, flags, length };
  }
  return { control: false, version: 0, controlType: 0, streamId: first & MAX_STREAM_ID, flags, length };
}

function protocolError(message: string): SpdyProtocolError {
  return new SpdyProtocolError(message);
}

function expectLength(name: string, length: number, expected: number): void {
  if (length !== expected) throw protocolError(`SPDY ${name} frame has length ${length}, expected ${expected}`);
}

function expectStreamId(name: string, streamId: number): number {
  if (streamId === 0) throw protocolError(`SPDY ${name} frame names stream 0`);
  return streamId;
}

/**
 * Decodes one complete frame (`bytes` is exactly the 8-byte header plus the payload). Payloads
 * are views into `bytes`, not copies. Returns undefined for a control frame type this
 * implementation does not know: the SPDY/3 draft says to ignore those.
 * Throws {@link SpdyProtocolError} for a malformed frame.
 */
export function decodeFrame(bytes: Buffer): SpdyFrame | undefined {
  if (bytes.length < FRAME_HEADER_SIZE) throw protocolError(`SPDY frame truncated to ${bytes.length} bytes`);
  const header = decodeFrameHeader(bytes);
  if (bytes.length !== FRAME_HEADER_SIZE + header.length) {
    throw protocolError(`SPDY frame is ${bytes.length} bytes but its header says ${FRAME_HEADER_SIZE + header.length}`);
  }
  const payload = bytes.subarray(FRAME_HEADER_SIZE);
  if (!header.control) {
    return { type: 'DATA', streamId: expectStreamId('DATA', header.streamId), flags: header.flags, data: payload };
  }
  if (header.version !== SPDY_VERSION) {
    throw protocolError(`unsupported SPDY version ${header.version} (only ${SPDY_VERSION} is spoken)`);
  }
  const { flags, length } = header;
  switch (header.controlType) {
    case ControlType.SYN_STREAM:
      if (length < 10) throw protocolError(`SPDY SYN_STREAM frame too short (${length} bytes)`);
      return {
        type: 'SYN_STREAM',
        streamId: expectStreamId('SYN_STREAM', payload.readUInt32BE(0) & MAX_STREAM_ID),
        associatedStreamId: payload.readUInt32BE(4) & MAX_STREAM_ID,
        priority: payload.readUInt8(8) >>> 5,
        slot: payload.readUInt8(9),
        flags,
        headerBlock: payload.subarray(10),
      };
    case ControlType.SYN_REPLY:
    case ControlType.HEADERS: {
      const name = header.controlType === ControlType.SYN_REPLY ? 'SYN_REPLY' : 'HEADERS';
      if (length < 4) throw protocolError(`SPDY ${name} frame too short (${length} bytes)`);
      const streamId = expectStreamId(name, payload.readUInt32BE(0) & MAX_STREAM_ID);
      return { type: name, streamId, flags, headerBlock: payload.subarray(4) };
    }
    case ControlType.RST_STREAM: {
      expectLength('RST_STREAM', length, 8);
      const streamId = expectStreamId('RST_STREAM', payload.readUInt32BE(0) & MAX_STREAM_ID);
      const status = payload.readUInt32BE(4);
      if (status === 0) throw protocolError(`SPDY RST_STREAM for stream ${streamId} has status 0`);
      return { type: 'RST_STREAM', streamId, status };
    }
    case ControlType.SETTINGS: {
      if (length < 4) throw protocolError(`SPDY SETTINGS frame too short (${length} bytes)`);
      const count = payload.readUInt32BE(0);
      if (length !== 4 + 8 * count) {
        throw protocolError(`SPDY SETTINGS frame of ${length} bytes cannot hold ${count} settings`);
      }
      const settings: SpdySetting[] = [];
      for (let offset = 4; offset < length; offset += 8) {
        settings.push({
          flags: payload.readUInt8(offset),
          id: payload.readUIntBE(offset + 1, 3),
          value: payload.readUInt32BE(offset + 4),
        });
      }
      return { type: 'SETTINGS', flags, settings };
    }
    case ControlType.PING:
      expectLength('PING', length, 4);
      return { type: 'PING', id: payload.readUInt32BE(0) };
    case ControlType.GOAWAY:
      expectLength('GOAWAY', length, 8);
      return {
        type: 'GOAWAY',
        lastGoodStreamId: payload.readUInt32BE(0) & MAX_STREAM_ID,
        status: payload.readUInt32BE(4),
      };
    case ControlType.WINDOW_UPDATE:
      expectLength('WINDOW_UPDATE', length, 8);
      return {
        type: 'WINDOW_UPDATE',
        streamId: payload.readUInt32BE(0) & MAX_STREAM_ID,
        deltaWindowSize: payload.readUInt32BE(4) & 0x7fff_ffff,
      };
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Name/value header blocks (uncompressed form)

/**
 * Encodes headers as an uncompressed name/value block:
 * `u32 count, (u32 nameLength, name, u32 valueLength, value)*`, names lowercased, several
 * values joined by NUL. Throws RangeError for an empty name or two names equal but for case.
 */
export function encodeHeaderBlock(headers: SpdyHeaders): Buffer {
  const pairs: Buffer[] = [];
  const seen = new Set<string>();
  for (const [rawName, rawValue] of Object.entries(headers)) {
    const name = rawName.toLowerCase();
    if (name.length === 0) throw new RangeError('a SPDY header name cannot be empty');
    if (seen.has(name)) throw new RangeError(`SPDY header ${name} is given twice`);
    seen.add(name);
    const nameBytes = Buffer.from(name, 'utf8');
    const valueBytes = Buffer.from(typeof rawValue === 'string' ? rawValue : rawValue.join('\0'), 'utf8');
    const lengths = Buffer.allocUnsafe(4);
    lengths.writeUInt32BE(nameBytes.length);
    const valueLength = Buffer.allocUnsafe(4);
    valueLength.writeUInt32BE(valueBytes.length);
    pairs.push(lengths, nameBytes, valueLength, valueBytes);
  }
  const count = Buffer.allocUnsafe(4);
  count.writeUInt32BE(seen.size);
  return Buffer.concat([count, ...pairs]);
}

/**
 * Decodes an uncompressed name/value block. Names are lowercased; a value containing NUL
 * becomes an array. The result has no prototype, so a header called `__proto__` is just a
 * header. Throws {@link SpdyProtocolError} (for `streamId`) when the block is truncated, has
 * trailing bytes, an empty name, or a name twice.
 */
export function decodeHeaderBlock(block: Buffer, streamId?: number): SpdyHeaders {
  const fail = (message: string) => new SpdyProtocolError(message, { streamId });
  if (block.length < 4) throw fail(`SPDY header block truncated (${block.length} bytes)`);
  const count = block.readUInt32BE(0);
  // Each pair needs at least its two length fields: reject impossible counts before looping.
  if (count > (block.length - 4) / 8) throw fail(`SPDY header block of ${block.length} bytes claims ${count} headers`);
  const headers: SpdyHeaders = Object.create(null);
  let offset = 4;
  const readString = (what: string): string => {
    if (offset + 4 > block.length) throw fail(`SPDY header block truncated in a ${what} length`);
    const length = block.readUInt32BE(offset);
    offset += 4;
    if (length > block.length - offset) throw fail(`SPDY header ${what} of ${length} bytes overruns its block`);
    const text = block.toString('utf8', offset, offset + length);
    offset += length;
    return text;
  };
  for (let i = 0; i < count; i++) {
    const name = readString('name').toLowerCase();
    if (name.length === 0) throw fail('SPDY header block has an empty header name');
    if (Object.hasOwn(headers, name)) throw fail(`SPDY header block has header ${name} twice`);
    const value = readString('value');
    headers[name] = value.includes('\0') ? value.split('\0') : value;
  }
  if (offset !== block.length) throw fail(`SPDY header block has ${block.length - offset} bytes after its headers`);
  return headers;
}

// ---------------------------------------------------------------------------------------------
// Streaming parser

/** Options of {@link FrameParser}. */
export interface FrameParserOptions {
  /** Largest accepted payload of a DATA frame, in bytes. Default 16 MiB (it is never buffered whole). */
  maxFrameSize?: number;
  /** Largest accepted payload of a control frame, which is buffered whole. Default 1 MiB + 4 KiB. */
  maxControlFrameSize?: number;
}

/** The DATA frame whose payload is passing through. */
interface DataInProgress {
  streamId: number;
  flags: number;
  remaining: number;
}

/**
 * Turns a byte stream, split anywhere, into frames. Control frames are handed to `onFrame` whole
 * as soon as their last byte arrives. A DATA frame's payload is handed on as it arrives, in
 * pieces that are views of the input chunks (see {@link DataFrame}): the parser never holds DATA,
 * so what it buffers is at most one control frame (`maxControlFrameSize`) and a frame header.
 *
 * Any protocol error (bad version, a frame over its limit, a malformed control frame) is
 * reported once through `onError` and stops the parser: after it, the byte stream cannot be
 * trusted to be aligned on frames, so later input is ignored. Unknown control frame types are
 * skipped silently, as the SPDY/3 draft asks.
 */
export class FrameParser {
  readonly maxFrameSize: number;
  readonly maxControlFrameSize: number;
  #onFrame: (frame: SpdyFrame) => void;
  #onError: (error: SpdyProtocolError) => void;
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Header plus payload of the control frame being assembled, once its header has been validated. */
  #frameSize = -1;
  #data: DataInProgress | undefined;
  #failed = false;

  constructor(
    onFrame: (frame: SpdyFrame) => void,
    onError: (error: SpdyProtocolError) => void,
    options: FrameParserOptions = {},
  ) {
    this.#onFrame = onFrame;
    this.#onError = onError;
    this.maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.maxControlFrameSize = options.maxControlFrameSize ?? DEFAULT_MAX_CONTROL_FRAME_SIZE;
  }

  /** True once a protocol error stopped the parser. */
  get failed(): boolean {
    return this.#failed;
  }

  /** Bytes received and held: part of a frame header or of a control frame. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** Feeds the next bytes of the stream. */
  write(chunk: Buffer): void {
    if (this.#failed || chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    while (!this.#failed) {
      if (this.#data) {
        if (!this.#passData(this.#data)) return;
        continue;
      }
      if (this.#frameSize < 0) {
        if (this.#buffered < FRAME_HEADER_SIZE) return;
        if (!this.#startFrame(decodeFrameHeader(this.#peekHeader()))) return;
        continue;
      }
      if (this.#buffered < this.#frameSize) return;
      const bytes = this.#take(this.#frameSize);
      this.#frameSize = -1;
      let frame: SpdyFrame | undefined;
      try {
        frame = decodeFrame(bytes);
      } catch (error) {
        if (!(error instanceof SpdyProtocolError)) throw error;
        this.#fail(error);
        return;
      }
      if (frame) this.#onFrame(frame);
    }
  }

  /**
   * Checks what a header promises before anything of the payload is kept, so a peer cannot make
   * us hold a frame that will be rejected anyway. False when the parser failed.
   */
  #startFrame(header: FrameHeader): boolean {
    if (!header.control) {
      if (header.length > this.maxFrameSize) {
        return this.#fail(
          new SpdyProtocolError(`SPDY frame of ${header.length} bytes is over the limit of ${this.maxFrameSize}`),
        );
      }
      if (header.streamId === 0) return this.#fail(new SpdyProtocolError('SPDY DATA frame names stream 0'));
      this.#take(FRAME_HEADER_SIZE);
      this.#data = { streamId: header.streamId, flags: header.flags, remaining: header.length };
      return true;
    }
    if (header.version !== SPDY_VERSION) {
      return this.#fail(
        new SpdyProtocolError(`unsupported SPDY version ${header.version} (only ${SPDY_VERSION} is spoken)`),
      );
    }
    if (header.length > this.maxControlFrameSize) {
      return this.#fail(
        new SpdyProtocolError(
          `SPDY control frame of ${header.length} bytes is over the limit of ${this.maxControlFrameSize}`,
        ),
      );
    }
    this.#frameSize = FRAME_HEADER_SIZE + header.length;
    return true;
  }

  /** Hands on what has arrived of a DATA payload; false when more input is needed. */
  #passData(data: DataInProgress): boolean {
    if (data.remaining === 0) {
      // A frame without payload (a bare FIN).
      this.#data = undefined;
      this.#onFrame({ type: 'DATA', streamId: data.streamId, flags: data.flags, data: EMPTY });
      return true;
    }
    if (this.#buffered === 0) return false;
    const first = this.#chunks[0] as Buffer;
    const size = Math.min(first.length, data.remaining);
    const piece = this.#take(size);
    data.remaining -= size;
    if (data.remaining > 0) {
      this.#onFrame({ type: 'DATA', streamId: data.streamId, flags: 0, data: piece, partial: true });
    } else {
      this.#data = undefined;
      this.#onFrame({ type: 'DATA', streamId: data.streamId, flags: data.flags, data: piece });
    }
    return true;
  }

  #fail(error: SpdyProtocolError): false {
    this.#failed = true;
    this.#chunks = [];
    this.#buffered = 0;
    this.#data = undefined;
    this.#onError(error);
    return false;
  }
  #peekHeader(): Buffer {
    const first = this.#chunks[0] as Buffer;
    if (first.length >= FRAME_HEADER_SIZE) return first;
    const header = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
    let filled = 0;
    for (const chunk of this.#chunks) {
      filled += chunk.copy(header, filled, 0, Math.min(chunk.length, FRAME_HEADER_SIZE - filled));
      if (filled === FRAME_HEADER_SIZE) break;
    }
    return header;
  }

  /** Removes the first `size` buffered bytes; a view when they lie in one chunk, else one copy. */
  #take(size: number): Buffer {
    this.#buffered -= size;
    const first = this.#chunks[0] as Buffer;
    if (first.length >= size) {
      if (first.length === size) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(size);
      return first.subarray(0, size);
    }
    const out = Buffer.allocUnsafe(size);
    let filled = 0;
    let used = 0;
    while (filled < size) {
      const chunk = this.#chunks[used] as Buffer;
      const wanted = size - filled;
      if (chunk.length <= wanted) {
        chunk.copy(out, filled);
        filled += chunk.length;
        used++;
      } else {
        chunk.copy(out, filled, 0, wanted);
        filled += wanted;
        this.#chunks[used] = chunk.subarray(wanted);
      }
    }
    // One splice for all the chunks consumed, so assembling a frame from many small chunks
    // stays linear in their number.
    this.#chunks.splice(0, used);
    return out;
  }
}
