/**
 * A minimal API-server client for the benchmark's own traffic (the load it generates, the watch
 * it measures with, and the ceiling's writes): node:https with keep-alive, no rate limit, no
 * retries beyond what a measurement needs. It is deliberately independent of src/kube/client.ts,
 * the code under test, so that a slowdown there cannot hide in the measuring instrument.
 */
import { Agent, request } from 'node:https';
import type { ClusterConnection } from '../src/kube/kubeconfig.ts';

/** One answer: the status and the parsed JSON body (or the raw text when it is not JSON). */
export interface ApiResponse<T = unknown> {
  status: number;
  body: T;
  text: string;
}

/** One watch event as the API server sends it. */
export interface RawWatchEvent<T = unknown> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

/** Thrown for an unexpected answer; `status` is the HTTP status (0 when none arrived). */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.status = status;
  }
}

export interface ApiClientOptions {
  /** Most sockets for ordinary requests; watches get their own agent. */
  maxSockets?: number;
  /** Count into this map (another client's `counts`), so that all the benchmark's own requests are in one place. */
  counts?: RequestCounts;
}

/** Counts the requests this client sent, by `VERB resource`, so they can be told apart from the virtual kubelet's. */
export type RequestCounts = Map<string, number>;

export class ApiClient {
  readonly connection: ClusterConnection;
  /** Requests sent, keyed `VERB resource[/subresource]` in the API server's own verb names. */
  readonly counts: RequestCounts;
  /** Answers received, keyed `VERB resource[/subresource] CODE` (0: no answer); watches left out. */
  readonly answers: RequestCounts = new Map();
  /** Requests sent and not yet answered (watches left out). */
  inFlight = 0;
  readonly #agent: Agent;
  readonly #watchAgent: Agent;
  readonly #headers: Record<string, string>;

  constructor(connection: ClusterConnection, options: ApiClientOptions = {}) {
    this.connection = connection;
    this.counts = options.counts ?? new Map();
    const tls = {
      ...(connection.caData ? { ca: connection.caData } : {}),
      ...(connection.clientCertificateData ? { cert: connection.clientCertificateData } : {}),
      ...(connection.clientKeyData ? { key: connection.clientKeyData } : {}),
      rejectUnauthorized: !connection.insecureSkipTLSVerify,
    };
    this.#agent = new Agent({ ...tls, keepAlive: true, maxSockets: options.maxSockets ?? 64 });
    // Watches hold a socket for their whole life; they must never queue behind ordinary requests.
    this.#watchAgent = new Agent({ ...tls, keepAlive: false });
    this.#headers = { accept: 'application/json', 'user-agent': 'virtual-kubelet-bench' };
    if (connection.token) this.#headers.authorization = `Bearer ${connection.token}`;
  }

  /** Closes idle sockets so the process can exit. */
  close(): void {
    this.#agent.destroy();
    this.#watchAgent.destroy();
  }

  #count(method: string, path: string): void {
    const key = `${apiVerb(method, path)} ${apiResource(path)}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** Sends one request; resolves with any status (callers decide what is an error). */
  send<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
    timeoutMs = 120_000,
  ): Promise<ApiResponse<T>> {
    this.#count(method, path);
    this.inFlight++;
    let code = 0;
    const answered = () => {
      this.inFlight--;
      const key = `${apiVerb(method, path)} ${apiResource(path)} ${code}`;
      this.answers.set(key, (this.answers.get(key) ?? 0) + 1);
    };
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return new Promise<ApiResponse<T>>((resolve, reject) => {
      const req = request(
        `${this.connection.server}${path}`,
        {
          method,
          agent: this.#agent,
          headers: {
            ...this.#headers,
            ...(payload !== undefined
              ? { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) }
              : {}),
          },
          timeout: timeoutMs,
        },
        (res) => {
          code = res.statusCode ?? 0;
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            if ((res.headers['content-type'] ?? '').includes('json')) {
              try {
                parsed = JSON.parse(text);
              } catch {
                // Leave the text: the caller reports it.
              }
            }
            resolve({ status: res.statusCode ?? 0, body: parsed as T, text });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new ApiError(`${method} ${path}: no answer in ${timeoutMs} ms`, 0)));
      req.on('error', reject);
      req.end(payload);
    }).finally(answered);
  }

  /** Like {@link send}, but a status outside 2xx (and not in `allowed`) is an {@link ApiError}. */
  async call<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    options: { contentType?: string; allowed?: number[] } = {},
  ): Promise<ApiResponse<T>> {
    for (let attempt = 0; ; attempt++) {
      const response = await this.send<T>(method, path, body, options.contentType);
      // 429 is the API server's own flow control: a measurement waits and tries again.
      if (response.status === 429 && attempt < 20) {
        await new Promise((resolve) => setTimeout(resolve, 200 * (attempt + 1)));
        continue;
      }
      if ((response.status >= 200 && response.status < 300) || options.allowed?.includes(response.status)) {
        return response;
      }
      throw new ApiError(`${method} ${path}: HTTP ${response.status}: ${response.text.slice(0, 300)}`, response.status);
    }
  }

  /**
   * Watches `path` (a collection, with any query) and calls `onEvent` for each event, with the
   * local time it arrived. Resolves when the server ends the stream or the signal aborts.
   */
  watch<T = unknown>(
    path: string,
    onEvent: (event: RawWatchEvent<T>, receivedAt: number) => void,
    signal: AbortSignal,
  ): Promise<void> {
    this.#count('GET', `${path}${path.includes('?') ? '&' : '?'}watch=1`);
    const separator = path.includes('?') ? '&' : '?';
    return new Promise((resolve, reject) => {
      const req = request(`${this.connection.server}${path}${separator}watch=1&allowWatchBookmarks=true`, {
        method: 'GET',
        agent: this.#watchAgent,
        headers: this.#headers,
        signal,
      });
      req.on('response', (res) => {
        if (res.statusCode !== 200) {
          let text = '';
          res.on('data', (c: Buffer) => {
            text += c.toString();
          });
          res.on('end', () =>
            reject(new ApiError(`watch ${path}: HTTP ${res.statusCode}: ${text}`, res.statusCode ?? 0)),
          );
          return;
        }
        let pending = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const receivedAt = performance.now();
          pending += chunk;
          let newline = pending.indexOf('\n');
          while (newline >= 0) {
            const line = pending.slice(0, newline);
            pending = pending.slice(newline + 1);
            if (line.length > 0) onEvent(JSON.parse(line) as RawWatchEvent<T>, receivedAt);
            newline = pending.indexOf('\n');
          }
        });
        res.on('end', () => resolve());
        res.on('error', (error) => (signal.aborted ? resolve() : reject(error)));
      });
      req.on('error', (error) => (signal.aborted ? resolve() : reject(error)));
      req.end();
    });
  }
}

/** The API server's verb for a request (`apiserver_request_total`'s `verb` label). */
export function apiVerb(method: string, path: string): string {
  const watch = /[?&]watch=(1|true)/.test(path);
  const named = isNamed(path);
  switch (method) {
    case 'GET':
      return watch ? 'WATCH' : named ? 'GET' : 'LIST';
    case 'POST':
      return 'POST';
    case 'PUT':
      return 'PUT';
    case 'PATCH':
      return 'PATCH';
    case 'DELETE':
      return named ? 'DELETE' : 'DELETECOLLECTION';
    default:
      return method;
  }
}

/** `resource` or `resource/subresource` of an API path. */
export function apiResource(path: string): string {
  const parts = path.split('?')[0]?.split('/').filter(Boolean) ?? [];
  // /api/v1/… or /apis/<group>/<version>/…
  const rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
  if (rest[0] === 'namespaces' && rest.length >= 3) rest.splice(0, 2);
  const [resource = '', , subresource] = rest;
  return subresource ? `${resource}/${subresource}` : resource;
}

function isNamed(path: string): boolean {
  const parts = path.split('?')[0]?.split('/').filter(Boolean) ?? [];
  const rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
  // namespaces/<ns>/<resource>[/<name>] or <resource>[/<name>]
  if (rest[0] === 'namespaces' && rest.length >= 3) return rest.length >= 4;
  return rest.length >= 2;
}
