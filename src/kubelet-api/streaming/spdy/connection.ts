/**
 * A SPDY/3.1 session over any byte stream, as Kubernetes uses it between kube-apiserver and
 * a kubelet for exec, attach and port-forward.
 *
 * What Go's `moby/spdystream` (the other end, inside client-go and the kubelet) does, and so
 * what this does:
 * - The client opens every stream with SYN_STREAM; the server answers SYN_REPLY with an empty
 *   header block, or RST_STREAM to refuse. Data follows as DATA frames; FIN half-closes.
 * - There is no flow control: spdystream never sends WINDOW_UPDATE and ignores the ones it gets.
 *   Back-pressure comes from TCP instead: a stream whose reader falls behind pauses reading the
 *   socket (head-of-line, as in spdystream, whose frame handlers block on a slow reader), and
 *   writers wait while the socket's buffer is full.
 * - PINGs from the peer are echoed unchanged; GOAWAY from the peer ends the session.
 * - DATA for a stream that does not exist (never opened, reset, finished) is dropped, as
 *   spdystream drops it.
 *
 * What one session holds is bounded whatever the peer sends: DATA passes through in pieces as
 * it arrives (never a whole 16 MiB frame; for an unknown stream, nothing at all); at most one
 * control frame is buffered (1 MiB + 4 KiB, for a header block of at most `maxHeaderBlockSize`);
 * reading pauses while a stream's reader is behind, while a header block inflates, and while
 * more than {@link MAX_QUEUED_CONTROL_FRAMES} of our control frames wait for a peer that does not
 * read; and at most `maxConcurrentStreams` streams are open.
 *
 * The same class serves both ends (`role`), so tests and benchmarks can drive the server with
 * a client built on the same frames.
 */
import { EventEmitter } from 'node:events';
import { Duplex, finished } from 'node:stream';
import { SpdyConnectionClosedError, SpdyProtocolError, SpdyStreamResetError, SpdyTimeoutError } from './errors.ts';
import {
  DEFAULT_MAX_FRAME_SIZE,
  decodeHeaderBlock,
  encodeDataFrameHeader,
  encodeFrame,
  encodeHeaderBlock,
  FLAG_FIN,
  FLAG_UNIDIRECTIONAL,
  FrameParser,
  GoAwayStatus,
  type HeaderBlockFrame,
  MAX_FRAME_PAYLOAD,
  MAX_STREAM_ID,
  RstStatus,
  type SpdyFrame,
  type SpdyHeaders,
  type SynStreamFrame,
} from './frames.ts';
import { DEFAULT_MAX_HEADER_BLOCK_SIZE, HeaderCompressor, HeaderDecompressor } from './zlib.ts';

/** Default idle timeout: 4 hours, the CRI streaming server's `StreamIdleTimeout`. */
export const DEFAULT_IDLE_TIMEOUT = 4 * 60 * 60 * 1000;
/** Default payload size of the DATA frames a write is cut into. */
export const DEFAULT_DATA_FRAME_SIZE = 32 * 1024;
/** Default limit of streams open at once on one connection. */
export const DEFAULT_MAX_CONCURRENT_STREAMS = 1000;
/** Default time a closing connection waits for its last frames to leave and the peer to hang up. */
export const DEFAULT_CLOSE_TIMEOUT = 10_000;

/** Bytes a control frame may have beyond its largest header block: fields and deflate's framing. */
const CONTROL_FRAME_OVERHEAD = 4096;
/**
 * Control frames we may have queued, unsent, before reading from the peer pauses: our answers to
 * its frames (PING echoes, RST_STREAMs) pile up only when it sends without reading.
 */
export const MAX_QUEUED_CONTROL_FRAMES = 1024;

const EMPTY = Buffer.alloc(0);

/** Options of {@link SpdyConnection}. */
export interface SpdyConnectionOptions {
  /**
   * `server` (the kubelet) accepts the odd stream IDs a client opens and opens even ones;
   * `client` the reverse.
   */
  role: 'server' | 'client';
  /** Milliseconds without any frame, in or out, before the session is closed. 0 disables. Default 4 h. */
  idleTimeout?: number;
  /** Largest payload of one incoming frame. Default 16 MiB. */
  maxFrameSize?: number;
  /** Largest inflated header block. Default 1 MiB. */
  maxHeaderBlockSize?: number;
  /** Payload size of outgoing DATA frames. Default 32 KiB. */
  dataFrameSize?: number;
  /** Streams open at once; further SYN_STREAMs are refused with REFUSED_STREAM. Default 1000. */
  maxConcurrentStreams?: number;
  /** Milliseconds a closing session waits to flush and for the peer to hang up. Default 10 s. */
  closeTimeout?: number;
  /** Bytes already read from the socket that belong to the session (the `head` of an HTTP upgrade). */
  head?: Buffer;
}

/** Options of {@link SpdyConnection.openStream}. */
export interface OpenStreamOptions {
  /** Send FIN with the SYN_STREAM: this side will send no data. */
  fin?: boolean;
  /** Priority 0 (highest) to 7. Default 0. spdystream reads it but Kubernetes never sets it. */
  priority?: number;
}

/** Options of {@link SpdyConnection.createStream}. */
export interface CreateStreamOptions extends OpenStreamOptions {
  /** Milliseconds to wait for SYN_REPLY (client-go waits 30 s). Default 30 s. */
  timeout?: number;
}

/** Events of {@link SpdyConnection}. */
export interface SpdyConnectionEvents {
  /**
   * The peer opened a stream. Call `accept()` (or just write to it) or `refuse()`. A listener
   * that throws ends the session with that error.
   */
  stream: [stream: SpdyStream];
  /** The peer sent GOAWAY; the session is closing. */
  goaway: [lastGoodStreamId: number, status: number];
  /** No frame passed for `idleTimeout`; the session is closing. */
  timeout: [];
  /**
   * A protocol error from the peer or a socket error. Only emitted when someone listens, so a
   * misbehaving peer can never crash the process; 'close' carries the same error.
   */
  error: [error: Error];
  /** The session is over (see {@link SpdyConnection}). `error` says why, when it was not a clean close. */
  close: [error: Error | undefined];
}

/**
 * What a {@link SpdyStream} asks of its connection. Created by {@link SpdyConnection}; not
 * for use outside this module.
 */
export interface SpdyStreamIo {
  accept(): void;
  reset(status: number): void;
  write(data: Buffer, fin: boolean, callback: (error?: Error | null) => void): void;
  read(): void;
  destroyed(): void;
  resetStatus(): number | undefined;
}

/**
 * One SPDY stream, as a Node Duplex: what is written goes out as DATA frames (`end()` sends
 * FIN), what the peer sends is read (its FIN is 'end').
 *
 * A stream never emits 'error' because of the peer: a peer's RST_STREAM emits 'reset' with
 * the status and destroys the stream, and a lost connection destroys it, so a reader sees
 * 'close' without 'end' (`pipeline` reports that as a premature close). Writing to a stream
 * that can no longer send destroys it the same way.
 *
 * Events besides the Duplex ones: 'reply' (headers) when the peer accepts a stream this side
 * opened; 'headers' (headers) for a HEADERS frame; 'reset' (status) for the peer's RST_STREAM.
 */
export class SpdyStream extends Duplex {
  /** The stream ID: odd when the client opened it, even when the server did. */
  readonly id: number;
  /** The SYN_STREAM headers: the peer's for a stream it opened, ours for one we opened. */
  readonly headers: SpdyHeaders;
  #io: SpdyStreamIo;

  /** Created by {@link SpdyConnection}. */
  constructor(id: number, headers: SpdyHeaders, io: SpdyStreamIo, endWritable: boolean) {
    super({ allowHalfOpen: true });
    this.id = id;
    this.headers = headers;
    this.#io = io;
    // A stream we opened with FIN starts ended; its _final finds FIN already accounted for and
    // sends nothing. One the peer opened unidirectional is not ended: a write to it would be an
    // 'error' the peer caused, so it destroys the stream instead, like a write to a closed stream.
    if (endWritable) this.end();
  }

  /** The first value of a header (names are lowercase), or undefined. */
  header(name: string): string | undefined {
    const value = this.headers[name.toLowerCase()];
    return Array.isArray(value) ? value[0] : value;
  }

  /** The status of the peer's RST_STREAM, if it reset the stream. */
  get resetStatus(): number | undefined {
    return this.#io.resetStatus();
  }

  /**
   * Accepts a stream the peer opened: sends SYN_REPLY with an empty header block. Writing to
   * the stream accepts it too. Does nothing for a stream this side opened, or twice.
   */
  accept(): void {
    this.#io.accept();
  }

  /** Refuses a stream the peer opened (RST_STREAM REFUSED_STREAM by default) and destroys it. */
  refuse(status: number = RstStatus.REFUSED_STREAM): void {
    this.#io.reset(status);
  }

  /** Aborts the stream in both directions (RST_STREAM CANCEL by default) and destroys it. */
  reset(status: number = RstStatus.CANCEL): void {
    this.#io.reset(status);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#io.write(chunk, false, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#io.write(EMPTY, true, callback);
  }

  override _read(): void {
    this.#io.read();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#io.destroyed();
    callback(error);
  }
}

/** A chunk handed to the connection by a stream's `_write`/`_final`, sent frame by frame. */
interface PendingData {
  data: Buffer;
  offset: number;
  fin: boolean;
  callback: (error?: Error | null) => void;
}

/** The connection's view of one stream. */
interface StreamRecord {
  id: number;
  stream: SpdyStream;
  /** This side opened it. */
  local: boolean;
  /** The SYN_REPLY (peer's stream) or SYN_STREAM (ours) is queued. */
  synQueued: boolean;
  /** ... and written: DATA may follow it on the wire. */
  canSend: boolean;
  /** The peer answered our SYN_STREAM. */
  replied: boolean;
  localFin: boolean;
  remoteFin: boolean;
  pending: PendingData | undefined;
  inReadyQueue: boolean;
  /** No longer in the stream table: fully closed, reset, or torn down. */
  removed: boolean;
  resetStatus: number | undefined;
}

/** A control frame in the send queue; `bytes` is unset while its header block is compressing. */
interface ControlItem {
  bytes: Buffer | undefined;
  onWritten?: (() => void) | undefined;
}

/** A FIFO with O(1) shift, compacted now and then. */
class Queue<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  peek(): T | undefined {
    return this.#items[this.#head];
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head++;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  clear(): T[] {
    const rest = this.#items.slice(this.#head) as T[];
    this.#items = [];
    this.#head = 0;
    return rest;
  }
}

interface PendingPing {
  started: number;
  resolve: (roundTripMs: number) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * A SPDY/3.1 session on a socket (or any Duplex carrying the byte stream, such as a
 * WebSocket tunnel). See the module comment for the protocol behaviour.
 *
 * Lifecycle: `close()` (or the peer's GOAWAY, the idle timeout, a protocol error) moves the
 * session to closing; `destroy()` or losing the socket ends it at once. 'close' is emitted once,
 * when the socket has ended or closed. By then every stream is destroyed, except that a stream
 * whose peer had already sent FIN is only ended, so its reader still gets the buffered data.
 */
export class SpdyConnection extends EventEmitter<SpdyConnectionEvents> {
  readonly role: 'server' | 'client';
  #socket: Duplex;
  #parser: FrameParser;
  #compressor = new HeaderCompressor();
  #decompressor: HeaderDecompressor;
  #dataFrameSize: number;
  #maxConcurrentStreams: number;
  #closeTimeout: number;

  #state: 'open' | 'closing' | 'closed' = 'open';
  #error: Error | undefined;
  #streams = new Map<number, StreamRecord>();
  #nextStreamId: number;
  #nextPeerStreamId: number;
  #lastPeerStreamId = 0;
  #nextPingId: number;
  #pings = new Map<number, PendingPing>();

  #control = new Queue<ControlItem>();
  #ready = new Queue<StreamRecord>();
  #pumpScheduled = false;
  /** GOAWAY to send once everything before it is out; `null` to end without one. */
  #finalFrame: Buffer | null | undefined;

  #inbox: SpdyFrame[] = [];
  #inflating = false;
  /** The peer's FIN came while frames read before it were still waiting in the inbox. */
  #endAfterInbox = false;
  #readingStopped = false;
  #congested = new Set<StreamRecord>();
  #paused = false;

  #idleTimer: NodeJS.Timeout | undefined;
  #closeTimer: NodeJS.Timeout | undefined;

  constructor(socket: Duplex, options: SpdyConnectionOptions) {
    super();
    this.role = options.role;
    this.#socket = socket;
    const isServer = options.role === 'server';
    this.#nextStreamId = isServer ? 2 : 1;
    this.#nextPeerStreamId = isServer ? 1 : 2;
    this.#nextPingId = isServer ? 2 : 1;
    this.#dataFrameSize = Math.max(1, Math.min(options.dataFrameSize ?? DEFAULT_DATA_FRAME_SIZE, MAX_FRAME_PAYLOAD));
    this.#maxConcurrentStreams = options.maxConcurrentStreams ?? DEFAULT_MAX_CONCURRENT_STREAMS;
    this.#closeTimeout = options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT;
    this.#decompressor = new HeaderDecompressor({
      maxBlockSize: options.maxHeaderBlockSize ?? DEFAULT_MAX_HEADER_BLOCK_SIZE,
    });
    const maxHeaderBlockSize = options.maxHeaderBlockSize ?? DEFAULT_MAX_HEADER_BLOCK_SIZE;
    this.#parser = new FrameParser(
      (frame) => this.#onFrame(frame),
      (error) => this.#protocolError(error),
      {
        maxFrameSize: options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE,
        // A compressed block is at most a little larger than the inflated block it makes.
        maxControlFrameSize: maxHeaderBlockSize + CONTROL_FRAME_OVERHEAD,
      },
    );

    const idleTimeout = options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT;
    if (idleTimeout > 0) {
      this.#idleTimer = setTimeout(() => this.#onIdle(), idleTimeout);
      this.#idleTimer.unref();
    }

    socket.on('data', (chunk: Buffer) => this.#onSocketData(chunk));
    socket.on('drain', () => this.#pump());
    socket.on('end', () => this.#onSocketEnd());
    socket.on('error', (error: Error) => this.#fail(error));
    // Fires on 'close', or on end + finish, or at once for a socket already destroyed.
    finished(socket, () => this.#finalize());
    if (options.head && options.head.length > 0) this.#onSocketData(options.head);
    if (!socket.destroyed) socket.resume();
  }

  /** Bytes of the peer's held by the frame parser: part of a frame header or of one control frame. */
  get bufferedBytes(): number {
    return this.#parser.bufferedBytes;
  }

  /** Streams currently open (not yet closed in both directions or reset). */
  get streamCount(): number {
    return this.#streams.size;
  }

  /** True from `close()` (or anything else that ends the session) on. */
  get closing(): boolean {
    return this.#state !== 'open';
  }

  /** True once 'close' has been emitted. */
  get closed(): boolean {
    return this.#state === 'closed';
  }

  /**
   * Opens a stream (SYN_STREAM) and returns it at once. Data written before the peer replies
   * is sent right after the SYN_STREAM; note that spdystream drops DATA that arrives before it
   * has replied, so against a Go server use {@link createStream}, which waits for SYN_REPLY.
   * Throws {@link SpdyConnectionClosedError} once the session is closing.
   */
  openStream(headers: SpdyHeaders, options: OpenStreamOptions = {}): SpdyStream {
    if (this.#state !== 'open')
      throw new SpdyConnectionClosedError('cannot open a SPDY stream: the session is closing');
    const id = this.#nextStreamId;
    if (id > MAX_STREAM_ID) throw new SpdyConnectionClosedError('cannot open a SPDY stream: stream IDs are used up');
    this.#nextStreamId += 2;
    const block = encodeHeaderBlock(headers);
    const record = this.#addStream(id, decodeHeaderBlock(block), true, options.fin !== true);
    record.synQueued = true;
    const flags = options.fin ? FLAG_FIN : 0;
    const priority = options.priority ?? 0;
    this.#queueHeaderFrame(
      block,
      (headerBlock) =>
        encodeFrame({ type: 'SYN_STREAM', streamId: id, associatedStreamId: 0, priority, slot: 0, flags, headerBlock }),
      () => this.#onSynWritten(record),
    );
    return record.stream;
  }

  /**
   * Opens a stream and resolves once the peer accepts it with SYN_REPLY, as client-go's
   * `CreateStream` does. Rejects with {@link SpdyStreamResetError} if the peer refuses it,
   * {@link SpdyTimeoutError} after `timeout`, {@link SpdyConnectionClosedError} if the session ends.
   */
  createStream(headers: SpdyHeaders, options: CreateStreamOptions = {}): Promise<SpdyStream> {
    let stream: SpdyStream;
    try {
      stream = this.openStream(headers, options);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      const timeout = options.timeout ?? 30_000;
      const cleanup = () => {
        clearTimeout(timer);
        stream.off('reply', onReply);
        stream.off('reset', onReset);
        stream.off('close', onClose);
      };
      const onReply = () => {
        cleanup();
        resolve(stream);
      };
      const onReset = (status: number) => {
        cleanup();
        reject(
          new SpdyStreamResetError(stream.id, status, `the peer reset SPDY stream ${stream.id} (status ${status})`),
        );
      };
      const onClose = () => {
        cleanup();
        reject(new SpdyConnectionClosedError(`SPDY stream ${stream.id} closed before the peer replied`));
      };
      const timer = setTimeout(() => {
        cleanup();
        stream.reset(RstStatus.CANCEL);
        reject(new SpdyTimeoutError(`the peer did not reply to SPDY stream ${stream.id} within ${timeout} ms`));
      }, timeout);
      timer.unref();
      stream.once('reply', onReply);
      stream.once('reset', onReset);
      stream.once('close', onClose);
    });
  }

  /** Sends a PING and resolves with the round trip in milliseconds when the peer echoes it. */
  ping(timeout = 30_000): Promise<number> {
    if (this.#state !== 'open')
      return Promise.reject(new SpdyConnectionClosedError('cannot ping: the session is closing'));
    const id = this.#nextPingId;
    this.#nextPingId = id + 2 > 0xffff_ffff ? id + 2 - 0x1_0000_0000 : id + 2;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pings.delete(id);
        reject(new SpdyTimeoutError(`the peer did not answer PING ${id} within ${timeout} ms`));
      }, timeout);
      timer.unref();
      this.#pings.set(id, { started: performance.now(), resolve, reject, timer });
      this.#queueControl(encodeFrame({ type: 'PING', id }));
    });
  }

  /**
   * Closes the session gracefully: no new streams; streams the peer opened but were never
   * accepted are refused; every other stream's writable side is ended (what was written is
   * sent, then FIN); then GOAWAY, and the socket is ended. The session ends when the peer
   * hangs up, or after `closeTimeout` at the latest.
   */
  close(status: number = GoAwayStatus.OK): void {
    if (this.#state !== 'open') return;
    this.#shutdown({ finalFrame: this.#goAway(status), graceful: true });
  }

  /** Ends the session at once: the socket is destroyed, and with it every stream. */
  destroy(error?: Error): void {
    if (this.#state === 'closed') return;
    if (error) this.#recordError(error);
    // The socket's end finalizes the session (see the constructor).
    this.#socket.destroy();
  }

  // -------------------------------------------------------------------------------------------
  // Streams

  #addStream(id: number, headers: SpdyHeaders, local: boolean, writable: boolean): StreamRecord {
    const record: StreamRecord = {
      id,
      stream: undefined as unknown as SpdyStream,
      local,
      synQueued: false,
      canSend: false,
      replied: false,
      localFin: !writable,
      remoteFin: false,
      pending: undefined,
      inReadyQueue: false,
      removed: false,
      resetStatus: undefined,
    };
    const io: SpdyStreamIo = {
      accept: () => this.#accept(record),
      reset: (status) => this.#resetStream(record, status),
      write: (data, fin, callback) => this.#write(record, data, fin, callback),
      read: () => this.#onStreamRead(record),
      destroyed: () => this.#onStreamDestroyed(record),
      resetStatus: () => record.resetStatus,
    };
    record.stream = new SpdyStream(id, headers, io, local && !writable);
    this.#streams.set(id, record);
    return record;
  }

  #accept(record: StreamRecord): void {
    if (record.local || record.synQueued || record.removed || this.#state === 'closed') return;
    record.synQueued = true;
    this.#queueHeaderFrame(
      encodeHeaderBlock({}),
      (headerBlock) => encodeFrame({ type: 'SYN_REPLY', streamId: record.id, flags: 0, headerBlock }),
      () => this.#onSynWritten(record),
    );
  }

  #onSynWritten(record: StreamRecord): void {
    record.canSend = true;
    if (record.pending) this.#makeReady(record);
  }

  #write(record: StreamRecord, data: Buffer, fin: boolean, callback: (error?: Error | null) => void): void {
    if (fin && data.length === 0 && (record.localFin || record.removed || this.#state === 'closed')) {
      // Ending a stream that cannot send any more: nothing to tell the peer.
      callback();
      return;
    }
    if (record.removed || record.localFin || this.#state === 'closed') {
      record.stream.destroy();
      callback(new SpdyConnectionClosedError(`SPDY stream ${record.id} is closed for writing`));
      return;
    }
    if (data.length === 0 && !fin) {
      // spdystream ignores empty DATA frames without FIN; do not send them.
      callback();
      return;
    }
    if (!record.synQueued) this.#accept(record);
    record.pending = { data, offset: 0, fin, callback };
    if (record.canSend) this.#makeReady(record);
  }

  #makeReady(record: StreamRecord): void {
    if (record.inReadyQueue) return;
    record.inReadyQueue = true;
    this.#ready.push(record);
    this.#schedulePump();
  }

  #onStreamRead(record: StreamRecord): void {
    if (this.#congested.delete(record)) this.#updateFlow();
  }

  #onStreamDestroyed(record: StreamRecord): void {
    if (record.removed) return;
    // Destroyed by the application before both sides finished: tell the peer.
    if (!(record.localFin && record.remoteFin)) this.#sendReset(record.id, RstStatus.CANCEL);
    this.#removeStream(record);
  }

  #resetStream(record: StreamRecord, status: number): void {
    if (!record.removed) {
      this.#sendReset(record.id, status);
      this.#removeStream(record);
    }
    record.stream.destroy();
  }

  /**
   * Fails the chunk a stream had queued. The stream is destroyed first: a write callback's
   * error on a live stream would become an 'error' event, and the peer must not be able to
   * cause those.
   */
  #dropPending(record: StreamRecord): void {
    const pending = record.pending;
    if (!pending) return;
    record.pending = undefined;
    record.stream.destroy();
    pending.callback(new SpdyConnectionClosedError(`SPDY stream ${record.id} is closed`));
  }

  /**
   * Lets go of a stream because the session is ending. A stream whose peer already sent FIN
   * keeps what it has buffered for its reader and is only ended; any other is destroyed.
   */
  #detach(record: StreamRecord): void {
    this.#removeStream(record);
    if (record.remoteFin && !record.stream.destroyed) {
      if (!record.stream.writableEnded) record.stream.end();
    } else {
      record.stream.destroy();
    }
  }

  /** Forgets a stream; a chunk it had queued fails (its writer is gone or the stream reset). */
  #removeStream(record: StreamRecord): void {
    if (record.removed) return;
    record.removed = true;
    this.#dropPending(record);
    this.#streams.delete(record.id);
    if (this.#congested.delete(record)) this.#updateFlow();
    if (this.#state === 'closing') this.#schedulePump();
  }

  #maybeRemove(record: StreamRecord): void {
    if (record.localFin && record.remoteFin) this.#removeStream(record);
  }

  #onRemoteFin(record: StreamRecord): void {
    if (record.remoteFin) return;
    record.remoteFin = true;
    record.stream.push(null);
    // Nothing more will arrive for it, so it no longer needs the socket paused.
    if (this.#congested.delete(record)) this.#updateFlow();
    this.#maybeRemove(record);
  }

  // -------------------------------------------------------------------------------------------
  // Sending

  #queueControl(bytes: Buffer): void {
    this.#control.push({ bytes });
    if (this.#control.length > MAX_QUEUED_CONTROL_FRAMES) this.#updateFlow();
    this.#schedulePump();
  }

  /**
   * Queues a frame whose header block must be compressed first. The compressor keeps call
   * order and the control queue is FIFO, so blocks reach the wire in the order they were
   * compressed, as the peer's inflater needs.
   */
  #queueHeaderFrame(block: Buffer, build: (headerBlock: Buffer) => Buffer, onWritten: () => void): void {
    const item: ControlItem = { bytes: undefined, onWritten };
    this.#control.push(item);
    this.#compressor.compress(block).then(
      (headerBlock) => {
        item.bytes = build(headerBlock);
        this.#schedulePump();
      },
      (error: unknown) => {
        if (this.#state !== 'closed') this.destroy(error instanceof Error ? error : new Error(String(error)));
      },
    );
  }

  #goAway(status: number): Buffer {
    return encodeFrame({ type: 'GOAWAY', lastGoodStreamId: this.#lastPeerStreamId, status });
  }

  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    // Deferred so a burst of writes goes out in one corked batch, and so that write callbacks
    // (which make Writable call _write again) never recurse into the pump.
    process.nextTick(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  /**
   * Writes queued frames until the socket asks to wait ('drain' resumes). Control frames go
   * first, in order; then one DATA frame per stream in turn, so a large write cannot starve
   * the other streams (an exec's stderr or error stream behind a flood of stdout).
   */
  #pump(): void {
    const socket = this.#socket;
    if (this.#state === 'closed' || socket.destroyed || socket.writableEnded || socket.writableNeedDrain) return;
    const written: ((error?: Error | null) => void)[] = [];
    let wrote = false;
    let ok = true;
    socket.cork();
    try {
      while (ok) {
        const control = this.#control.peek();
        if (control?.bytes) {
          this.#control.shift();
          ok = socket.write(control.bytes);
          wrote = true;
          control.onWritten?.();
          continue;
        }
        // A header frame still compressing goes first: DATA must not overtake a SYN_REPLY queued
        // before it. (Go's client does not read a stream's data until all of its session's streams
        // are set up, so a reply stuck behind megabytes of stdout deadlocks the session.)
        if (control) break;
        const record = this.#ready.shift();
        if (record) {
          record.inReadyQueue = false;
          const pending = record.pending;
          if (!pending) continue;
          const remaining = pending.data.length - pending.offset;
          const size = Math.min(remaining, this.#dataFrameSize);
          const last = size === remaining;
          const fin = last && pending.fin;
          ok = socket.write(encodeDataFrameHeader(record.id, fin ? FLAG_FIN : 0, size));
          if (size > 0) ok = socket.write(pending.data.subarray(pending.offset, pending.offset + size));
          wrote = true;
          pending.offset += size;
          if (last) {
            record.pending = undefined;
            if (fin) {
              record.localFin = true;
              this.#maybeRemove(record);
            }
            written.push(pending.callback);
          } else {
            record.inReadyQueue = true;
            this.#ready.push(record);
          }
          continue;
        }
        // Nothing left to write.
        if (this.#state === 'closing' && this.#finalFrame !== undefined && this.#allFinSent()) {
          if (this.#finalFrame) socket.write(this.#finalFrame);
          this.#finalFrame = undefined;
          socket.end();
        }
        break;
      }
    } finally {
      socket.uncork();
    }
    if (this.#paused) this.#updateFlow();
    if (wrote) this.#idleTimer?.refresh();
    for (const callback of written) callback();
  }

  #allFinSent(): boolean {
    for (const record of this.#streams.values()) if (!record.localFin) return false;
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // Receiving

  #onSocketData(chunk: Buffer): void {
    if (this.#readingStopped) return;
    try {
      this.#parser.write(chunk);
    } catch (error) {
      // Only a bug of ours lands here; never let it escape into the socket's event loop.
      this.destroy(error instanceof Error ? error : new Error(String(error)));
    }
  }

  #onFrame(frame: SpdyFrame): void {
    this.#idleTimer?.refresh();
    if (this.#readingStopped) return;
    if (this.#inflating || this.#inbox.length > 0) {
      this.#inbox.push(frame);
      return;
    }
    this.#dispatch(frame);
  }

  #dispatch(frame: SpdyFrame): void {
    switch (frame.type) {
      case 'SYN_STREAM':
      case 'SYN_REPLY':
      case 'HEADERS':
        this.#inflate(frame);
        return;
      case 'DATA':
        this.#onData(frame.streamId, frame.flags, frame.data);
        return;
      case 'RST_STREAM':
        this.#onReset(frame.streamId, frame.status);
        return;
      case 'PING':
        this.#onPing(frame.id);
        return;
      case 'GOAWAY':
        this.#onGoAway(frame.lastGoodStreamId, frame.status);
        return;
      case 'SETTINGS':
      case 'WINDOW_UPDATE':
        // No flow control and nothing to configure: spdystream ignores these too.
        return;
    }
  }

  /** Inflates a header block; frames behind it wait in the inbox so order is kept. */
  #inflate(frame: HeaderBlockFrame): void {
    this.#inflating = true;
    this.#updateFlow();
    this.#decompressor.decompress(frame.headerBlock).then(
      (block) => {
        this.#inflating = false;
        if (this.#readingStopped || this.#state === 'closed') {
          // Read on, if only to see the peer hang up.
          this.#updateFlow();
          return;
        }
        try {
          this.#onHeaderBlock(frame, block);
          while (!this.#inflating && this.#inbox.length > 0 && !this.#readingStopped) {
            this.#dispatch(this.#inbox.shift() as SpdyFrame);
          }
          if (this.#endAfterInbox && !this.#inflating && this.#inbox.length === 0) {
            this.#endAfterInbox = false;
            this.#shutdown({ finalFrame: null });
          }
        } catch (error) {
          this.destroy(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        this.#updateFlow();
      },
      (error: unknown) => {
        this.#inflating = false;
        // The socket was paused for the inflation: resume, so the peer's hang-up ends the session
        // at once instead of at the close timeout.
        this.#updateFlow();
        const cause = error instanceof Error ? error : new Error(String(error));
        this.#protocolError(
          cause instanceof SpdyProtocolError ? cause : new SpdyProtocolError(cause.message, { cause }),
        );
      },
    );
  }

  #onHeaderBlock(frame: HeaderBlockFrame, block: Buffer): void {
    let headers: SpdyHeaders;
    try {
      headers = decodeHeaderBlock(block, frame.streamId);
    } catch (error) {
      if (!(error instanceof SpdyProtocolError)) throw error;
      // The block inflated, so the compression context is intact: only this stream is lost.
      if (frame.type === 'SYN_STREAM') this.#notePeerStreamId(frame.streamId);
      const record = this.#streams.get(frame.streamId);
      if (record) this.#resetStream(record, RstStatus.PROTOCOL_ERROR);
      else this.#sendReset(frame.streamId, RstStatus.PROTOCOL_ERROR);
      return;
    }
    if (frame.type === 'SYN_STREAM') {
      this.#onSynStream(frame, headers);
      return;
    }
    const record = this.#streams.get(frame.streamId);
    if (!record) return;
    if (frame.type === 'SYN_REPLY') {
      // A reply to a stream we did not open, or a second reply: spdystream ignores both.
      if (!record.local || record.replied) return;
      record.replied = true;
      record.stream.emit('reply', headers);
    } else {
      record.stream.emit('headers', headers);
    }
    if (frame.flags & FLAG_FIN) this.#onRemoteFin(record);
  }

  /** Returns false when `id` is not a valid new stream ID of the peer. */
  #notePeerStreamId(id: number): boolean {
    const peerParity = this.role === 'server' ? 1 : 0;
    if ((id & 1) !== peerParity || id < this.#nextPeerStreamId) return false;
    this.#nextPeerStreamId = id + 2;
    return true;
  }

  #onSynStream(frame: SynStreamFrame, headers: SpdyHeaders): void {
    const id = frame.streamId;
    // Like spdystream: a stream ID of the wrong parity, or not above the last one, is refused
    // with PROTOCOL_ERROR and the session goes on.
    if (!this.#notePeerStreamId(id)) {
      this.#sendReset(id, RstStatus.PROTOCOL_ERROR);
      return;
    }
    if (
      this.#state !== 'open' ||
      this.#streams.size >= this.#maxConcurrentStreams ||
      this.listenerCount('stream') === 0
    ) {
      this.#sendReset(id, RstStatus.REFUSED_STREAM);
      return;
    }
    this.#lastPeerStreamId = id;
    const unidirectional = (frame.flags & FLAG_UNIDIRECTIONAL) !== 0;
    const record = this.#addStream(id, headers, false, !unidirectional);
    if (frame.flags & FLAG_FIN) this.#onRemoteFin(record);
    this.emit('stream', record.stream);
  }

  #sendReset(streamId: number, status: number): void {
    if (this.#state !== 'closed') this.#queueControl(encodeFrame({ type: 'RST_STREAM', streamId, status }));
  }

  #onData(streamId: number, flags: number, data: Buffer): void {
    const record = this.#streams.get(streamId);
    // Data for a stream that is gone (reset, refused, finished) is normal in a race with our
    // own RST_STREAM; spdystream drops it silently too.
    if (!record) return;
    if (record.remoteFin) {
      this.#resetStream(record, RstStatus.STREAM_ALREADY_CLOSED);
      return;
    }
    if (data.length > 0 && !record.stream.destroyed && !record.stream.push(data)) {
      this.#congested.add(record);
      this.#updateFlow();
    }
    if (flags & FLAG_FIN) this.#onRemoteFin(record);
  }

  #onReset(streamId: number, status: number): void {
    const record = this.#streams.get(streamId);
    if (!record) return;
    record.resetStatus = status;
    record.stream.emit('reset', status);
    this.#removeStream(record);
    record.stream.destroy();
  }

  #onPing(id: number): void {
    const ownParity = this.role === 'server' ? 0 : 1;
    if ((id & 1) !== ownParity) {
      this.#queueControl(encodeFrame({ type: 'PING', id }));
      return;
    }
    const ping = this.#pings.get(id);
    if (!ping) return;
    this.#pings.delete(id);
    clearTimeout(ping.timer);
    ping.resolve(performance.now() - ping.started);
  }

  #onSocketEnd(): void {
    // Frames read before the peer's FIN may still wait behind a header block being inflated
    // (a peer can send SYN_STREAM, DATA, FIN and hang up at once): they came first, so they
    // are delivered first.
    if (this.#inflating || this.#inbox.length > 0) {
      this.#endAfterInbox = true;
      return;
    }
    this.#shutdown({ finalFrame: null });
  }

  #onGoAway(lastGoodStreamId: number, status: number): void {
    this.emit('goaway', lastGoodStreamId, status);
    // spdystream stops reading at GOAWAY and hangs up once its streams are gone: there is no
    // one left to send to, so end without a GOAWAY of our own.
    this.#shutdown({ finalFrame: null });
  }

  /** Pauses the socket while a reader is behind, a header block is inflating, or the peer does not read our frames. */
  #updateFlow(): void {
    const pause =
      (this.#congested.size > 0 || this.#inflating || this.#control.length > MAX_QUEUED_CONTROL_FRAMES) &&
      this.#state !== 'closed';
    if (pause === this.#paused) return;
    this.#paused = pause;
    if (pause) this.#socket.pause();
    else this.#socket.resume();
  }

  // -------------------------------------------------------------------------------------------
  // Ending

  #onIdle(): void {
    if (this.#state !== 'open') return;
    this.emit('timeout');
    // As spdystream does on its idle timeout: reset every stream, then GOAWAY.
    for (const record of [...this.#streams.values()]) this.#resetStream(record, RstStatus.CANCEL);
    this.#shutdown({ finalFrame: this.#goAway(GoAwayStatus.OK) });
  }

  #protocolError(error: SpdyProtocolError): void {
    if (this.#state === 'closed') return;
    this.#readingStopped = true;
    this.#inbox = [];
    this.#recordError(error);
    if (this.#state === 'open') this.#shutdown({ finalFrame: this.#goAway(GoAwayStatus.PROTOCOL_ERROR) });
  }

  #fail(error: Error): void {
    this.#recordError(error);
    this.#socket.destroy();
  }

  #recordError(error: Error): void {
    if (this.#error) return;
    this.#error = error;
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  /**
   * Moves to closing. Graceful: end every stream's writable side and wait for its FIN to go
   * out. Otherwise: destroy every stream now. Either way, then `finalFrame` (a GOAWAY, or
   * nothing for `null`) after the frames already queued, then end the socket.
   */
  #shutdown(options: { finalFrame: Buffer | null; graceful?: boolean }): void {
    if (this.#state !== 'open') return;
    this.#state = 'closing';
    this.#finalFrame = options.finalFrame;
    this.#stopIdleTimer();
    this.#closeTimer = setTimeout(() => this.destroy(), this.#closeTimeout);
    this.#closeTimer.unref();
    for (const record of [...this.#streams.values()]) {
      if (options.graceful && (record.local || record.synQueued)) {
        if (!record.stream.writableEnded) record.stream.end();
      } else if (options.graceful) {
        this.#resetStream(record, RstStatus.REFUSED_STREAM);
      } else {
        this.#detach(record);
      }
    }
    this.#schedulePump();
  }

  #stopIdleTimer(): void {
    // Forget the timer too: refresh() on a cleared timer would start it again.
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }

  #finalize(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#readingStopped = true;
    this.#inbox = [];
    this.#stopIdleTimer();
    if (this.#closeTimer) clearTimeout(this.#closeTimer);
    this.#control.clear();
    for (const record of this.#ready.clear()) record.inReadyQueue = false;
    for (const record of [...this.#streams.values()]) this.#detach(record);
    this.#congested.clear();
    const closedError = new SpdyConnectionClosedError('the SPDY session closed', { cause: this.#error });
    for (const ping of this.#pings.values()) {
      clearTimeout(ping.timer);
      ping.reject(closedError);
    }
    this.#pings.clear();
    this.#compressor.close();
    this.#decompressor.close();
    if (!this.#socket.destroyed) this.#socket.destroy();
    this.emit('close', this.#error);
  }
}
