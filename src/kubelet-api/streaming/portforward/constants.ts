/**
 * Names of the port-forward protocols, from the CRI streaming server
 * (`portforward/constants.go`) and apimachinery's `util/portforward`.
 */

/** The SPDY stream protocol of port-forward (`X-Stream-Protocol-Version`), the only version there is. */
export const PORT_FORWARD_PROTOCOL_V1 = 'portforward.k8s.io';
/** Prefix of a WebSocket subprotocol that carries SPDY inside binary messages. */
export const TUNNELING_PROTOCOL_PREFIX = 'SPDY/3.1+';
/** What client-go's tunneling dialer offers: port-forward's SPDY inside a WebSocket. */
export const TUNNELING_PORT_FORWARD_PROTOCOL_V1 = `${TUNNELING_PROTOCOL_PREFIX}${PORT_FORWARD_PROTOCOL_V1}`;

/** The WebSocket subprotocols of the channel-based port-forward (`""` is binary, as v4). */
export const WEBSOCKET_PORT_FORWARD_PROTOCOLS: readonly string[] = [
  '',
  'v4.channel.k8s.io',
  'v4.base64.channel.k8s.io',
];

/** SPDY headers of a port-forward stream (lowercase on the wire). */
export const PORT_HEADER = 'port';
export const REQUEST_ID_HEADER = 'requestid';
export const STREAM_TYPE_HEADER = 'streamtype';

/** Query parameter naming the ports of a WebSocket port-forward. */
export const PARAM_PORT = 'port';
