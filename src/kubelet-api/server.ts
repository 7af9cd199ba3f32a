/**
 * The kubelet HTTPS API on port 10250: what `kubectl logs/exec/attach/cp/port-forward/top`
 * reach through the API server, and what metrics-server scrapes.
 *
 * Every request — plain or upgrading, to a route that exists or not — is authenticated (client
 * certificate or bearer token) and authorized (SubjectAccessReview on nodes/<subresource>) before
 * anything else happens, as the kubelet does: a caller without credentials gets 401 whatever the
 * path, so it learns nothing about routes. Probes without credentials use the separate health
 * port (`--healthz-port`, see cli/health.ts). Errors are one line of text with the kubelet's status codes:
 * 400 bad parameters, 401/403 auth, 404 unknown pod or container, 501 a capability the provider
 * does not have. Nothing a client sends can crash the process.
 */
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { Duplex, Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { Logger } from 'pino';
import {
  errorMessage,
  InvalidInputError,
  isInvalidInput,
  isNotFound,
  isNotImplemented,
  NotFoundError,
  NotImplementedError,
} from '../errors.ts';
import { silentLogger } from '../log.ts';
import type { Provider } from '../provider/contracts.ts';
import type { Authenticator, UserInfo } from './auth/authenticator.ts';
import { type Authorizer, nodeRequestAttributes } from './auth/authorizer.ts';
import { parseLogOptions } from './logs.ts';
import { HttpError, matchRoute, type Route, requestTarget } from './routes.ts';
import type { KeyMaterial } from './serving-certificate.ts';
import { onlyCpuAndMemory, renderResourceMetrics } from './stats.ts';
import { parsePortForwardPorts, servePortForward } from './streaming/portforward/index.ts';
import { parseRemoteCommandQuery, serveRemoteCommand } from './streaming/remotecommand/index.ts';
import { isWebSocketRequest, rejectUpgrade } from './streaming/upgrade.ts';

export interface KubeletServerOptions {
  nodeName: string;
  provider: Provider;
  /** The API's view of a pod on this node (the pod controller's cache). */
  getPod: (namespace: string, name: string) => Pod | undefined;
  /** Every pod bound to this node, for `/pods`. */
  listPods: () => Pod[];
  keyPair: KeyMaterial;
  /** CA that verifies client certificates; without it only bearer tokens authenticate. */
  clientCA?: Buffer;
  authenticator: Authenticator;
  /** Without an authorizer every authenticated request is allowed (tests, or `--authorization-mode=AlwaysAllow`). */
  authorizer?: Authorizer;
  /** Idle timeout of exec/attach/port-forward sessions. Default 4 h, as the kubelet. */
  streamIdleTimeoutMs?: number;
  /** Time a client has to open all streams of a session. Default 30 s. */
  streamCreationTimeoutMs?: number;
  /** Prometheus text of the virtual kubelet's own metrics, served at `/metrics`. */
  metrics?: () => Promise<string>;
  logger?: Logger;
}

function statusOf(error: unknown): number {
  if (error instanceof HttpError) return error.status;
  if (isInvalidInput(error)) return 400;
  if (isNotFound(error)) return 404;
  if (isNotImplemented(error)) return 501;
  return 500;
}

/** A one-line message, safe to send (no newlines a client could inject). */
function oneLine(error: unknown): string {
  return errorMessage(error)
    .replace(/[\r\n]+/g, ' ')
    .slice(0, 1000);
}

export class KubeletServer {
  readonly #options: KubeletServerOptions;
  readonly #logger: Logger;
  readonly #server: Server;
  readonly #upgraded = new Set<Duplex>();
  readonly #stop = new AbortController();
  /** Requests served, by outcome, for tests and metrics. */
  /** Streaming sessions accepted, by protocol (exported as metrics). */
  readonly stats = { spdySessions: 0, webSocketSessions: 0 };

  constructor(options: KubeletServerOptions) {
    this.#options = options;
    this.#logger = options.logger ?? silentLogger();
    this.#server = createServer(this.#tlsOptions(options.keyPair));
    this.#server.on('request', (request, response) => {
      void this.#onRequest(request, response);
    });
    this.#server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      void this.#onUpgrade(request, socket, head);
    });
    // A client that sends garbage before HTTP gets a 400 and a closed socket, nothing more.
    this.#server.on('clientError', (error, socket) => {
      if (socket.writable) {
        const body = '400 Bad Request\n';
        socket.end(
          `HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
        );
      } else socket.destroy(error);
    });
    this.#server.on('tlsClientError', (error) => this.#logger.debug({ err: error.message }, 'TLS handshake failed'));
  }

  #tlsOptions(pair: KeyMaterial) {
    const clientCA = this.#options.clientCA;
    return {
      cert: pair.cert,
      key: pair.key,
      minVersion: 'TLSv1.2' as const,
      // HTTP/1.1 only: upgrades (SPDY, WebSocket) need it, and Go would pick h2 if offered.
      ALPNProtocols: ['http/1.1'],
      ...(clientCA ? { ca: clientCA, requestCert: true, rejectUnauthorized: false } : {}),
    };
  }

  /** Upgraded connections (exec, attach, port-forward sessions) open now. */
  get sessions(): number {
    return this.#upgraded.size;
  }

  /** TokenReviews and SubjectAccessReviews sent so far (the rest were answered from cache). */
  get reviews(): { tokenReviews: number; subjectAccessReviews: number } {
    return {
      tokenReviews: this.#options.authenticator.tokenReviews,
      subjectAccessReviews: this.#options.authorizer?.reviews ?? 0,
    };
  }

  /** Starts listening; resolves with the bound port. */
  listen(port: number, host?: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        const address = this.#server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  /** Serves a new certificate to new connections (rotation). */
  setKeyPair(pair: KeyMaterial): void {
    this.#server.setSecureContext(this.#tlsOptions(pair));
  }

  /** Stops accepting, ends every session. */
  async close(): Promise<void> {
    this.#stop.abort();
    for (const socket of this.#upgraded) socket.destroy();
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  async #authorize(request: IncomingMessage, pathname: string): Promise<UserInfo> {
    const authentication = await this.#options.authenticator.authenticate(request.socket as TLSSocket, request.headers);
    if (!authentication.user) {
      throw new HttpError(401, `Unauthorized: ${authentication.reason}`);
    }
    const user = authentication.user;
    const authorizer = this.#options.authorizer;
    if (!authorizer) return user;
    const attributes = nodeRequestAttributes(request.method ?? 'GET', pathname);
    const decision = await authorizer.authorize(user, attributes);
    if (!decision.allowed) {
      throw new HttpError(
        403,
        `Forbidden (user=${user.username}, verb=${attributes.verb}, resource=nodes, subresource=${decision.subresource})`,
      );
    }
    return user;
  }

  /** The pod and container a route names, or a 404. */
  #target(namespace: string, name: string, uid: string | undefined, container?: string): Pod {
    const pod = this.#options.getPod(namespace, name);
    if (!pod || (uid && pod.metadata?.uid !== uid)) throw new NotFoundError(`pod "${namespace}/${name}" not found`);
    if (container !== undefined) {
      const spec = pod.spec;
      const all = [...(spec?.containers ?? []), ...(spec?.initContainers ?? []), ...(spec?.ephemeralContainers ?? [])];
      if (!all.some((c) => c.name === container)) {
        throw new NotFoundError(`container "${container}" not found in pod "${namespace}/${name}"`);
      }
    }
    return pod;
  }

  #capability<K extends keyof Provider>(name: K, what: string): NonNullable<Provider[K]> {
    const method = this.#options.provider[name];
    if (typeof method !== 'function') throw new NotImplementedError(`the provider does not support ${what}`);
    return (method as (...args: never[]) => unknown).bind(this.#options.provider) as NonNullable<Provider[K]>;
  }

  async #onRequest(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const controller = new AbortController();
    response.on('close', () => controller.abort());
    try {
      const url = requestTarget(request.url ?? '/');
      // Who asks comes before what exists: an unauthenticated caller learns nothing about routes.
      await this.#authorize(request, url.pathname);
      const route = matchRoute(request.method ?? 'GET', url.pathname);
      const signal = AbortSignal.any([controller.signal, this.#stop.signal]);
      switch (route.kind) {
        case 'healthz':
          return send(response, 200, 'text/plain; charset=utf-8', 'ok');
        case 'pods':
          return await sendPodList(response, this.#options.listPods(), signal);
        case 'runningpods':
          return await sendPodList(response, await this.#options.provider.getPods({ signal }), signal);
        case 'stats': {
          const summary = await this.#capability('getStatsSummary', 'stats')({ signal });
          const trimmed = url.searchParams.get('only_cpu_and_memory') === 'true' ? onlyCpuAndMemory(summary) : summary;
          return sendJson(response, trimmed);
        }
        case 'metrics-resource': {
          const summary = await this.#capability('getStatsSummary', 'resource metrics')({ signal });
          return send(response, 200, 'text/plain; version=0.0.4; charset=utf-8', renderResourceMetrics(summary));
        }
        case 'metrics': {
          if (!this.#options.metrics) throw new NotImplementedError('metrics are not enabled');
          return send(response, 200, 'text/plain; version=0.0.4; charset=utf-8', await this.#options.metrics());
        }
        case 'logs':
          return await this.#serveLogs(route, url.searchParams, response, signal);
        case 'exec':
        case 'attach':
        case 'portforward':
          throw new HttpError(400, `${route.kind} needs a connection upgrade (SPDY/3.1 or WebSocket)`);
      }
    } catch (error) {
      const status = statusOf(error);
      if (status >= 500) {
        this.#logger.warn({ err: errorMessage(error), url: request.url }, 'kubelet API request failed');
      }
      if (response.headersSent) {
        response.destroy();
        return;
      }
      send(response, status, 'text/plain; charset=utf-8', `${oneLine(error)}\n`);
    }
  }

  async #serveLogs(
    route: Extract<Route, { kind: 'logs' }>,
    params: URLSearchParams,
    response: ServerResponse,
    signal: AbortSignal,
  ): Promise<void> {
    const logOptions = parseLogOptions(params);
    this.#target(route.namespace, route.pod, undefined, route.container);
    const getLogs = this.#capability('getContainerLogs', 'container logs');
    const stream: Readable = await getLogs(route.namespace, route.pod, route.container, logOptions, { signal });
    response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache' });
    response.flushHeaders();
    let remaining = logOptions.limitBytes ?? Number.POSITIVE_INFINITY;
    try {
      for await (const chunk of stream) {
        if (signal.aborted) break;
        let bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
        if (bytes.length > remaining) bytes = bytes.subarray(0, remaining);
        remaining -= bytes.length;
        // Written as it comes, so `kubectl logs -f` sees each line at once; wait when the client is slow.
        // A client gone while the response is backed up never drains: the signal (response closed) ends the wait.
        if (!response.write(bytes) && !(await drained(response, signal))) break;
        if (remaining <= 0) break;
      }
    } finally {
      stream.destroy();
      response.end();
    }
  }

  /** Upgrade requests: exec, attach, port-forward. Auth first; errors as plain HTTP before the 101. */
  async #onUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    socket.pause();
    try {
      const url = requestTarget(request.url ?? '/');
      await this.#authorize(request, url.pathname);
      const route = matchRoute(request.method ?? 'GET', url.pathname);
      if (route.kind !== 'exec' && route.kind !== 'attach' && route.kind !== 'portforward') {
        throw new HttpError(400, `${url.pathname} does not upgrade`);
      }
      this.#target(route.namespace, route.pod, route.uid, route.kind === 'portforward' ? undefined : route.container);
      if (isWebSocketRequest(request)) this.stats.webSocketSessions++;
      else this.stats.spdySessions++;
      this.#upgraded.add(socket);
      socket.once('close', () => this.#upgraded.delete(socket));
      // Unset timeouts take the streaming layer's defaults (4 h idle, as the kubelet; 30 s to create streams).
      const timeouts = {
        idleTimeoutMs: this.#options.streamIdleTimeoutMs,
        streamCreationTimeoutMs: this.#options.streamCreationTimeoutMs,
        logger: this.#logger,
      };
      if (route.kind === 'portforward') {
        const forward = this.#capability('portForward', 'port forwarding');
        const ports = parsePortForwardPorts(url.searchParams);
        socket.resume();
        servePortForward(request, socket, head, { ...timeouts, ports }, (port, stream, signal) =>
          forward(route.namespace, route.pod, port, stream, { signal }),
        );
        return;
      }
      const query = parseRemoteCommandQuery(url.searchParams);
      if (route.kind === 'exec') {
        const run = this.#capability('runInContainer', 'exec');
        if (query.command.length === 0) throw new InvalidInputError('command is required');
        socket.resume();
        serveRemoteCommand(request, socket, head, { ...timeouts, ...query }, (io, signal) =>
          run(route.namespace, route.pod, route.container, query.command, io, { signal }),
        );
      } else {
        const attach = this.#capability('attachToContainer', 'attach');
        socket.resume();
        serveRemoteCommand(request, socket, head, { ...timeouts, ...query }, (io, signal) =>
          attach(route.namespace, route.pod, route.container, io, { signal }),
        );
      }
    } catch (error) {
      const status = statusOf(error);
      if (status >= 500)
        this.#logger.warn({ err: errorMessage(error), url: request.url }, 'kubelet API upgrade failed');
      rejectUpgrade(socket, status, oneLine(error));
    }
  }
}

function send(response: ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  response.end(body);
}

function sendJson(response: ServerResponse, value: unknown): void {
  send(response, 200, 'application/json', JSON.stringify(value));
}

/** What a PodList is written in: pieces of about this many characters. */
const POD_LIST_PIECE = 64 * 1024;

/**
 * A PodList written a few pods at a time, as the socket takes them. One `JSON.stringify` of
 * 10 000 pods is a string of some 50 MB; a client polling `/runningpods/` every second (as the
 * benchmark's delete phase does) made that the process's peak memory.
 */
async function sendPodList(response: ServerResponse, pods: readonly Pod[], signal: AbortSignal): Promise<void> {
  response.writeHead(200, { 'content-type': 'application/json' });
  let piece = '{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[';
  for (let i = 0; i < pods.length; i++) {
    piece += (i === 0 ? '' : ',') + JSON.stringify(pods[i]);
    if (piece.length < POD_LIST_PIECE) continue;
    const more = response.write(piece);
    piece = '';
    if (!more && !(await drained(response, signal))) return;
  }
  response.end(`${piece}]}`);
}

/** Waits until `response` can take more; false if the signal ended the wait (the client is gone). */
function drained(response: ServerResponse, signal: AbortSignal): Promise<boolean> {
  return once(response, 'drain', { signal }).then(
    () => true,
    () => false,
  );
}
