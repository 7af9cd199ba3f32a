/**
 * HTTP/1.1 to the Podman service, over its unix socket or TCP, on Node's own `http` module.
 *
 * Two kinds of traffic: ordinary requests share a keep-alive pool; streams that never end on
 * their own (events, followed logs) and hijacked connections (exec, attach) get connections of
 * their own, so a hundred followed logs never starve the status polls. Podman's API server
 * keeps idle connections open for a while, so reuse saves a connect per call.
 */
import { Agent, type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { readText } from '../../../kube/http-transport.ts';
import { errorFromResponse, PodmanUnavailableError } from './errors.ts';

/** Where the Podman service listens. */
export interface PodmanEndpoint {
  /** Path of the unix socket, e.g. `/run/podman/podman.sock`. */
  socketPath?: string;
  host?: string;
  port?: number;
}

/**
 * Parses `/run/podman/podman.sock`, `unix:///run/podman/podman.sock`, `tcp://127.0.0.1:8080` or
 * `http://127.0.0.1:8080` (the forms `podman system service` and `CONTAINER_HOST` use).
 */
export function parsePodmanEndpoint(address: string): PodmanEndpoint {
  if (address.startsWith('/')) return { socketPath: address };
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new TypeError(`not a Podman address: "${address}" (expected a socket path, unix://, tcp:// or http://)`);
  }
  switch (url.protocol) {
    case 'unix:':
      return { socketPath: decodeURIComponent(url.pathname) };
    case 'tcp:':
    case 'http:':
      return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(url.port) || 80 };
    default:
      throw new TypeError(
        `unsupported Podman address "${address}": use a unix socket path, unix://, tcp:// or http://`,
      );
  }
}

/** The endpoint in the form users write it, for messages. */
export function describeEndpoint(endpoint: PodmanEndpoint): string {
  return endpoint.socketPath ? `unix://${endpoint.socketPath}` : `tcp://${endpoint.host}:${endpoint.port}`;
}

export type QueryValue = string | number | boolean | undefined | readonly string[];

export interface PodmanRequest {
  method: string;
  /** Path below the version prefix, e.g. `/libpod/containers/json`, or an absolute one like `/_ping`. */
  path: string;
  query?: Record<string, QueryValue> | undefined;
  /** JSON-encoded unless a Buffer or stream. */
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string> | undefined;
  signal?: AbortSignal | undefined;
  /** Give up when no byte arrives for this long (0: never, for streams). Default: the client's. */
  idleTimeoutMs?: number;
  /** Use a connection of its own, outside the keep-alive pool (streams that stay open). */
  stream?: boolean;
  /** For error messages: what the request was doing, e.g. `starting container web`. */
  what: string;
}

/** A response with an OK status; the caller consumes `body`. */
export interface PodmanResponse {
  status: number;
  body: IncomingMessage;
}

/** A hijacked connection (exec and attach): the raw socket after the `101 UPGRADED` answer. */
export interface HijackedConnection {
  socket: Socket;
  /** Bytes that arrived with the answer's headers; they come before anything read from `socket`. */
  head: Buffer;
}

/** The API version every path is prefixed with: the libpod API of Podman 4 (the server accepts 4.0.0 and newer). */
export const API_VERSION = 'v4.0.0';

export class PodmanTransport {
  readonly endpoint: PodmanEndpoint;
  readonly #pool: Agent;
  readonly #idleTimeoutMs: number;

  constructor(endpoint: PodmanEndpoint, options: { maxSockets?: number; idleTimeoutMs?: number } = {}) {
    this.endpoint = endpoint;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 120_000;
    const maxSockets = options.maxSockets ?? 32;
    this.#pool = new Agent({ keepAlive: true, keepAliveMsecs: 30_000, maxSockets, maxFreeSockets: maxSockets });
  }

  get description(): string {
    return describeEndpoint(this.endpoint);
  }

  #target(request: Pick<PodmanRequest, 'path' | 'query'>): string {
    const path = request.path.startsWith('/libpod/') ? `/${API_VERSION}${request.path}` : request.path;
    if (!request.query) return path;
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(request.query)) {
      if (value === undefined) continue;
      if (typeof value === 'object') for (const item of value) query.append(key, item);
      else query.set(key, String(value));
    }
    const text = query.toString();
    return text ? `${path}?${text}` : path;
  }

  #open(request: PodmanRequest, extraHeaders: Record<string, string>, agent: Agent | false): ClientRequest {
    const headers: Record<string, string | number> = { ...request.headers, ...extraHeaders };
    const location = this.endpoint.socketPath
      ? { socketPath: this.endpoint.socketPath }
      : { host: this.endpoint.host, port: this.endpoint.port };
    return httpRequest({
      ...location,
      method: request.method,
      path: this.#target(request),
      headers: { host: 'd', ...headers },
      agent,
      ...(request.signal ? { signal: request.signal } : {}),
    });
  }

  /** The body to send and the headers that describe it. */
  #encode(request: PodmanRequest): {
    payload: Buffer | string | Readable | undefined;
    headers: Record<string, string>;
  } {
    const headers: Record<string, string> = { accept: 'application/json' };
    const body = request.body;
    if (body === undefined) return { payload: undefined, headers };
    if (isReadable(body)) {
      headers['content-type'] = request.contentType ?? 'application/x-tar';
      return { payload: body, headers };
    }
    const payload = Buffer.isBuffer(body) || typeof body === 'string' ? body : JSON.stringify(body);
    headers['content-type'] = request.contentType ?? (Buffer.isBuffer(body) ? 'application/x-tar' : 'application/json');
    headers['content-length'] = String(Buffer.byteLength(payload));
    return { payload, headers };
  }

  #send(req: ClientRequest, payload: Buffer | string | Readable | undefined): void {
    if (payload === undefined || Buffer.isBuffer(payload) || typeof payload === 'string') {
      req.end(payload);
      return;
    }
    payload.on('error', (error) => req.destroy(error));
    payload.pipe(req);
  }

  /**
   * Sends a request and resolves with the response once its status is OK (2xx, 304);
   * error statuses are read and thrown as {@link errorFromResponse} errors.
   */
  async request(request: PodmanRequest): Promise<PodmanResponse> {
    const { payload, headers } = this.#encode(request);
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = this.#open(request, headers, request.stream ? false : this.#pool);
      const idle = request.idleTimeoutMs ?? (request.stream ? 0 : this.#idleTimeoutMs);
      if (idle > 0) {
        req.setTimeout(idle, () => {
          req.destroy(
            Object.assign(new Error(`no answer from Podman at ${this.description} within ${idle} ms`), {
              code: 'ETIMEDOUT',
            }),
          );
        });
      }
      req.once('response', resolve);
      req.once('error', (error) => reject(this.#connectionError(error, request)));
      this.#send(req, payload);
    });
    const status = response.statusCode ?? 0;
    if (status >= 400) {
      throw errorFromResponse(status, await this.#readText(response, request), request.what);
    }
    return { status, body: response };
  }

  /** Reads a whole body; a connection that breaks meanwhile is a PodmanUnavailableError. */
  async #readText(body: IncomingMessage, request: PodmanRequest): Promise<string> {
    try {
      return await readText(body);
    } catch (error) {
      throw this.#connectionError(error as Error, request);
    }
  }

  /** A request whose JSON answer is returned (undefined for 204/304). */
  async json<T>(request: PodmanRequest): Promise<T> {
    const { status, body } = await this.request(request);
    const text = await this.#readText(body, request);
    if (status === 204 || status === 304 || text.trim() === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch (error) {
      throw new TypeError(`${request.what}: Podman sent a body that is not JSON: ${text.slice(0, 200)}`, {
        cause: error,
      });
    }
  }

  /** A request whose answer is not needed beyond its status. */
  async call(request: PodmanRequest): Promise<number> {
    const { status, body } = await this.request(request);
    await this.#readText(body, request);
    return status;
  }

  /**
   * Sends a request with `Connection: Upgrade` / `Upgrade: tcp` and returns the raw connection
   * once Podman answers `101 UPGRADED` (exec start, attach). The connection is never pooled.
   * An error status is thrown as usual.
   */
  hijack(request: PodmanRequest): Promise<HijackedConnection> {
    const { payload, headers } = this.#encode(request);
    return new Promise<HijackedConnection>((resolve, reject) => {
      const req = this.#open(request, { ...headers, connection: 'Upgrade', upgrade: 'tcp' }, false);
      req.once('upgrade', (_response, socket, head) => {
        socket.setNoDelay(true);
        resolve({ socket: socket as Socket, head });
      });
      req.once('response', (response) => {
        // An error status, or a 200 when Podman could not upgrade: either way not a usable stream.
        const status = response.statusCode ?? 0;
        readText(response).then(
          (text) =>
            reject(
              errorFromResponse(status >= 400 ? status : 500, text || `HTTP ${status} instead of 101`, request.what),
            ),
          reject,
        );
      });
      req.once('error', (error) => reject(this.#connectionError(error, request)));
      this.#send(req, payload);
    });
  }

  #connectionError(error: Error, request: PodmanRequest): Error {
    if (error.name === 'AbortError') {
      // Aborted before Podman answered: the caller's own reason, as once the stream is up.
      const reason: unknown = request.signal?.reason;
      return reason instanceof Error ? reason : error;
    }
    const code = (error as NodeJS.ErrnoException).code;
    const where = this.description;
    switch (code) {
      case 'ENOENT':
        return new PodmanUnavailableError(
          where,
          `${request.what}: the Podman socket ${this.endpoint.socketPath} does not exist; start the service (\`podman system service --time=0 ${where}\` or \`systemctl start podman.socket\`)`,
          { cause: error },
        );
      case 'ECONNREFUSED':
        return new PodmanUnavailableError(
          where,
          `${request.what}: nothing is listening at ${where}: the Podman service is not running`,
          { cause: error },
        );
      case 'EACCES':
        return new PodmanUnavailableError(
          where,
          `${request.what}: permission denied on ${where}; run as a user that may use the socket`,
          { cause: error },
        );
      case 'ECONNRESET':
      case 'ECONNABORTED':
      case 'EPIPE':
      case 'ETIMEDOUT':
        return new PodmanUnavailableError(
          where,
          `${request.what}: the connection to Podman at ${where} broke (${code})`,
          {
            cause: error,
          },
        );
      default:
        return new PodmanUnavailableError(where, `${request.what}: cannot reach Podman at ${where}: ${error.message}`, {
          cause: error,
        });
    }
  }

  /** Closes pooled connections; streams and hijacked connections end on their own. */
  close(): void {
    this.#pool.destroy();
  }
}

function isReadable(value: unknown): value is Readable {
  return typeof value === 'object' && value !== null && typeof (value as Readable).pipe === 'function';
}
