/**
 * SPDY/3 header compression: one zlib stream per direction per connection, primed with the
 * SPDY/3 dictionary, each header block ending in a sync flush (`00 00 ff ff`).
 *
 * The contexts are stateful (every block is compressed against the ones before it), so blocks
 * must go through in the order their frames are on the wire. `node:zlib` streams run on the
 * thread pool and are asynchronous; both classes here keep a queue and let exactly one block
 * through at a time, which also makes it unambiguous which output belongs to which block.
 */
import zlib from 'node:zlib';
import { SPDY3_DICTIONARY } from './dictionary.ts';
import { SpdyProtocolError } from './errors.ts';

/** Default cap on the inflated size of one header block: 1 MiB. */
export const DEFAULT_MAX_HEADER_BLOCK_SIZE = 1024 * 1024;

interface PendingBlock {
  input: Buffer;
  resolve: (output: Buffer) => void;
  reject: (error: Error) => void;
}

/** Runs blocks through one zlib stream, one at a time, collecting each block's output. */
class SerialZlib {
  #stream: zlib.Deflate | zlib.Inflate;
  #maxOutput: number;
  #describe: string;
  #queue: PendingBlock[] = [];
  #current: PendingBlock | undefined;
  #output: Buffer[] = [];
  #outputSize = 0;
  #failure: Error | undefined;

  constructor(stream: zlib.Deflate | zlib.Inflate, maxOutput: number, describe: string) {
    this.#stream = stream;
    this.#maxOutput = maxOutput;
    this.#describe = describe;
    stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    stream.on('error', (error: Error) =>
      this.#fail(new SpdyProtocolError(`${describe} failed: ${error.message}`, { cause: error })),
    );
  }

  run(input: Buffer): Promise<Buffer> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#queue.push({ input, resolve, reject });
      this.#next();
    });
  }

  close(): void {
    this.#fail(new SpdyProtocolError(`${this.#describe} was closed`));
  }

  #next(): void {
    if (this.#current || this.#failure) return;
    const block = this.#queue.shift();
    if (!block) return;
    if (block.input.length === 0) {
      // Nothing to (de)compress; zlib would not produce output for it either.
      block.resolve(Buffer.alloc(0));
      this.#next();
      return;
    }
    this.#current = block;
    this.#output = [];
    this.#outputSize = 0;
    this.#stream.write(block.input, () => this.#onBlockDone(block));
  }

  #onData(chunk: Buffer): void {
    if (!this.#current || this.#failure) return;
    this.#outputSize += chunk.length;
    if (this.#outputSize > this.#maxOutput) {
      // Stop zlib here rather than let a small compressed block inflate to gigabytes.
      this.#fail(
        new SpdyProtocolError(`${this.#describe} produced over ${this.#maxOutput} bytes for one header block`),
      );
      return;
    }
    this.#output.push(chunk);
  }

  #onBlockDone(block: PendingBlock): void {
    if (this.#current !== block || this.#failure) return;
    // Output can sit in the readable buffer when the write callback runs; pull it through
    // 'data' now so it is counted for this block and not the next.
    while (!this.#failure && this.#stream.read() !== null) {}
    if (this.#failure) return;
    this.#current = undefined;
    block.resolve(this.#output.length === 1 ? (this.#output[0] as Buffer) : Buffer.concat(this.#output));
    this.#output = [];
    this.#next();
  }

  #fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = error;
    const pending = this.#current ? [this.#current, ...this.#queue] : this.#queue;
    this.#current = undefined;
    this.#queue = [];
    this.#output = [];
    this.#stream.destroy();
    for (const block of pending) block.reject(error);
  }
}

/** Options of {@link HeaderCompressor}. */
export interface HeaderCompressorOptions {
  /** zlib compression level, 0–9. Default: zlib's default (6). */
  level?: number;
}

/**
 * Compresses the outgoing header blocks of one connection. Blocks come out in the order they
 * went in, each ending in a sync flush so the peer can inflate it without the next.
 */
export class HeaderCompressor {
  #serial: SerialZlib;

  constructor(options: HeaderCompressorOptions = {}) {
    // A small window and memory level: the blocks sent are tiny (a server mostly sends empty
    // SYN_REPLY blocks), and zlib's defaults cost about 256 KiB per connection, which is most of
    // an idle exec session's memory. Any inflater reads a smaller window; the 2 KiB window still
    // holds the 1 423-byte dictionary.
    const deflate = zlib.createDeflate({
      dictionary: SPDY3_DICTIONARY,
      flush: zlib.constants.Z_SYNC_FLUSH,
      level: options.level ?? zlib.constants.Z_DEFAULT_COMPRESSION,
      windowBits: 11,
      memLevel: 1,
      chunkSize: 1024,
    });
    this.#serial = new SerialZlib(deflate, Number.POSITIVE_INFINITY, 'SPDY header compression');
  }

  /** Compresses one uncompressed name/value block. */
  compress(block: Buffer): Promise<Buffer> {
    return this.#serial.run(block);
  }

  /** Frees the zlib stream; pending and later calls reject. */
  close(): void {
    this.#serial.close();
  }
}

/** Options of {@link HeaderDecompressor}. */
export interface HeaderDecompressorOptions {
  /** Largest inflated size of one header block, in bytes. Default 1 MiB. */
  maxBlockSize?: number;
}

/**
 * Inflates the incoming header blocks of one connection. A block that does not inflate, or
 * inflates to more than `maxBlockSize`, rejects with {@link SpdyProtocolError} and breaks the
 * context for good (every later block depends on it): the connection must be closed.
 */
export class HeaderDecompressor {
  readonly maxBlockSize: number;
  #serial: SerialZlib;

  constructor(options: HeaderDecompressorOptions = {}) {
    this.maxBlockSize = options.maxBlockSize ?? DEFAULT_MAX_HEADER_BLOCK_SIZE;
    // The inflater must accept the peer's full 32 KiB window; only its output buffer is kept small.
    const inflate = zlib.createInflate({
      dictionary: SPDY3_DICTIONARY,
      flush: zlib.constants.Z_SYNC_FLUSH,
      chunkSize: 1024,
    });
    this.#serial = new SerialZlib(inflate, this.maxBlockSize, 'SPDY header decompression');
  }

  /** Inflates one compressed name/value block. */
  decompress(block: Buffer): Promise<Buffer> {
    return this.#serial.run(block);
  }

  /** Frees the zlib stream; pending and later calls reject. */
  close(): void {
    this.#serial.close();
  }
}
