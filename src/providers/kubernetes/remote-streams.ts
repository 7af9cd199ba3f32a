/**
 * `kubectl logs`, `exec`, `attach` and `port-forward` on a local pod, proxied to the remote API
 * server's `pods/log`, `pods/exec`, `pods/attach` and `pods/portforward`, with the remote
 * kubeconfig's credentials.
 *
 * Exec and attach speak the channel protocol over a WebSocket (`v5.channel.k8s.io`, else
 * `v4.channel.k8s.io`): each message is one channel byte and data — 0 stdin, 1 stdout, 2 stderr,
 * 3 the final Status (the exit code), 4 terminal sizes, and in v5 255 closes a channel (our stdin's
 * end). Port-forward opens one WebSocket per forwarded connection (`v4.channel.k8s.io`, the port in
 * `?ports=`): channel 0 carries the data both ways and 1 the remote's error text; the first message
 * on each from the server is the port number, which is not data.
 */

import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex, Readable } from 'node:stream';
import WebSocket, { type RawData } from 'ws';
import { errorMessage, InvalidInputError, KubeApiError, NotFoundError } from '../../errors.ts';
import { Credentials } from '../../kube/credentials.ts';
import type { ClusterConnection } from '../../kube/kubeconfig.ts';
import type { AttachIO, ContainerLogOptions } from '../../provider/index.ts';

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const STATUS = 3;
const RESIZE = 4;
const CLOSE = 255;
/** When a terminal size is sent again (see remoteCommand). */
const RESIZE_RESENDS_MS = [250, 1000, 3000];

/** What the remote said, as the error the kubelet API turns into the right answer (404, 400, 500). */
function remoteError(statusCode: number, body: string, what: string): Error {
  let message = body.trim().slice(0, 500) || `HTTP ${statusCode}`;
  let reason = '';
  try {
    const status = JSON.parse(body) as { message?: string; reason?: string };
    if (status.message) message = status.message;
    reason = status.reason ?? '';
  } catch {
    // not a Status
  }
  const text = `${what}: the remote cluster answered ${statusCode}: ${message}`;
  if (statusCode === 404) return new NotFoundError(text);
  if (statusCode === 400 || statusCode === 422) return new InvalidInputError(text);
  return new KubeApiError(statusCode, reason || 'InternalError', text);
}

/** The exit code in the Status the remote sends last on channel 3 (`NonZeroExitCode` carries it as a cause). */
export function exitCodeFromStatus(text: string): number {
  const status = JSON.parse(text) as {
    status?: string;
    message?: string;
    reason?: string;
    details?: { causes?: { reason?: string; message?: string }[] };
  };
  if (status.status === 'Success') return 0;
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  if (status.reason === 'NonZeroExitCode' && cause?.message !== undefined) return Number(cause.message);
  throw new Error(status.message ?? 'the remote command failed');
}

/** The query of `pods/log` for the options `kubectl logs` gave us. */
export function logQuery(container: string, options: ContainerLogOptions): URLSearchParams {
  const query = new URLSearchParams({ container });
  if (options.follow) query.set('follow', 'true');
  if (options.previous) query.set('previous', 'true');
  if (options.timestamps) query.set('timestamps', 'true');
  if (options.tailLines !== undefined) query.set('tailLines', String(options.tailLines));
  if (options.limitBytes !== undefined) query.set('limitBytes', String(options.limitBytes));
  if (options.sinceTime) query.set('sinceTime', options.sinceTime.toISOString().replace(/\.\d+Z$/, 'Z'));
  else if (options.sinceSeconds !== undefined) query.set('sinceSeconds', String(options.sinceSeconds));
  return query;
}

export class RemoteStreams {
  readonly #connection: ClusterConnection;
  readonly #credentials: Credentials;
  readonly #url: URL;

  constructor(connection: ClusterConnection) {
    this.#connection = connection;
    this.#credentials = new Credentials(connection);
    this.#url = new URL(connection.server);
  }

  #tls() {
    const c = this.#connection;
    return {
      ...(c.caData ? { ca: c.caData } : {}),
      ...(c.clientCertificateData ? { cert: c.clientCertificateData } : {}),
      ...(c.clientKeyData ? { key: c.clientKeyData } : {}),
      rejectUnauthorized: !c.insecureSkipTLSVerify,
      ...(c.tlsServerName ? { servername: c.tlsServerName } : {}),
    };
  }

  async #headers(): Promise<Record<string, string>> {
    const authorization = await this.#credentials.authorization();
    return authorization ? { authorization } : {};
  }

  #path(namespace: string, name: string, subresource: string, query: URLSearchParams): string {
    const base = this.#url.pathname.replace(/\/$/, '');
    return `${base}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}/${subresource}?${query}`;
  }

  /** The log stream of a remote container, with the options applied by the remote kubelet. */
  async logs(
    namespace: string,
    name: string,
    container: string,
    options: ContainerLogOptions,
    signal: AbortSignal,
  ): Promise<Readable> {
    const headers = await this.#headers();
    const path = this.#path(namespace, name, 'log', logQuery(container, options));
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpsRequest(
        { host: this.#url.hostname, port: this.#url.port || 443, path, method: 'GET', headers, signal, ...this.#tls() },
        resolve,
      );
      req.on('error', reject);
      req.end();
    });
    if (response.statusCode !== 200) {
      const chunks: Buffer[] = [];
      for await (const chunk of response) chunks.push(chunk as Buffer);
      throw remoteError(
        response.statusCode ?? 0,
        Buffer.concat(chunks).toString('utf8'),
        `logs of ${namespace}/${name}`,
      );
    }
    return response;
  }

  async #open(
    namespace: string,
    name: string,
    subresource: string,
    query: URLSearchParams,
    protocols: string[],
    signal: AbortSignal,
  ) {
    const headers = await this.#headers();
    const url = new URL(this.#path(namespace, name, subresource, query), this.#url);
    url.protocol = url.protocol === 'http:' ? 'ws:' : 'wss:';
    const socket = new WebSocket(url, protocols, { headers, handshakeTimeout: 30_000, ...this.#tls() });
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        socket.terminate();
        reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('open', () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
      socket.once('unexpected-response', (_request, response) => {
        signal.removeEventListener('abort', onAbort);
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          reject(
            remoteError(
              response.statusCode ?? 0,
              Buffer.concat(chunks).toString('utf8'),
              `${subresource} of ${namespace}/${name}`,
            ),
          ),
        );
      });
      socket.once('error', (error) => {
        signal.removeEventListener('abort', onAbort);
        reject(
          new Error(`${subresource} of ${namespace}/${name}: the remote cluster: ${errorMessage(error)}`, {
            cause: error,
          }),
        );
      });
    });
    return socket;
  }

  /** Exec (with `command`) or attach (without) in a remote container; resolves with the exit code. */
  async remoteCommand(
    namespace: string,
    name: string,
    container: string,
    command: string[] | undefined,
    io: AttachIO,
    signal: AbortSignal,
  ): Promise<number> {
    const query = new URLSearchParams({ container });
    for (const word of command ?? []) query.append('command', word);
    if (io.stdin) query.set('stdin', 'true');
    if (io.stdout) query.set('stdout', 'true');
    if (io.stderr && !io.tty) query.set('stderr', 'true');
    if (io.tty) query.set('tty', 'true');
    const subresource = command ? 'exec' : 'attach';
    // Sizes can come before the socket is open (kubectl sends the first at once): keep the latest.
    let size: Buffer | undefined;
    let sendSize: ((message: Buffer) => void) | undefined;
    if (io.tty) {
      io.onResize((next) => {
        size = Buffer.from(JSON.stringify({ Width: next.width, Height: next.height }));
        sendSize?.(size);
      });
    }
    const socket = await this.#open(
      namespace,
      name,
      subresource,
      query,
      ['v5.channel.k8s.io', 'v4.channel.k8s.io'],
      signal,
    );
    const v5 = socket.protocol === 'v5.channel.k8s.io';
    return new Promise<number>((resolve, reject) => {
      let exitCode: number | undefined;
      let failure: Error | undefined;
      const send = (channel: number, data: Buffer) => {
        if (socket.readyState === WebSocket.OPEN) socket.send(Buffer.concat([Buffer.from([channel]), data]));
      };
      const onStdin = (chunk: Buffer) => send(STDIN, Buffer.from(chunk));
      const onStdinEnd = () => {
        if (v5) send(CLOSE, Buffer.from([STDIN]));
      };
      const onAbort = () => socket.terminate();
      signal.addEventListener('abort', onAbort, { once: true });
      // A size that reaches the remote before its process runs can be lost there (the e2e saw a
      // shell with no size): each size goes again a little later, and the latest once the
      // process first writes, unless a newer size came meanwhile.
      const timers: NodeJS.Timeout[] = [];
      sendSize = (message) => {
        send(RESIZE, message);
        for (const delay of RESIZE_RESENDS_MS) {
          const timer = setTimeout(() => {
            if (size === message) send(RESIZE, message);
          }, delay);
          timer.unref();
          timers.push(timer);
        }
      };
      socket.once('close', () => {
        for (const timer of timers) clearTimeout(timer);
      });
      if (size) sendSize(size);
      let resent = false;
      const resendOnce = () => {
        if (resent || !size) return;
        resent = true;
        send(RESIZE, size);
      };
      io.stdin?.on('data', onStdin);
      io.stdin?.once('end', onStdinEnd);
      socket.on('message', (message: RawData) => {
        const data = Buffer.isBuffer(message) ? message : Buffer.from(message as ArrayBuffer);
        if (data.length === 0) return;
        const payload = data.subarray(1);
        switch (data[0]) {
          case STDOUT:
            if (io.tty) resendOnce();
            io.stdout?.write(payload);
            break;
          case STDERR:
            (io.stderr ?? io.stdout)?.write(payload);
            break;
          case STATUS:
            try {
              exitCode = exitCodeFromStatus(payload.toString('utf8'));
            } catch (error) {
              failure = error as Error;
            }
            break;
        }
      });
      socket.once('close', () => {
        signal.removeEventListener('abort', onAbort);
        io.stdin?.removeListener('data', onStdin);
        io.stdin?.removeListener('end', onStdinEnd);
        if (failure) reject(failure);
        else if (signal.aborted) reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
        else resolve(exitCode ?? 0);
      });
      socket.once('error', (error) => {
        failure ??= new Error(`${subresource} of ${namespace}/${name}: ${errorMessage(error)}`, { cause: error });
      });
    });
  }

  /** One forwarded connection to a remote pod's port. */
  async portForward(namespace: string, name: string, port: number, stream: Duplex, signal: AbortSignal): Promise<void> {
    const query = new URLSearchParams({ ports: String(port) });
    const socket = await this.#open(namespace, name, 'portforward', query, ['v4.channel.k8s.io'], signal);
    await new Promise<void>((resolve, reject) => {
      // The first message on each channel is the port number (not data).
      const prefixSeen = [false, false];
      let remoteError = '';
      const onData = (chunk: Buffer) => {
        if (socket.readyState === WebSocket.OPEN) socket.send(Buffer.concat([Buffer.from([0]), chunk]));
      };
      const onEnd = () => socket.close();
      const onAbort = () => socket.terminate();
      signal.addEventListener('abort', onAbort, { once: true });
      stream.on('data', onData);
      stream.once('end', onEnd);
      stream.once('close', onEnd);
      socket.on('message', (message: RawData) => {
        const data = Buffer.isBuffer(message) ? message : Buffer.from(message as ArrayBuffer);
        const channel = data[0];
        if (channel !== 0 && channel !== 1) return;
        let payload = data.subarray(1);
        if (!prefixSeen[channel]) {
          prefixSeen[channel] = true;
          payload = payload.subarray(2);
        }
        if (payload.length === 0) return;
        if (channel === 0) stream.write(payload);
        else remoteError += payload.toString('utf8');
      });
      socket.once('close', () => {
        signal.removeEventListener('abort', onAbort);
        stream.removeListener('data', onData);
        stream.removeListener('end', onEnd);
        stream.removeListener('close', onEnd);
        if (remoteError) reject(new Error(remoteError.trim()));
        else {
          stream.end();
          resolve();
        }
      });
      socket.once('error', (error) => reject(error));
    });
  }
}
