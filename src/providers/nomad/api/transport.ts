/**
 * HTTP to a Nomad agent: `http://`, `https://` (CA, client certificate, server name) or `unix://`,
 * with the ACL token on every request (`X-Nomad-Token`) and keep-alive sockets. Errors say what
 * failed in Nomad's own words: Nomad answers errors as plain text ("Permission denied", "1 error
 * occurred: * Task group pod validation failed: …"), which {@link NomadApiError} keeps.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { NomadTlsConfig } from '../config.ts';

/** Nomad answered with an error status. */
export class NomadApiError extends Error {
  override name = 'NomadApiError';
  readonly statusCode: number;
  constructor(statusCode: number, message: string) {
    super(message);
    this.statusCode = statusCode;
  }
}

/** Nomad could not be reached (refused, reset, timed out). */
export class NomadUnavailableError extends Error {
  override name = 'NomadUnavailableError';
}

export interface NomadEndpoint {
  address: string;
  tls: NomadTlsConfig;
  token: string | undefined;
  region?: string | undefined;
  namespace?: string | undefined;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined | string[]>;
  body?: unknown;
  signal?: AbortSignal;
  /** Default 30 s; streams have none. */
  timeoutMs?: number;
}

export interface Response {
  status: number;
  headers: IncomingMessage['headers'];
  text: string;
}

/** Nomad's message from an error body: the text, without its trailing newline. */
function errorText(status: number, body: string): string {
  const text = body.trim();
  return text ? text : `HTTP ${status}`;
}

export class NomadTransport {
  readonly endpoint: NomadEndpoint;
  readonly #agent: HttpAgent | HttpsAgent;
  readonly #https: boolean;
  readonly #socketPath: string | undefined;
  readonly #host: string;
  readonly #port: number | undefined;

  constructor(endpoint: NomadEndpoint) {
    this.endpoint = endpoint;
    if (endpoint.address.startsWith('unix://')) {
      this.#socketPath = endpoint.address.slice('unix://'.length);
      this.#https = false;
      this.#host = 'localhost';
      this.#port = undefined;
    } else {
      const url = new URL(endpoint.address);
      this.#https = url.protocol === 'https:';
      this.#host = url.hostname;
      this.#port = url.port ? Number(url.port) : undefined;
      this.#socketPath = undefined;
    }
    const agentOptions = { keepAlive: true, maxSockets: 64 };
    this.#agent = this.#https
      ? new HttpsAgent({
          ...agentOptions,
          ...(endpoint.tls.ca ? { ca: endpoint.tls.ca } : {}),
          ...(endpoint.tls.cert ? { cert: endpoint.tls.cert, key: endpoint.tls.key } : {}),
          ...(endpoint.tls.serverName ? { servername: endpoint.tls.serverName } : {}),
          rejectUnauthorized: !endpoint.tls.insecureSkipVerify,
        })
      : new HttpAgent(agentOptions);
  }

  /** The URL of `path` for a WebSocket (exec), and the options `ws` needs to reach it the same way. */
  webSocketTarget(path: string, query: RequestOptions['query']): { url: string; options: Record<string, unknown> } {
    const search = this.#search(query);
    const headers: Record<string, string> = this.endpoint.token ? { 'X-Nomad-Token': this.endpoint.token } : {};
    if (this.#socketPath) return { url: `ws+unix://${this.#socketPath}:${path}${search}`, options: { headers } };
    const base = new URL(this.endpoint.address);
    const url = `${this.#https ? 'wss' : 'ws'}://${base.host}${path}${search}`;
    const tls = this.endpoint.tls;
    return {
      url,
      options: {
        headers,
        ...(tls.ca ? { ca: tls.ca } : {}),
        ...(tls.cert ? { cert: tls.cert, key: tls.key } : {}),
        ...(tls.serverName ? { servername: tls.serverName } : {}),
        rejectUnauthorized: !tls.insecureSkipVerify,
      },
    };
  }

  #search(query: RequestOptions['query']): string {
    const params = new URLSearchParams();
    if (this.endpoint.region) params.set('region', this.endpoint.region);
    if (this.endpoint.namespace) params.set('namespace', this.endpoint.namespace);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value === undefined) continue;
      if (Array.isArray(value)) for (const item of value) params.append(key, item);
      else params.set(key, String(value));
    }
    const text = params.toString();
    return text ? `?${text}` : '';
  }

  /** Sends a request and resolves with the response head; the body is left to the caller. */
  open(method: string, path: string, options: RequestOptions = {}): Promise<IncomingMessage> {
    const body = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const headers: Record<string, string | number> = { Accept: 'application/json' };
    if (this.endpoint.token) headers['X-Nomad-Token'] = this.endpoint.token;
    if (body) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = body.length;
    }
    const send = this.#https ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const request = send({
        method,
        path: `${path}${this.#search(options.query)}`,
        headers,
        agent: this.#agent,
        ...(this.#socketPath ? { socketPath: this.#socketPath } : { host: this.#host, port: this.#port }),
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.timeoutMs ? { timeout: options.timeoutMs } : {}),
      });
      request.on('timeout', () =>
        request.destroy(
          new NomadUnavailableError(`Nomad at ${this.endpoint.address} did not answer ${method} ${path} in time`),
        ),
      );
      request.on('error', (error: NodeJS.ErrnoException) => {
        if (error.name === 'AbortError' || error instanceof NomadUnavailableError) reject(error);
        else
          reject(
            new NomadUnavailableError(
              `Nomad at ${this.endpoint.address} is unreachable: ${error.code ?? error.message}`,
              {
                cause: error,
              },
            ),
          );
      });
      request.on('response', resolve);
      request.end(body);
    });
  }

  /** A whole request: the body read as text; a non-2xx status is a {@link NomadApiError}. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const response = await this.open(method, path, { timeoutMs: 30_000, ...options });
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', resolve);
      response.on('error', reject);
      response.on('aborted', () => reject(new NomadUnavailableError(`Nomad closed the answer to ${method} ${path}`)));
    });
    const text = Buffer.concat(chunks).toString('utf8');
    const status = response.statusCode ?? 0;
    if (status < 200 || status >= 300) throw new NomadApiError(status, errorText(status, text));
    return { status, headers: response.headers, text };
  }

  /** A JSON request; resolves with the decoded body and Nomad's index (`X-Nomad-Index`). */
  async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<{ value: T; index: number }> {
    const response = await this.request(method, path, options);
    const index = Number(response.headers['x-nomad-index'] ?? 0);
    return { value: (response.text ? JSON.parse(response.text) : undefined) as T, index };
  }

  /** Reads a streaming error answer's body for its message, then throws it. */
  static async failed(response: IncomingMessage): Promise<never> {
    const chunks: Buffer[] = [];
    for await (const chunk of response) chunks.push(chunk as Buffer);
    const status = response.statusCode ?? 0;
    throw new NomadApiError(status, errorText(status, Buffer.concat(chunks).toString('utf8')));
  }

  close(): void {
    this.#agent.destroy();
  }
}
