/**
 * The Kubernetes channel protocols over a WebSocket (`channel.k8s.io` and its `base64.`, `v4.`
 * and `v5.` variants), as apimachinery's `wsstream.Conn` speaks them on the server side.
 *
 * Every message is one channel number and a payload: binary protocols put the number in the
 * first byte, base64 ones put the ASCII digit `'0' + n` first and base64 after it. With
 * `v5.channel.k8s.io` the message `[255, n]` half-closes channel n (the client's stdin EOF).
 * Each channel is a Node Duplex; a channel the session does not use swallows what is written
 * to it and reads as empty, as in wsstream.
 */
import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import { type RawData, WebSocket } from 'ws';
import { DEFAULT_STREAM_IDLE_TIMEOUT, type StreamLogger, silentStreamLogger } from './upgrade.ts';

/** What a channel carries: from the client (`read`), to the client (`write`), both, or nothing. */
export type ChannelMode = 'ignore' | 'read' | 'write' | 'readwrite';

/** The first byte of a v5 CLOSE message. */
export const STREAM_CLOSE_SIGNAL = 255;

/** Largest payload of one outgoing message; bigger writes are cut, so no client needs huge buffers. */
const MAX_MESSAGE_PAYLOAD = 64 * 1024;

/** Matches standard base64 with padding, as Go's `base64.StdEncoding` requires. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Options of {@link ChannelWebSocket}. */
export interface ChannelWebSocketOptions {
  /** Text messages with base64 payloads (`base64.channel.k8s.io`, `v4.base64.channel.k8s.io`). */
  base64: boolean;
  /** `[255, n]` from the client half-closes channel n (`v5.channel.k8s.io`). */
  streamClose: boolean;
  /** One entry per channel number. */
  channels: readonly ChannelMode[];
  /** Milliseconds without a message in either direction before the socket is dropped. 0 disables. Default 4 h. */
  idleTimeoutMs?: number;
  logger?: StreamLogger;
}

/** What a channel asks of its socket. */
interface ChannelIo {
  send(channel: number, data: Buffer, callback: (error?: Error | null) => void): void;
  read(channel: WebSocketChannel): void;
}

/**
 * One channel of a {@link ChannelWebSocket}, as a Node Duplex: what is written goes to the
 * client as messages on this channel, what the client sends on it is read. Like a SPDY stream
 * it never emits 'error' because of the peer: a write after the socket closed destroys it.
 */
export class WebSocketChannel extends Duplex {
  /** The channel number. */
  readonly channel: number;
  readonly mode: ChannelMode;
  #io: ChannelIo;
  #remoteEnded = false;

  /** Created by {@link ChannelWebSocket}. */
  constructor(channel: number, mode: ChannelMode, io: ChannelIo) {
    super({ allowHalfOpen: true });
    this.channel = channel;
    this.mode = mode;
    this.#io = io;
    if (!this.carriesInput) this.remoteEnd();
  }

  /** The client's data on this channel is delivered. */
  get carriesInput(): boolean {
    return this.mode === 'read' || this.mode === 'readwrite';
  }

  /** What is written is sent to the client. */
  get carriesOutput(): boolean {
    return this.mode === 'write' || this.mode === 'readwrite';
  }

  /** True once the client can send nothing more on this channel (CLOSE, or the socket closed). */
  get remoteEnded(): boolean {
    return this.#remoteEnded;
  }

  /** Data from the client; false when the reader is behind. Used by {@link ChannelWebSocket}. */
  deliver(data: Buffer): boolean {
    if (this.#remoteEnded || this.destroyed) return true;
    return this.push(data);
  }

  /** The client will send no more on this channel: the reader sees its end. Used by {@link ChannelWebSocket}. */
  remoteEnd(): void {
    if (this.#remoteEnded) return;
    this.#remoteEnded = true;
    if (!this.destroyed) this.push(null);
  }

  override _read(): void {
    this.#io.read(this);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (!this.carriesOutput) {
      callback();
      return;
    }
    this.#io.send(this.channel, chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    // The channel protocols have no way to end one channel towards the client: the end of the
    // socket ends them all.
    callback();
  }
}

/** Events of {@link ChannelWebSocket}. */
export interface ChannelWebSocketEvents {
  /** The socket closed; `code` is the WebSocket close code (1006 when it was lost). */
  close: [code: number];
}

/**
 * A WebSocket speaking a Kubernetes channel protocol; see the module comment. Closing the
 * socket (either side, or losing it) ends every channel's readable side, like an EOF.
 */
export class ChannelWebSocket extends EventEmitter<ChannelWebSocketEvents> {
  /** The channels, indexed by number. */
  readonly channels: readonly WebSocketChannel[];
  #ws: WebSocket;
  #base64: boolean;
  #streamClose: boolean;
  #logger: StreamLogger;
  #congested = new Set<WebSocketChannel>();
  #idleTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(ws: WebSocket, options: ChannelWebSocketOptions) {
    super();
    this.#ws = ws;
    this.#base64 = options.base64;
    this.#streamClose = options.streamClose;
    this.#logger = options.logger ?? silentStreamLogger;
    const io: ChannelIo = {
      send: (channel, data, callback) => this.#sendData(channel, data, callback),
      read: (channel) => this.#onChannelRead(channel),
    };
    this.channels = options.channels.map((mode, channel) => new WebSocketChannel(channel, mode, io));

    const idleTimeout = options.idleTimeoutMs ?? DEFAULT_STREAM_IDLE_TIMEOUT;
    if (idleTimeout > 0) {
      this.#idleTimer = setTimeout(() => this.#onIdle(idleTimeout), idleTimeout);
      this.#idleTimer.unref();
    }
    ws.on('message', (data: RawData) => this.#onMessage(data));
    ws.on('error', (error: Error) => this.#logger.debug({ err: error }, 'WebSocket error'));
    ws.on('close', (code: number) => this.#onClose(code));
    if (ws.readyState !== WebSocket.OPEN) this.#onClose(1006);
  }

  /** True once the socket has closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends one message on `channel` now, ahead of data still queued in the channel streams:
   * for the empty message that tells the client the session is up, and the first messages of
   * port-forward. Even an empty payload makes a message.
   */
  sendMessage(channel: number, payload: Buffer, callback?: (error?: Error) => void): void {
    if (this.#ws.readyState !== WebSocket.OPEN) {
      callback?.(new Error('the WebSocket is closed'));
      return;
    }
    this.#idleTimer?.refresh();
    if (this.#base64) {
      this.#ws.send(String.fromCharCode(48 + channel) + payload.toString('base64'), { binary: false }, callback);
    } else {
      const message = Buffer.allocUnsafe(payload.length + 1);
      message[0] = channel;
      payload.copy(message, 1);
      this.#ws.send(message, { binary: true }, callback);
    }
  }

  /**
   * Closes the socket normally (1000) after everything already sent, and resolves once it has
   * closed (the peer answered, or `ws` gave up waiting).
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const closed = new Promise<void>((resolve) => this.once('close', () => resolve()));
    this.#ws.close(1000);
    return closed;
  }

  /** Drops the socket at once. */
  destroy(): void {
    if (this.#closed) return;
    this.#ws.terminate();
  }

  #sendData(channel: number, data: Buffer, callback: (error?: Error | null) => void): void {
    if (this.#ws.readyState !== WebSocket.OPEN) {
      // The client is gone: the writer learns it from the stream ending, never from an 'error'.
      this.channels[channel]?.destroy();
      callback();
      return;
    }
    let offset = 0;
    do {
      const end = Math.min(offset + MAX_MESSAGE_PAYLOAD, data.length);
      const last = end === data.length;
      this.sendMessage(channel, data.subarray(offset, end), last ? () => callback() : undefined);
      offset = end;
    } while (offset < data.length);
  }

  #onMessage(raw: RawData): void {
    this.#idleTimer?.refresh();
    const data = Buffer.isBuffer(raw) ? raw : Array.isArray(raw) ? Buffer.concat(raw) : Buffer.from(raw);
    if (data.length === 0) return;
    if (this.#streamClose && data[0] === STREAM_CLOSE_SIGNAL) {
      const channel = data.length === 2 ? this.channels[data[1] as number] : undefined;
      if (!channel) {
        // wsstream ends the connection on a malformed CLOSE.
        this.#logger.warn({ length: data.length, channel: data[1] }, 'invalid CLOSE message; closing the WebSocket');
        this.#ws.close(1002);
        return;
      }
      this.#logger.debug({ channel: channel.channel }, 'the client closed a channel');
      channel.remoteEnd();
      return;
    }
    const number = this.#base64 ? ((data[0] as number) - 48) & 0xff : (data[0] as number);
    const channel = this.channels[number];
    if (!channel) {
      this.#logger.debug({ channel: number }, 'message for an unknown channel ignored');
      return;
    }
    if (!channel.carriesInput || channel.remoteEnded) return;
    let payload = data.subarray(1);
    if (this.#base64) {
      const text = payload.toString('latin1');
      if (!BASE64.test(text)) {
        this.#logger.debug({ channel: number }, 'message with invalid base64 ignored');
        return;
      }
      payload = Buffer.from(text, 'base64');
    }
    if (payload.length === 0) return;
    if (!channel.deliver(payload)) {
      this.#congested.add(channel);
      if (!this.#ws.isPaused) this.#ws.pause();
    }
  }

  #onChannelRead(channel: WebSocketChannel): void {
    if (this.#congested.delete(channel) && this.#congested.size === 0 && this.#ws.isPaused) this.#ws.resume();
  }

  #onIdle(timeout: number): void {
    this.#logger.debug({ idleTimeoutMs: timeout }, 'WebSocket idle for too long; closing it');
    this.#ws.terminate();
  }

  #onClose(code: number): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    this.#congested.clear();
    for (const channel of this.channels) channel.remoteEnd();
    this.emit('close', code);
  }
}
