/**
 * Docker's multiplexed stream format, which Podman uses for logs, exec and attach when the
 * process has no TTY: each frame is an 8-byte header — stream number (0 stdin, 1 stdout,
 * 2 stderr, 3 system error), three zero bytes, a big-endian uint32 payload length — and the
 * payload. With a TTY, exec and attach send the terminal's bytes raw, without headers.
 */

/** The stream a frame belongs to. */
export type FrameStream = 'stdin' | 'stdout' | 'stderr' | 'system';

export interface Frame {
  stream: FrameStream;
  payload: Buffer;
}

const HEADER_LENGTH = 8;
const STREAMS: readonly FrameStream[] = ['stdin', 'stdout', 'stderr', 'system'];

/** True if `bytes` starts with something that can be a frame header. */
export function looksFramed(bytes: Buffer): boolean {
  if (bytes.length < 4) return (bytes[0] ?? 0) <= 3 && bytes.subarray(1).every((b) => b === 0);
  return (bytes[0] ?? 255) <= 3 && bytes[1] === 0 && bytes[2] === 0 && bytes[3] === 0;
}

/**
 * Incremental decoder: feed chunks as they arrive, get whole frames back. In `auto` mode the
 * first bytes decide: a valid header means framed, anything else raw (every chunk is stdout).
 */
export class FrameDecoder {
  #mode: 'framed' | 'raw' | 'auto';
  #buffer: Buffer = Buffer.alloc(0);

  constructor(mode: 'framed' | 'raw' | 'auto' = 'auto') {
    this.#mode = mode;
  }

  /** `framed` or `raw` once known; `auto` until the first bytes arrive. */
  get mode(): 'framed' | 'raw' | 'auto' {
    return this.#mode;
  }

  /** Decodes what `chunk` completes; keeps a partial frame for the next call. */
  push(chunk: Buffer): Frame[] {
    if (this.#mode === 'raw') return chunk.length > 0 ? [{ stream: 'stdout', payload: chunk }] : [];
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    if (this.#mode === 'auto') {
      if (this.#buffer.length < 4 && looksFramed(this.#buffer)) return [];
      this.#mode = looksFramed(this.#buffer) ? 'framed' : 'raw';
      if (this.#mode === 'raw') {
        const raw = this.#buffer;
        this.#buffer = Buffer.alloc(0);
        return raw.length > 0 ? [{ stream: 'stdout', payload: raw }] : [];
      }
    }
    const frames: Frame[] = [];
    let offset = 0;
    while (this.#buffer.length - offset >= HEADER_LENGTH) {
      const kind = this.#buffer[offset] ?? 0;
      const length = this.#buffer.readUInt32BE(offset + 4);
      if (this.#buffer.length - offset - HEADER_LENGTH < length) break;
      const start = offset + HEADER_LENGTH;
      frames.push({ stream: STREAMS[kind] ?? 'system', payload: this.#buffer.subarray(start, start + length) });
      offset = start + length;
    }
    this.#buffer = offset === this.#buffer.length ? Buffer.alloc(0) : this.#buffer.subarray(offset);
    return frames;
  }

  /** Bytes of an incomplete frame left at the end of the stream (0 when it ended cleanly). */
  get pendingBytes(): number {
    return this.#buffer.length;
  }
}

/** Decodes a byte stream into frames (see {@link FrameDecoder}). */
export async function* decodeFrames(
  source: AsyncIterable<Buffer | string>,
  mode: 'framed' | 'raw' | 'auto' = 'auto',
): AsyncGenerator<Frame> {
  const decoder = new FrameDecoder(mode);
  for await (const chunk of source) {
    yield* decoder.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  }
}

/** Encodes one frame (for tests and fakes of the Podman API). */
export function encodeFrame(stream: FrameStream, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(HEADER_LENGTH);
  header[0] = STREAMS.indexOf(stream);
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}
