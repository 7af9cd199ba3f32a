/**
 * Port-forward on the kubelet API, over SPDY/3.1, WebSocket channels, and SPDY tunnelled in a
 * WebSocket. {@link servePortForward} serves a session on an upgrade request's socket;
 * {@link parsePortForwardPorts} reads the request's `port` parameters.
 */
export {
  PORT_FORWARD_PROTOCOL_V1,
  TUNNELING_PORT_FORWARD_PROTOCOL_V1,
  WEBSOCKET_PORT_FORWARD_PROTOCOLS,
} from './constants.ts';
export type { PortForwardHandler, PortForwardOptions } from './options.ts';
export { parsePort, parsePortForwardPorts } from './ports.ts';
export { servePortForward } from './serve.ts';
export { WebSocketByteStream } from './tunnel.ts';
