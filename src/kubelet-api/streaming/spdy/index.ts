/**
 * The SPDY/3.1 transport of the kubelet API's exec, attach and port-forward streams.
 * {@link SpdyConnection} is the entry point; the frame codec and compression contexts are
 * exported for tests, benchmarks and tunnels that need to look at the byte stream.
 */
export {
  type CreateStreamOptions,
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_DATA_FRAME_SIZE,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_CONCURRENT_STREAMS,
  type OpenStreamOptions,
  SpdyConnection,
  type SpdyConnectionEvents,
  type SpdyConnectionOptions,
  SpdyStream,
} from './connection.ts';
export { SPDY3_DICTIONARY } from './dictionary.ts';
export { SpdyConnectionClosedError, SpdyProtocolError, SpdyStreamResetError, SpdyTimeoutError } from './errors.ts';
export {
  decodeFrame,
  decodeHeaderBlock,
  encodeFrame,
  encodeHeaderBlock,
  FrameParser,
  GoAwayStatus,
  RstStatus,
  type SpdyFrame,
  type SpdyHeaders,
} from './frames.ts';
export { HeaderCompressor, HeaderDecompressor } from './zlib.ts';
