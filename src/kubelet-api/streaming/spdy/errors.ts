/**
 * Errors of the SPDY/3.1 transport, with stable `code` strings like the rest of the package.
 */
import { VirtualKubeletError } from '../../../errors.ts';

/**
 * The peer broke the SPDY protocol: a malformed frame, a header block that does not inflate,
 * an oversized frame. With `streamId` set it concerns that stream only (answered with
 * RST_STREAM); without, the whole connection is closed with GOAWAY.
 */
export class SpdyProtocolError extends VirtualKubeletError {
  /** The stream the error concerns, or undefined for a connection-level error. */
  readonly streamId: number | undefined;
  constructor(message: string, options?: ErrorOptions & { streamId?: number }) {
    super('VK_SPDY_PROTOCOL_ERROR', message, options);
    this.streamId = options?.streamId;
  }
}

/** The peer reset a stream (RST_STREAM) with a status other than CANCEL, or refused to open it. */
export class SpdyStreamResetError extends VirtualKubeletError {
  readonly streamId: number;
  /** The RST_STREAM status code, e.g. 3 for REFUSED_STREAM. */
  readonly status: number;
  constructor(streamId: number, status: number, message: string) {
    super('VK_SPDY_STREAM_RESET', message, {});
    this.streamId = streamId;
    this.status = status;
  }
}

/** An operation needed an open connection, but it was closed (GOAWAY, idle timeout, socket lost). */
export class SpdyConnectionClosedError extends VirtualKubeletError {
  constructor(message: string, options?: ErrorOptions) {
    super('VK_SPDY_CONNECTION_CLOSED', message, options);
  }
}

/** The connection saw no frame for its idle timeout, or a peer did not answer in time. */
export class SpdyTimeoutError extends VirtualKubeletError {
  constructor(message: string, options?: ErrorOptions) {
    super('VK_SPDY_TIMEOUT', message, options);
  }
}
