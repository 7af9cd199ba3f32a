/**
 * The CLI's plain-HTTP listeners (metrics, health): a port that cannot be had is the user's
 * configuration problem, so it becomes a ConfigError naming the flag (exit 2, one line).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { ConfigError } from '../errors.ts';

/** Listens on `host:port` (all interfaces for an empty host); resolves with the server and its port. */
export function listenHttp(
  flag: string,
  host: string,
  port: number,
  handler: (request: IncomingMessage, response: ServerResponse) => void,
): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new ConfigError(
          `${flag} ${host}:${port}: ${error.code === 'EADDRINUSE' ? 'address already in use' : error.message}`,
        ),
      ),
    );
    server.listen(port, host || undefined, () => {
      const address = server.address();
      resolve({ server, port: typeof address === 'object' && address ? address.port : port });
    });
  });
}
