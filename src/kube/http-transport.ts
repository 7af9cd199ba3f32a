/**
 * HTTP/1.1 with keep-alive to the API server, on Node's own `https` module: two connection pools,
 * one for ordinary requests and one for watches, so long-lived watches never take the sockets
 * that status writes need.
 *
 * Why not undici or HTTP/2: undici's llhttp WebAssembly adds about 27 MB to every process, and
 * under load its HTTP/2 streams stopped delivering watch events while requests still flowed
 * (seen with kube-apiserver 1.37). Plain HTTP/1.1 is what the API server handles best anyway.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { createSecureContext, type SecureContext } from 'node:tls';

export interface TlsOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized: boolean;
  servername?: string;
}

export interface TransportRequest {
  method: string;
  /** Path and query string. */
  path: string;
  headers: Record<string, string>;
  body?: string | undefined;
  signal?: AbortSignal | undefined;
  /** Give up when the connection is idle this long (0: never, for watches). */
  idleTimeoutMs: number;
  /** A watch: use the watch pool. */
  watch?: boolean;
}

export interface TransportResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
}

/** Reads a whole response body as text. */
export function readText(body: IncomingMessage): Promise<string> {
  // Plain listeners, not `for await`: the async iterator adds a promise per chunk and a stream
  // finished-watcher per body, which showed in a burst's profile at thousands of answers a second.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    body.on('data', (chunk: Buffer) => chunks.push(chunk));
    body.once('end', () =>
      resolve(chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8')),
    );
    body.once('error', reject);
    // A body destroyed before its end (an aborted request) ends with 'close' alone.
    body.once('close', () => {
      if (!body.readableEnded) reject(body.errored ?? new Error('the answer ended before its body was complete'));
    });
  });
}

/** Drains a body we do not need, so its socket goes back to the pool. */
export function discard(body: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    if (body.readableEnded) {
      resolve();
      return;
    }
    body
      .on('end', resolve)
      .on('error', () => resolve())
      .on('close', resolve);
    body.resume();
  });
}

function contextOf(tls: TlsOptions): SecureContext {
  return createSecureContext({
    ...(tls.ca ? { ca: tls.ca } : {}),
    ...(tls.cert ? { cert: tls.cert } : {}),
    ...(tls.key ? { key: tls.key } : {}),
  });
}

/**
 * An https agent for one server with one set of TLS options, so every request has the same pool
 * key. Node's own builds the key per request by concatenating some twenty options — about 2 KB of
 * garbage a request in a burst's allocation profile.
 */
class OneServerAgent extends HttpsAgent {
  override getName(): string {
    return 'api-server';
  }
}

export class HttpTransport {
  readonly #url: URL;
  readonly #secure: boolean;
  #tls: TlsOptions;
  /**
   * One TLS context for every connection: without it each new socket parses the CA bundle and
   * the client key again (a measurable share of a burst's CPU when connections come and go).
   */
  #secureContext: SecureContext | undefined;
  #requests: HttpAgent;
  #watches: HttpAgent;
  readonly #maxSockets: number;

  constructor(server: string, tls: TlsOptions, maxSockets = 100) {
    this.#url = new URL(server);
    this.#secure = this.#url.protocol === 'https:';
    this.#tls = tls;
    this.#secureContext = this.#secure ? contextOf(tls) : undefined;
    this.#maxSockets = maxSockets;
    this.#requests = this.#agent(maxSockets);
    this.#watches = this.#agent(Number.POSITIVE_INFINITY);
  }

  #agent(maxSockets: number): HttpAgent {
    // Every socket a burst opened stays open for the next one (up to the pool's size): closing
    // the ones above a smaller free limit made each burst pay TLS handshakes again.
    const common = {
      keepAlive: true,
      keepAliveMsecs: 30_000,
      maxSockets,
      maxFreeSockets: Math.min(maxSockets, 256),
    };
    return this.#secure
      ? new OneServerAgent({
          ...common,
          rejectUnauthorized: this.#tls.rejectUnauthorized,
          ...(this.#tls.servername ? { servername: this.#tls.servername } : {}),
          ...(this.#secureContext ? { secureContext: this.#secureContext } : {}),
        })
      : new HttpAgent(common);
  }

  /** Replaces the client certificate (an exec plugin issued a new one); new connections use it. */
  setClientCertificate(cert: Buffer, key: Buffer): void {
    this.#tls = { ...this.#tls, cert, key };
    this.#secureContext = contextOf(this.#tls);
    const old = [this.#requests, this.#watches];
    this.#requests = this.#agent(this.#maxSockets);
    this.#watches = this.#agent(Number.POSITIVE_INFINITY);
    for (const agent of old) agent.destroy();
  }

  request(options: TransportRequest): Promise<TransportResponse> {
    return new Promise((resolve, reject) => {
      const send = this.#secure ? httpsRequest : httpRequest;
      const headers: Record<string, string | number> = { ...options.headers };
      if (options.body !== undefined) headers['content-length'] = Buffer.byteLength(options.body);
      const req = send({
        protocol: this.#url.protocol,
        hostname: this.#url.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: this.#url.port || (this.#secure ? 443 : 80),
        method: options.method,
        path: options.path,
        headers,
        agent: options.watch ? this.#watches : this.#requests,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      if (options.idleTimeoutMs > 0) {
        req.setTimeout(options.idleTimeoutMs, () => {
          req.destroy(
            Object.assign(new Error(`no answer from ${this.#url.host} within ${options.idleTimeoutMs} ms`), {
              code: 'ETIMEDOUT',
            }),
          );
        });
      }
      req.once('response', (response) =>
        resolve({ statusCode: response.statusCode ?? 0, headers: response.headers, body: response }),
      );
      req.once('error', reject);
      req.end(options.body);
    });
  }

  close(): void {
    this.#requests.destroy();
    this.#watches.destroy();
  }
}
