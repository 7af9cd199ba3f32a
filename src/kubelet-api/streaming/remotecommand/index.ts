/**
 * Exec and attach ("remotecommand") on the kubelet API, over SPDY/3.1 and WebSocket.
 * {@link serveRemoteCommand} serves a session on an upgrade request's socket;
 * {@link parseRemoteCommandQuery} reads the request's query.
 */
export {
  BASE64_STREAM_PROTOCOL_V1,
  BASE64_STREAM_PROTOCOL_V4,
  CHANNEL_ERROR,
  CHANNEL_RESIZE,
  CHANNEL_STDERR,
  CHANNEL_STDIN,
  CHANNEL_STDOUT,
  SPDY_REMOTE_COMMAND_PROTOCOLS,
  STREAM_PROTOCOL_V1,
  STREAM_PROTOCOL_V2,
  STREAM_PROTOCOL_V3,
  STREAM_PROTOCOL_V4,
  STREAM_PROTOCOL_V5,
  WEBSOCKET_REMOTE_COMMAND_PROTOCOLS,
} from './constants.ts';
export { parseRemoteCommandQuery, type RemoteCommandQuery, type RemoteCommandStreams } from './options.ts';
export { TerminalSizeDecoder } from './resize.ts';
export { serveRemoteCommand } from './serve.ts';
export type { RemoteCommandHandler, RemoteCommandOptions } from './session.ts';
export {
  encodeStatus,
  exitCodeStatus,
  internalErrorStatus,
  type StatusFormat,
  type StreamStatus,
  successStatus,
} from './status.ts';
