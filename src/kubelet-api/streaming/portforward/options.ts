/**
 * Options and handler of a port-forward session, shared by its transports.
 */
import type { Duplex } from 'node:stream';
import {
  DEFAULT_STREAM_CREATION_TIMEOUT,
  DEFAULT_STREAM_IDLE_TIMEOUT,
  type StreamLogger,
  silentStreamLogger,
} from '../upgrade.ts';

/**
 * Connects one forwarded connection to the pod's `port`: bytes written to `stream` go to the
 * client, bytes read from it come from the client. Resolve when the connection is done (the
 * stream is then ended towards the client); reject to report an error to the client, which
 * makes kubectl end the whole port-forward session. `signal` aborts when the client drops
 * the connection or the session.
 */
export type PortForwardHandler = (port: number, stream: Duplex, signal: AbortSignal) => Promise<void>;

/** Options of `servePortForward`. */
export interface PortForwardOptions {
  /** The ports of `?port=` ({@link parsePortForwardPorts}); required for WebSocket port-forward, unused by SPDY. */
  ports?: readonly number[];
  /** Milliseconds the client has to open both streams of a connection (SPDY). Default 30 s. */
  streamCreationTimeoutMs?: number;
  /** Milliseconds without traffic before the session is dropped. 0 disables. Default 4 h. */
  idleTimeoutMs?: number;
  logger?: StreamLogger;
  /** Names the pod in the error text sent to the client (`error forwarding port 80 to pod ns/web: …`). */
  pod?: string;
}

/** The options with their defaults applied. */
export interface ResolvedPortForwardOptions {
  ports: readonly number[];
  streamCreationTimeoutMs: number;
  idleTimeoutMs: number;
  logger: StreamLogger;
  pod: string | undefined;
}

/** Applies the defaults of {@link PortForwardOptions}. */
export function resolvePortForwardOptions(options: PortForwardOptions): ResolvedPortForwardOptions {
  return {
    ports: options.ports ?? [],
    streamCreationTimeoutMs: options.streamCreationTimeoutMs ?? DEFAULT_STREAM_CREATION_TIMEOUT,
    idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_STREAM_IDLE_TIMEOUT,
    logger: options.logger ?? silentStreamLogger,
    pod: options.pod,
  };
}

/** The text written to the client when a handler fails, worded as the kubelet words it. */
export function forwardingErrorMessage(port: number, pod: string | undefined, message: string): string {
  return `error forwarding port ${port}${pod ? ` to pod ${pod}` : ''}: ${message}`;
}
