/**
 * Exec and attach over a WebSocket with the channel protocols: what clients that talk to the
 * kubelet directly use (the Python and JavaScript clients, through the API server's
 * pass-through), and v5, which kubectl uses and a 1.36+ API server forwards to nodes that
 * declare `ExtendWebSocketsToKubelet`.
 *
 * Channels: 0 stdin, 1 stdout, 2 stderr, 3 error (the final status), 4 resize. The CRI
 * streaming server's `websocket.go` serves `channel.k8s.io`, `base64.channel.k8s.io` and their
 * `v4.` versions; v5 behaves like the kubelet's stream translator (`streamtranslator.go`,
 * `websocket.go` in apiserver's `util/proxy`): v4 plus the CLOSE message for stdin EOF, and
 * it is chosen whenever the client offers it, whatever else it offers.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { acceptWebSocket, rejectUpgrade, selectWebSocketProtocol, webSocketProtocolOffers } from '../upgrade.ts';
import { ChannelWebSocket } from '../upgrade-websocket.ts';
import {
  BASE64_STREAM_PROTOCOL_V1,
  BASE64_STREAM_PROTOCOL_V4,
  CHANNEL_ERROR,
  CHANNEL_RESIZE,
  CHANNEL_STDERR,
  CHANNEL_STDIN,
  CHANNEL_STDOUT,
  STREAM_PROTOCOL_V4,
  STREAM_PROTOCOL_V5,
  WEBSOCKET_REMOTE_COMMAND_PROTOCOLS,
} from './constants.ts';
import { type RemoteCommandHandler, type ResolvedRemoteCommandOptions, runRemoteCommand } from './session.ts';

/** The subprotocol to answer with, or undefined when the client offers none of ours. */
export function selectRemoteCommandWebSocketProtocol(offers: readonly string[]): string | undefined {
  // The kubelet hands any request offering v5 to its stream translator, which speaks only v5.
  if (offers.includes(STREAM_PROTOCOL_V5)) return STREAM_PROTOCOL_V5;
  return selectWebSocketProtocol(
    offers,
    WEBSOCKET_REMOTE_COMMAND_PROTOCOLS.filter((protocol) => protocol !== STREAM_PROTOCOL_V5),
  );
}

/**
 * Serves one exec/attach session over a WebSocket on an upgrade request's socket. Resolves
 * when the session is over and its socket closed.
 */
export async function serveWebSocketRemoteCommand(
  request: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  options: ResolvedRemoteCommandOptions,
  handler: RemoteCommandHandler,
): Promise<void> {
  const { logger } = options;
  const offers = webSocketProtocolOffers(request);
  const protocol = selectRemoteCommandWebSocketProtocol(offers);
  if (protocol === undefined) {
    const message = `requested protocol(s) are not supported: [${offers.join(' ')}]`;
    logger.debug({ offers }, message);
    rejectUpgrade(socket, 403, message);
    return;
  }
  const ws = await acceptWebSocket(request, socket, head, protocol);
  if (!ws) return;
  const base64 = protocol === BASE64_STREAM_PROTOCOL_V1 || protocol === BASE64_STREAM_PROTOCOL_V4;
  const connection = new ChannelWebSocket(ws, {
    base64,
    streamClose: protocol === STREAM_PROTOCOL_V5,
    channels: [
      options.stdin ? 'read' : 'ignore',
      options.stdout ? 'write' : 'ignore',
      options.stderr ? 'write' : 'ignore',
      'write',
      'read',
    ],
    idleTimeoutMs: options.idleTimeoutMs,
    logger,
  });
  const channel = (number: number) => connection.channels[number] as (typeof connection.channels)[number];
  const gone = new AbortController();
  let ending = false;
  const closed = new Promise<void>((resolve) => {
    if (connection.closed) resolve();
    else connection.once('close', () => resolve());
  });
  connection.once('close', () => {
    if (!ending) gone.abort(new Error('the client closed the exec session'));
  });
  if (connection.closed) gone.abort(new Error('the client closed the exec session'));

  // An empty message on the first channel the client reads tells it the session is up.
  connection.sendMessage(
    options.stdout ? CHANNEL_STDOUT : options.stderr ? CHANNEL_STDERR : CHANNEL_ERROR,
    Buffer.alloc(0),
  );
  const resize = channel(CHANNEL_RESIZE);
  if (!options.tty) resize.resume();

  await runRemoteCommand(
    {
      stdin: options.stdin ? channel(CHANNEL_STDIN) : undefined,
      stdout: options.stdout ? channel(CHANNEL_STDOUT) : undefined,
      stderr: options.stderr ? channel(CHANNEL_STDERR) : undefined,
      resize: options.tty ? resize : undefined,
      statusFormat:
        protocol === STREAM_PROTOCOL_V4 || protocol === BASE64_STREAM_PROTOCOL_V4 || protocol === STREAM_PROTOCOL_V5
          ? 'json'
          : 'text',
      gone: gone.signal,
      async writeStatus(status) {
        ending = true;
        if (!status) return;
        await new Promise<void>((resolve) => connection.sendMessage(CHANNEL_ERROR, status, () => resolve()));
      },
      async close() {
        ending = true;
        await connection.close();
      },
    },
    options,
    handler,
  );
  await closed;
}
