/**
 * A small, fast Kubernetes REST client: JSON in and out over keep-alive HTTP/1.1, a client-side
 * rate limit (client-go's QPS/Burst as a cap, below which the rate follows the server's 429s: see
 * adaptive-rate.ts), and watches as async iterables.
 *
 * It deliberately has no model classes and no code generation: callers pass a
 * {@link ResourceType} and get `kubernetes-types` objects back.
 */
import { channel } from 'node:diagnostics_channel';
import { setTimeout as delay } from 'node:timers/promises';
import { KubeApiError, type KubeStatus } from '../errors.ts';
import { AdaptiveRate } from './adaptive-rate.ts';
import { Credentials } from './credentials.ts';
import { discard, HttpTransport, readText, type TransportResponse } from './http-transport.ts';
import type { ClusterConnection } from './kubeconfig.ts';
import { type KubeList, type KubeObject, type ObjectLocation, type ResourceType, resourcePath } from './resources.ts';
import { TokenBucket } from './token-bucket.ts';
import { watchLines } from './watch-lines.ts';

/** Published on `virtual-kubelet:kube:request` when a request completes (for metrics and tracing). */
export interface RequestCompletedMessage {
  verb: string;
  /** HTTP method and path (without the query), for a trace span. */
  method: string;
  path: string;
  /** When the request was sent, in milliseconds since the epoch. */
  startedAt: number;
  resource: string;
  subresource: string | undefined;
  /** HTTP status code, or 0 when no response arrived. */
  code: number;
  durationSeconds: number;
}

/** Diagnostics channel carrying one {@link RequestCompletedMessage} per API request. */
export const requestChannel = channel('virtual-kubelet:kube:request');

export interface KubeClientOptions {
  /** Sustained requests per second at most (client-go `QPS`); 0 disables the limit. Default {@link DEFAULT_QPS}. */
  qps?: number;
  /** Requests allowed in a burst (client-go `Burst`). Default {@link DEFAULT_BURST}. */
  burst?: number;
  /**
   * Below the `qps` cap, follow the server: halve the rate on a 429 and grow it back while the
   * server accepts (AIMD, adaptive-rate.ts). Default true; false keeps the rate fixed at `qps`.
   */
  adaptive?: boolean;
  /** Most connections for ordinary requests (watches have their own). Default 100. */
  maxConnections?: number;
  /** A non-watch request fails after this long without a byte from the server (an idle timeout), in milliseconds. Default 60 000. */
  requestTimeoutMs?: number;
  userAgent?: string;
}

/**
 * The default cap, requests a second. The kubelet's is 50 for at most 110 pods; a virtual
 * kubelet holds thousands (a 10 000-pod burst needs about 300 status writes a second to keep up
 * with what the API server takes on two cores), and the server's own flow control, which the
 * adaptive rate follows, is what protects it. The cap is what an operator sets to protect it further.
 */
export const DEFAULT_QPS = 1000;
/** The default burst: two seconds at the default cap. */
export const DEFAULT_BURST = 2000;

export type PatchType = 'merge' | 'strategic' | 'json' | 'apply';

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
};

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: 'Exact' | 'NotOlderThan';
  signal?: AbortSignal;
}

export interface WatchOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  allowWatchBookmarks?: boolean;
  /** The server ends the watch after this many seconds. */
  timeoutSeconds?: number;
  signal?: AbortSignal;
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';
  object: T;
}

export interface DeleteOptions {
  answer?: AnswerForm;
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  signal?: AbortSignal;
}

/**
 * The Accept header that asks for an answer of metadata only (PartialObjectMetadata), with the
 * whole object as the fallback for servers that cannot: a writer that needs only the new
 * resourceVersion saves the API server the encoding, and itself the parsing, of the full object.
 */
const METADATA_ANSWER = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';

/**
 * `metadata`: the answer of a write is the object's metadata only (see {@link METADATA_ANSWER});
 * `resourceVersion`: the same answer, of which only the new resourceVersion is read
 * (see {@link answeredResourceVersion}).
 */
export type AnswerForm = 'object' | 'metadata' | 'resourceVersion';

/** What a write with `answer: 'resourceVersion'` resolves with. */
export interface WrittenVersion {
  resourceVersion: string | undefined;
}

const RESOURCE_VERSION_FIELD = '"resourceVersion":"';

/**
 * The resourceVersion of a write's answer, read without decoding the rest. A status write's answer
 * carries the pod's managedFields (a few kilobytes of JSON), and decoding it only to read one
 * field was a twentieth of what a burst allocated. The API server encodes ObjectMeta's fields in
 * the order of its Go struct — name, generateName, namespace, selfLink, uid, then resourceVersion,
 * before labels, annotations and managedFields, and `metadata` before spec and status — and none of
 * the fields before it can hold a quote, so the first `"resourceVersion":"` is metadata's. Any other
 * answer is decoded in full.
 */
export function answeredResourceVersion(text: string): string | undefined {
  const at = text.indexOf(RESOURCE_VERSION_FIELD);
  const metadataAt = text.indexOf('"metadata":{');
  if (at > metadataAt && metadataAt >= 0) {
    const start = at + RESOURCE_VERSION_FIELD.length;
    const end = text.indexOf('"', start);
    if (end > start) return text.slice(start, end);
  }
  return text ? (JSON.parse(text) as KubeObject).metadata?.resourceVersion : undefined;
}

export interface PatchOptions {
  fieldManager?: string;
  force?: boolean;
  signal?: AbortSignal;
  answer?: AnswerForm;
  /** The caller limits its own rate: see {@link RequestOptions.ownBudget}. */
  ownBudget?: boolean;
}

export interface CreateOptions {
  namespace?: string;
  signal?: AbortSignal;
  answer?: AnswerForm;
  /** The caller limits its own rate: see {@link RequestOptions.ownBudget}. */
  ownBudget?: boolean;
}

interface RequestOptions {
  accept?: string;
  query?: Record<string, string | number | boolean | undefined> | undefined;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal | undefined;
  /**
   * The caller limits its own rate (the event recorder's `--event-qps`), so the request takes
   * nothing of the client's budget: Events never crowd out status writes. The kubelet does the same
   * with a second client for events.
   */
  ownBudget?: boolean | undefined;
  /** For metrics: the Kubernetes verb (get, list, watch, create, update, patch, delete). */
  verb: string;
  resource: string;
  subresource?: string | undefined;
}

/**
 * The calls the controllers make. {@link KubeClient} has them; unit tests pass an in-memory API
 * server instead (test/support/fake-kube-api.ts), as client-go's fake clientset serves Go's tests.
 */
export type KubeApi = Pick<KubeClient, 'get' | 'list' | 'watch' | 'create' | 'replace' | 'patch' | 'delete'>;

/** How many times a 429 / Retry-After answer is retried before it is returned as an error. */
const MAX_THROTTLE_RETRIES = 10;

export class KubeClient {
  readonly connection: ClusterConnection;
  readonly #credentials: Credentials;
  readonly #transport: HttpTransport;
  readonly #limiter: TokenBucket;
  readonly #adaptive: AdaptiveRate | undefined;
  readonly #requestTimeoutMs: number;
  readonly #userAgent: string;
  #clientCertificateFromExec: string | undefined;
  #pending = 0;
  #throttledAnswers = 0;

  constructor(connection: ClusterConnection, options: KubeClientOptions = {}) {
    this.connection = connection;
    this.#credentials = new Credentials(connection);
    this.#limiter = new TokenBucket(options.qps ?? DEFAULT_QPS, options.burst ?? DEFAULT_BURST);
    this.#adaptive =
      options.adaptive !== false && !this.#limiter.unlimited
        ? new AdaptiveRate({ maxQps: this.#limiter.qps })
        : undefined;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
    this.#userAgent = options.userAgent ?? `virtual-kubelet node/${process.versions.node}`;
    this.#transport = new HttpTransport(
      connection.server,
      {
        ...(connection.caData ? { ca: connection.caData } : {}),
        ...(connection.clientCertificateData ? { cert: connection.clientCertificateData } : {}),
        ...(connection.clientKeyData ? { key: connection.clientKeyData } : {}),
        rejectUnauthorized: !connection.insecureSkipTLSVerify,
        ...(connection.tlsServerName ? { servername: connection.tlsServerName } : {}),
      },
      options.maxConnections ?? 100,
    );
  }

  /** Closes the connections; in-flight watches end. */
  async close(): Promise<void> {
    this.#transport.close();
  }

  /** Requests waiting for the rate limiter, for metrics. */
  get throttled(): number {
    return this.#limiter.waiting;
  }

  /** The client's rate limit now, requests a second (the cap, or less after the server answered 429); Infinity when unlimited. */
  get rateLimit(): number {
    return this.#limiter.qps;
  }

  /** 429 answers received (each was retried after its `Retry-After`). */
  get throttledAnswers(): number {
    return this.#throttledAnswers;
  }

  /**
   * Requests (watches aside) not yet answered: waiting for the limiter, on the wire, or waiting to
   * retry a 429. When it is 0, `rest_client_requests_total` counts everything this client sent.
   */
  get pending(): number {
    return this.#pending;
  }

  async #refreshExecClientCertificate(): Promise<void> {
    if (!this.connection.exec) return;
    const status = await this.#credentials.execCredential();
    if (
      status.clientCertificateData &&
      status.clientKeyData &&
      status.clientCertificateData !== this.#clientCertificateFromExec
    ) {
      this.#transport.setClientCertificate(
        Buffer.from(status.clientCertificateData),
        Buffer.from(status.clientKeyData),
      );
      this.#clientCertificateFromExec = status.clientCertificateData;
    }
  }

  /** Sends one request and returns the raw response; the caller consumes the body. */
  async #send(method: string, path: string, options: RequestOptions, watch: boolean): Promise<TransportResponse> {
    if (watch) return this.#sendOnce(method, path, options, true);
    this.#pending++;
    try {
      return await this.#sendOnce(method, path, options, false);
    } finally {
      this.#pending--;
    }
  }

  async #sendOnce(method: string, path: string, options: RequestOptions, watch: boolean): Promise<TransportResponse> {
    let target = path;
    if (options.query) {
      const query = new URLSearchParams();
      for (const [key, value] of Object.entries(options.query)) {
        if (value !== undefined) query.set(key, String(value));
      }
      const text = query.toString();
      if (text) target += `?${text}`;
    }
    let body: string | undefined;
    const headers: Record<string, string> = {
      accept: options.accept ?? 'application/json',
      'user-agent': this.#userAgent,
    };
    if (options.body !== undefined) {
      body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
      headers['content-type'] = options.contentType ?? 'application/json';
    }
    for (let attempt = 0; ; attempt++) {
      // Watches are not rate limited: a reconnect must not queue behind a burst of writes.
      if (!watch && !options.ownBudget) await this.#limiter.take(options.signal);
      await this.#refreshExecClientCertificate();
      const authorization = await this.#credentials.authorization();
      if (authorization) headers.authorization = authorization;
      const started = performance.now();
      let code = 0;
      try {
        const response = await this.#transport.request({
          method,
          path: target,
          headers,
          body,
          signal: options.signal,
          idleTimeoutMs: watch ? 0 : this.#requestTimeoutMs,
          watch,
        });
        code = response.statusCode;
        if (code === 401 && attempt === 0 && (this.connection.tokenFile || this.connection.exec)) {
          await discard(response.body);
          this.#credentials.invalidate();
          continue;
        }
        const retryAfter = retryAfterMs(response.statusCode, response.headers['retry-after']);
        if (retryAfter !== undefined) this.#throttledAnswers++;
        if (this.#adaptive && !watch && !options.ownBudget) {
          const now = performance.now();
          this.#limiter.setRate(
            retryAfter === undefined ? this.#adaptive.accepted(now) : this.#adaptive.throttled(now, retryAfter),
          );
        }
        if (retryAfter !== undefined && attempt < MAX_THROTTLE_RETRIES) {
          await discard(response.body);
          await delay(retryAfter, undefined, { signal: options.signal });
          continue;
        }
        return response;
      } finally {
        if (requestChannel.hasSubscribers) {
          requestChannel.publish({
            verb: options.verb,
            method,
            path,
            startedAt: performance.timeOrigin + started,
            resource: options.resource,
            subresource: options.subresource,
            code,
            durationSeconds: (performance.now() - started) / 1000,
          } satisfies RequestCompletedMessage);
        }
      }
    }
  }

  /** A create or patch, its answer in the form asked for. */
  async #write<T>(
    method: string,
    path: string,
    answer: AnswerForm | undefined,
    options: RequestOptions,
  ): Promise<T | KubeObject | WrittenVersion> {
    if (answer === 'metadata') return this.request<KubeObject>(method, path, { ...options, accept: METADATA_ANSWER });
    if (answer !== 'resourceVersion') return this.request<T>(method, path, options);
    const response = await this.#send(method, path, { ...options, accept: METADATA_ANSWER }, false);
    const text = await readText(response.body);
    if (response.statusCode >= 300) throw apiError(response.statusCode, text, `${method} ${path}`);
    return { resourceVersion: answeredResourceVersion(text) };
  }

  /** Sends a request and decodes the JSON answer; non-2xx answers throw {@link KubeApiError}. */
  async request<T>(method: string, path: string, options: RequestOptions): Promise<T> {
    const response = await this.#send(method, path, options, false);
    const text = await readText(response.body);
    if (response.statusCode >= 300) throw apiError(response.statusCode, text, `${method} ${path}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  get<T extends KubeObject>(type: ResourceType<T>, location: ObjectLocation, signal?: AbortSignal): Promise<T> {
    return this.request<T>('GET', resourcePath(type, location), {
      verb: 'get',
      resource: type.plural,
      subresource: location.subresource,
      signal,
    });
  }

  list<T extends KubeObject>(type: ResourceType<T>, options: ListOptions = {}): Promise<KubeList<T>> {
    return this.request<KubeList<T>>('GET', resourcePath(type, { namespace: options.namespace }), {
      verb: 'list',
      resource: type.plural,
      signal: options.signal,
      query: {
        labelSelector: options.labelSelector,
        fieldSelector: options.fieldSelector,
        limit: options.limit,
        continue: options.continue,
        resourceVersion: options.resourceVersion,
        resourceVersionMatch: options.resourceVersionMatch,
      },
    });
  }

  create<T extends KubeObject>(
    type: ResourceType<T>,
    object: T,
    options: CreateOptions & { answer: 'resourceVersion' },
  ): Promise<WrittenVersion>;
  create<T extends KubeObject>(
    type: ResourceType<T>,
    object: T,
    options: CreateOptions & { answer: 'metadata' },
  ): Promise<KubeObject>;
  create<T extends KubeObject>(type: ResourceType<T>, object: T, options?: CreateOptions): Promise<T>;
  create<T extends KubeObject>(
    type: ResourceType<T>,
    object: T,
    options: CreateOptions = {},
  ): Promise<T | KubeObject | WrittenVersion> {
    const namespace = options.namespace ?? object.metadata?.namespace;
    return this.#write<T>('POST', resourcePath(type, { namespace }), options.answer, {
      verb: 'create',
      resource: type.plural,
      body: object,
      signal: options.signal,
      ownBudget: options.ownBudget,
    });
  }

  /** POSTs to a subresource (`serviceaccounts/token`, `pods/eviction`…) and returns the answer. */
  createSubresource<R>(
    type: ResourceType,
    location: Required<Pick<ObjectLocation, 'name' | 'subresource'>> & ObjectLocation,
    body: unknown,
    signal?: AbortSignal,
  ): Promise<R> {
    return this.request<R>('POST', resourcePath(type, location), {
      verb: 'create',
      resource: type.plural,
      subresource: location.subresource,
      body,
      signal,
    });
  }

  /** PUTs the whole object (optimistic concurrency through `metadata.resourceVersion`). */
  replace<T extends KubeObject>(
    type: ResourceType<T>,
    object: T,
    options: { subresource?: string; signal?: AbortSignal } = {},
  ): Promise<T> {
    const location = {
      namespace: object.metadata?.namespace,
      name: object.metadata?.name ?? '',
      subresource: options.subresource,
    };
    return this.request<T>('PUT', resourcePath(type, location), {
      verb: 'update',
      resource: type.plural,
      subresource: options.subresource,
      body: object,
      signal: options.signal,
    });
  }

  patch<T extends KubeObject>(
    type: ResourceType<T>,
    location: ObjectLocation & { name: string },
    patch: unknown,
    patchType: PatchType,
    options: PatchOptions & { answer: 'resourceVersion' },
  ): Promise<WrittenVersion>;
  patch<T extends KubeObject>(
    type: ResourceType<T>,
    location: ObjectLocation & { name: string },
    patch: unknown,
    patchType: PatchType,
    options: PatchOptions & { answer: 'metadata' },
  ): Promise<KubeObject>;
  patch<T extends KubeObject>(
    type: ResourceType<T>,
    location: ObjectLocation & { name: string },
    patch: unknown,
    patchType: PatchType,
    options?: PatchOptions,
  ): Promise<T>;
  patch<T extends KubeObject>(
    type: ResourceType<T>,
    location: ObjectLocation & { name: string },
    patch: unknown,
    patchType: PatchType,
    options: PatchOptions = {},
  ): Promise<T | KubeObject | WrittenVersion> {
    return this.#write<T>('PATCH', resourcePath(type, location), options.answer, {
      verb: 'patch',
      resource: type.plural,
      subresource: location.subresource,
      body: patch,
      contentType: PATCH_CONTENT_TYPES[patchType],
      signal: options.signal,
      ownBudget: options.ownBudget,
      query: { fieldManager: options.fieldManager, force: options.force },
    });
  }

  delete<T extends KubeObject>(
    type: ResourceType<T>,
    location: ObjectLocation & { name: string },
    options: DeleteOptions = {},
  ): Promise<T | KubeObject | KubeStatus> {
    const body: Record<string, unknown> = { apiVersion: 'v1', kind: 'DeleteOptions' };
    if (options.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = options.gracePeriodSeconds;
    if (options.preconditions) body.preconditions = options.preconditions;
    if (options.propagationPolicy) body.propagationPolicy = options.propagationPolicy;
    return this.request<T | KubeStatus>('DELETE', resourcePath(type, location), {
      ...(options.answer === 'metadata' ? { accept: METADATA_ANSWER } : {}),
      verb: 'delete',
      resource: type.plural,
      body,
      signal: options.signal,
    });
  }

  /**
   * Watches a collection. Yields events until the server ends the watch, the signal aborts
   * (then it returns quietly), or the server sends an error (then it throws {@link KubeApiError};
   * `isGone` tells a too-old resourceVersion apart).
   */
  async *watch<T extends KubeObject>(type: ResourceType<T>, options: WatchOptions = {}): AsyncGenerator<WatchEvent<T>> {
    const path = resourcePath(type, { namespace: options.namespace });
    const controller = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal;
    let response: TransportResponse;
    try {
      response = await this.#send(
        'GET',
        path,
        {
          verb: 'watch',
          resource: type.plural,
          signal,
          query: {
            watch: 1,
            labelSelector: options.labelSelector,
            fieldSelector: options.fieldSelector,
            resourceVersion: options.resourceVersion,
            allowWatchBookmarks: options.allowWatchBookmarks,
            timeoutSeconds: options.timeoutSeconds,
          },
        },
        true,
      );
    } catch (error) {
      if (options.signal?.aborted) return;
      throw error;
    }
    if (response.statusCode >= 300) {
      throw apiError(response.statusCode, await readText(response.body), `watch ${path}`);
    }
    try {
      for await (const line of watchLines(response.body)) yield watchEvent<T>(line);
    } catch (error) {
      if (options.signal?.aborted) return;
      throw error;
    } finally {
      controller.abort();
      response.body.destroy();
    }
  }
}

/** One line of a watch stream; an ERROR event is thrown as the API error it carries. */
function watchEvent<T extends KubeObject>(line: string): WatchEvent<T> {
  const event = JSON.parse(line) as { type: string; object: unknown };
  if (event.type === 'ERROR') {
    const status = event.object as KubeStatus;
    throw new KubeApiError(status.code ?? 500, status.reason ?? 'Unknown', status.message ?? 'watch error', status);
  }
  return event as WatchEvent<T>;
}

function apiError(statusCode: number, text: string, what: string): KubeApiError {
  let status: KubeStatus | undefined;
  try {
    const parsed = JSON.parse(text) as KubeStatus;
    if (parsed && parsed.kind === 'Status') status = parsed;
  } catch {
    // Not JSON: a proxy or a non-Kubernetes server answered.
  }
  const reason = status?.reason || defaultReason(statusCode);
  const message = status?.message || text.trim().slice(0, 300) || `${what}: HTTP ${statusCode}`;
  return new KubeApiError(statusCode, reason, message, status);
}

function defaultReason(statusCode: number): string {
  switch (statusCode) {
    case 400:
      return 'BadRequest';
    case 401:
      return 'Unauthorized';
    case 403:
      return 'Forbidden';
    case 404:
      return 'NotFound';
    case 409:
      return 'Conflict';
    case 410:
      return 'Expired';
    case 422:
      return 'Invalid';
    case 429:
      return 'TooManyRequests';
    default:
      return statusCode >= 500 ? 'InternalError' : 'Unknown';
  }
}

/** The delay a 429 (or a 5xx with Retry-After) asks for, or undefined when the answer is final. */
function retryAfterMs(statusCode: number, header: string | string[] | undefined): number | undefined {
  if (statusCode !== 429 && !(statusCode >= 500 && header !== undefined)) return undefined;
  const value = Array.isArray(header) ? header[0] : header;
  const seconds = value === undefined ? 1 : Number(value);
  return Number.isFinite(seconds) ? Math.min(Math.max(seconds, 0.1), 10) * 1000 : 1000;
}
