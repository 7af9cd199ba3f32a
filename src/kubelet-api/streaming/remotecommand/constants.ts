/**
 * Names and numbers of the remotecommand (exec/attach) protocols, from the CRI streaming
 * server (`remotecommand/constants.go`) and apimachinery's `wsstream`.
 */

/** Stream protocol versions. v1 is the unversioned `channel.k8s.io`. */
export const STREAM_PROTOCOL_V1 = 'channel.k8s.io';
export const STREAM_PROTOCOL_V2 = 'v2.channel.k8s.io';
export const STREAM_PROTOCOL_V3 = 'v3.channel.k8s.io';
export const STREAM_PROTOCOL_V4 = 'v4.channel.k8s.io';
/** WebSocket only: v4 plus the CLOSE message. Over SPDY the kubelet does not accept it (clients fall back to v4). */
export const STREAM_PROTOCOL_V5 = 'v5.channel.k8s.io';

/** WebSocket subprotocols with base64 text messages. */
export const BASE64_STREAM_PROTOCOL_V1 = 'base64.channel.k8s.io';
export const BASE64_STREAM_PROTOCOL_V4 = 'v4.base64.channel.k8s.io';

/**
 * The SPDY protocols the kubelet's CRI streaming server accepts (`SupportedStreamingProtocols`).
 * Negotiation takes the client's first offer in this list.
 */
export const SPDY_REMOTE_COMMAND_PROTOCOLS: readonly string[] = [
  STREAM_PROTOCOL_V4,
  STREAM_PROTOCOL_V3,
  STREAM_PROTOCOL_V2,
  STREAM_PROTOCOL_V1,
];

/**
 * The WebSocket subprotocols: those of the CRI streaming server (`""` means no
 * `Sec-WebSocket-Protocol` header and is binary `channel.k8s.io`), plus v5, which a 1.36+
 * kubelet with `ExtendWebSocketsToKubelet` serves through its stream translator.
 */
export const WEBSOCKET_REMOTE_COMMAND_PROTOCOLS: readonly string[] = [
  '',
  STREAM_PROTOCOL_V1,
  BASE64_STREAM_PROTOCOL_V1,
  STREAM_PROTOCOL_V4,
  BASE64_STREAM_PROTOCOL_V4,
  STREAM_PROTOCOL_V5,
];

/** The SPDY `streamtype` header values. */
export type StreamType = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';

/** The SPDY header naming a stream's role (lowercase on the wire). */
export const STREAM_TYPE_HEADER = 'streamtype';

/** WebSocket channel numbers. */
export const CHANNEL_STDIN = 0;
export const CHANNEL_STDOUT = 1;
export const CHANNEL_STDERR = 2;
export const CHANNEL_ERROR = 3;
export const CHANNEL_RESIZE = 4;

/** Query parameters of the kubelet's exec and attach (not the API server's `stdin`/`stdout`/…). */
export const PARAM_STDIN = 'input';
export const PARAM_STDOUT = 'output';
export const PARAM_STDERR = 'error';
export const PARAM_TTY = 'tty';
export const PARAM_COMMAND = 'command';
